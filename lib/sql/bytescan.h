/*
 * Block classification for the statement splitter's fast path (internal).
 *
 * A block scanner looks at 64 bytes at once and returns bitmasks: bit k of
 * stops is set when p[k] is one of the bytes of a dm_sql_byteset (the bytes
 * that can open a string, identifier or comment, or start the delimiter),
 * of newlines when p[k] is LF, of quotes when p[k] is the set's quote byte
 * and of aux when it is one of its two aux bytes. The splitter then jumps
 * from set bit to set bit instead of testing every byte, resolves whole
 * runs of quoted strings with bit arithmetic, and counts lines with
 * popcount. Implementations: AVX2 and SSE2 on x86-64 (chosen once per
 * split with the CPU's features), and a portable table-driven one; all give
 * the same masks (the fuzzer checks this).
 *
 * Reentrant; no global state.
 */
#ifndef DM_SQL_BYTESCAN_H
#define DM_SQL_BYTESCAN_H

#include <stddef.h>
#include <stdint.h>

#define DM_SQL_BYTESET_MAX 10

typedef struct dm_sql_byteset {
    unsigned char bytes[DM_SQL_BYTESET_MAX]; /* unused slots repeat bytes[0] */
    size_t count;                            /* 1 .. DM_SQL_BYTESET_MAX distinct bytes */
    unsigned char member[256];               /* nonzero for the bytes above */
    unsigned char quote;                     /* the quotes mask's byte */
    unsigned char aux[2];                    /* the aux mask's bytes */
    /* Nibble tables (AVX2): one bit per distinct high nibble g of the set;
     * low[l] has g's bit when the set holds (g << 4 | l), high[g] has it.
     * A byte b is in the set exactly when low[b & 15] & high[b >> 4]. */
    unsigned char low[16], high[16];
    unsigned groups; /* distinct high nibbles; more than 8: compare instead */
} dm_sql_byteset;

typedef struct dm_sql_block_masks {
    uint64_t stops;
    uint64_t newlines;
    uint64_t quotes;
    uint64_t aux;
} dm_sql_block_masks;

/* Classifies p[0 .. 64) (all 64 bytes must be readable) into *out (written
 * field by field: returning the struct by value made the caller reload it
 * through a failed store-to-load forward, 40% of a split's time). */
typedef void (*dm_sql_block_scan_fn)(const unsigned char *p, const dm_sql_byteset *set,
                                     dm_sql_block_masks *out);

/* Empties set, then adds bytes (a NUL-terminated list; duplicates are fine);
 * quote and both aux bytes are NUL until set. */
void dm_sql_byteset_init(dm_sql_byteset *set, const char *bytes);
/* Adds one byte; returns 0 when the set is full (DM_SQL_BYTESET_MAX). */
int dm_sql_byteset_add(dm_sql_byteset *set, unsigned char byte);

/* The fastest implementation this CPU runs. */
dm_sql_block_scan_fn dm_sql_block_scanner(void);

/* Every implementation this build has (for tests): fills up to max entries,
 * returns how many there are; names[i] says which is which. */
size_t dm_sql_block_scanners(dm_sql_block_scan_fn *fns, const char **names, size_t max);

#endif
