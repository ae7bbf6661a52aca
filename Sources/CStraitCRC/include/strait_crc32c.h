#ifndef STRAIT_CRC32C_H
#define STRAIT_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/// CRC-32C (Castagnoli), as used by Kafka record batches v2.
/// `crc` is the running value: pass 0 for a fresh checksum, or a previous result to continue.
/// Uses the SSE4.2 crc32 instruction when the CPU has it, a slicing-by-8 table otherwise.
uint32_t strait_crc32c(uint32_t crc, const void *data, size_t length);

/// The portable table implementation, exposed so tests and benchmarks can compare both paths.
uint32_t strait_crc32c_table(uint32_t crc, const void *data, size_t length);

/// 1 when strait_crc32c uses the hardware instruction.
int strait_crc32c_hardware_available(void);

#endif
