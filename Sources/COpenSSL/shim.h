// The system OpenSSL 3 (Debian's libssl-dev), plus inline wrappers for the few macros the
// TLS module needs that Swift cannot import (function-like macros and composite constants).
#ifndef STRAIT_COPENSSL_SHIM_H
#define STRAIT_COPENSSL_SHIM_H

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>

static inline int strait_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

static inline int strait_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}

static inline int strait_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

static inline void strait_SSL_CTX_disable_renegotiation_and_compression(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
}

/// The server picks the cipher suite by its own preference order, not the client's.
static inline void strait_SSL_CTX_prefer_server_ciphers(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
}

/// RFC 2253 form (most specific RDN first, comma separated) that keeps UTF-8 as is, like
/// Java's X500Principal.getName(), which Kafka's principal mapping rules are written against.
static inline unsigned long strait_XN_FLAG_RFC2253_UTF8(void) {
    return XN_FLAG_RFC2253 & ~((unsigned long)ASN1_STRFLGS_ESC_MSB);
}

/// Retry flags a custom BIO sets and clears (macros in bio.h).
static inline void strait_BIO_set_retry_read(BIO *bio) { BIO_set_retry_read(bio); }
static inline void strait_BIO_clear_retry_flags(BIO *bio) { BIO_clear_retry_flags(bio); }

static inline int strait_TLS1_2_VERSION(void) { return TLS1_2_VERSION; }
static inline int strait_TLS1_3_VERSION(void) { return TLS1_3_VERSION; }

#endif
