import COpenSSL

/// The bare AEAD cost TLS records pay, for benchmarks: how fast OpenSSL seals and opens
/// records of a given size with AES-GCM on this machine, with no TLS framing around them.
public enum CipherSpeed {
    public enum Cipher: String, Sendable, CaseIterable {
        case aes128GCM = "AES-128-GCM"
        case aes256GCM = "AES-256-GCM"
    }

    /// Bytes per second of plaintext sealed then opened (one record each way per `recordBytes`),
    /// over `totalBytes`; the figure to compare a TLS connection's throughput with.
    public static func sealAndOpen(_ cipher: Cipher, recordBytes: Int = 16 * 1024, totalBytes: Int) -> Double {
        let evp = cipher == .aes128GCM ? EVP_aes_128_gcm() : EVP_aes_256_gcm()
        let key = [UInt8](repeating: 7, count: 32)
        let iv = [UInt8](repeating: 9, count: 12)
        let plaintext = [UInt8](repeating: 0x5a, count: recordBytes)
        var sealed = [UInt8](repeating: 0, count: recordBytes + 32)
        var opened = [UInt8](repeating: 0, count: recordBytes + 32)
        guard let sealer = EVP_CIPHER_CTX_new(), let opener = EVP_CIPHER_CTX_new() else { return 0 }
        defer {
            EVP_CIPHER_CTX_free(sealer)
            EVP_CIPHER_CTX_free(opener)
        }
        var outLength: Int32 = 0
        let records = max(1, totalBytes / recordBytes)
        let start = ContinuousClock.now
        for _ in 0..<records {
            // Per record, as TLS does: a fresh nonce, then the payload.
            EVP_EncryptInit_ex(sealer, evp, nil, key, iv)
            EVP_EncryptUpdate(sealer, &sealed, &outLength, plaintext, Int32(recordBytes))
            EVP_EncryptFinal_ex(sealer, &sealed[Int(outLength)], &outLength)
            EVP_DecryptInit_ex(opener, evp, nil, key, iv)
            EVP_DecryptUpdate(opener, &opened, &outLength, sealed, Int32(recordBytes))
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Double(records * recordBytes) / seconds
    }
}
