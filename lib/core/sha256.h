/* SHA-256 (FIPS 180-4). */
#ifndef DM_CORE_SHA256_H
#define DM_CORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct dm_sha256 {
    uint32_t state[8];
    uint64_t total_len;
    uint8_t block[64];
    size_t block_len;
} dm_sha256;

void dm_sha256_init(dm_sha256 *ctx);
void dm_sha256_update(dm_sha256 *ctx, const void *data, size_t len);
void dm_sha256_final(dm_sha256 *ctx, uint8_t digest[32]);
/* The portable implementation alone (no CPU extensions), so tests can
 * check the accelerated path against it. */
void dm_sha256_portable(const void *data, size_t len, uint8_t digest[32]);

/* dm_sha256_final as lowercase hex into hex[65] (NUL-terminated). */
void dm_sha256_final_hex(dm_sha256 *ctx, char hex[65]);
/* One call: lowercase hex of the digest into hex[65] (NUL-terminated). */
void dm_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
