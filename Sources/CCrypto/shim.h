// The small slice of OpenSSL 3 libcrypto the Security module uses:
// HMAC, EVP digests, PKCS5_PBKDF2_HMAC and RAND_bytes.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
