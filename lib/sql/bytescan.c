/*
 * 64-byte block classification (see bytescan.h).
 *
 * The SIMD versions compare each 16/32-byte lane with every byte of the set
 * and collect the comparison results with movemask: a few instructions per
 * 64 bytes whatever the content, instead of a table look-up and a branch per
 * byte. AVX2 is compiled with a target attribute and chosen at run time, so
 * the library still runs on x86-64 CPUs without it; other CPUs use the
 * portable version.
 */
#include "sql/bytescan.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DM_SQL_BYTESCAN_X86 1
#include <immintrin.h>
#else
#define DM_SQL_BYTESCAN_X86 0
#endif

void dm_sql_byteset_init(dm_sql_byteset *set, const char *bytes)
{
    memset(set, 0, sizeof *set);
    for (const char *b = bytes; *b; b++)
        dm_sql_byteset_add(set, (unsigned char)*b);
}

int dm_sql_byteset_add(dm_sql_byteset *set, unsigned char byte)
{
    if (set->member[byte])
        return 1;
    if (set->count == DM_SQL_BYTESET_MAX)
        return 0;
    set->member[byte] = 1;
    set->bytes[set->count++] = byte;
    if (!set->high[byte >> 4]) { /* a new high nibble: the next bit */
        if (set->groups < 8)
            set->high[byte >> 4] = (unsigned char)(1u << set->groups);
        set->groups++;
    }
    set->low[byte & 15] |= set->high[byte >> 4];
    for (size_t k = set->count; k < DM_SQL_BYTESET_MAX; k++)
        set->bytes[k] = set->bytes[0];
    return 1;
}

static void block_scan_portable(const unsigned char *p, const dm_sql_byteset *set,
                                dm_sql_block_masks *out)
{
    dm_sql_block_masks m = {0, 0, 0, 0};
    for (unsigned k = 0; k < 64; k++) {
        m.stops |= (uint64_t)(set->member[p[k]] != 0) << k;
        m.newlines |= (uint64_t)(p[k] == '\n') << k;
        m.quotes |= (uint64_t)(p[k] == set->quote) << k;
        m.aux |= (uint64_t)(p[k] == set->aux[0] || p[k] == set->aux[1]) << k;
    }
    *out = m;
}

#if DM_SQL_BYTESCAN_X86

static uint64_t lane16_mask(__m128i v, const dm_sql_byteset *set)
{
    __m128i hit = _mm_cmpeq_epi8(v, _mm_set1_epi8((char)set->bytes[0]));
    for (size_t k = 1; k < set->count; k++)
        hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, _mm_set1_epi8((char)set->bytes[k])));
    return (uint64_t)(unsigned)_mm_movemask_epi8(hit);
}

static uint64_t lane16_equal(__m128i v, unsigned char byte)
{
    return (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8((char)byte)));
}

static void block_scan_sse2(const unsigned char *p, const dm_sql_byteset *set,
                            dm_sql_block_masks *out)
{
    dm_sql_block_masks m = {0, 0, 0, 0};
    for (unsigned k = 0; k < 4; k++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
        m.stops |= lane16_mask(v, set) << (16 * k);
        m.newlines |= lane16_equal(v, '\n') << (16 * k);
        m.quotes |= lane16_equal(v, set->quote) << (16 * k);
        m.aux |= (lane16_equal(v, set->aux[0]) | lane16_equal(v, set->aux[1])) << (16 * k);
    }
    *out = m;
}

/* The set's members among 32 bytes with two table look-ups (vpshufb) on
 * the low and high nibbles, instead of one compare per member. */
__attribute__((target("avx2"))) static uint64_t lane32_nibbles(__m256i v, __m256i low,
                                                               __m256i high)
{
    __m256i nibble = _mm256_set1_epi8(0x0f);
    __m256i lo = _mm256_shuffle_epi8(low, _mm256_and_si256(v, nibble));
    __m256i hi = _mm256_shuffle_epi8(high, _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble));
    __m256i none = _mm256_cmpeq_epi8(_mm256_and_si256(lo, hi), _mm256_setzero_si256());
    return ~(uint64_t)(uint32_t)_mm256_movemask_epi8(none) & 0xffffffffu;
}

__attribute__((target("avx2"))) static uint64_t lane32_mask(__m256i v,
                                                            const dm_sql_byteset *set)
{
    __m256i hit = _mm256_cmpeq_epi8(v, _mm256_set1_epi8((char)set->bytes[0]));
    for (size_t k = 1; k < set->count; k++)
        hit = _mm256_or_si256(hit, _mm256_cmpeq_epi8(v, _mm256_set1_epi8((char)set->bytes[k])));
    return (uint64_t)(uint32_t)_mm256_movemask_epi8(hit);
}

__attribute__((target("avx2"))) static uint64_t lane32_equal(__m256i v, unsigned char byte)
{
    return (uint64_t)(uint32_t)_mm256_movemask_epi8(
        _mm256_cmpeq_epi8(v, _mm256_set1_epi8((char)byte)));
}

__attribute__((target("avx2"))) static void
block_scan_avx2(const unsigned char *p, const dm_sql_byteset *set, dm_sql_block_masks *out)
{
    __m256i lo = _mm256_loadu_si256((const __m256i *)(const void *)p);
    __m256i hi = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
    if (set->groups <= 8) {
        __m128i low16 = _mm_loadu_si128((const __m128i *)(const void *)set->low);
        __m128i high16 = _mm_loadu_si128((const __m128i *)(const void *)set->high);
        __m256i low = _mm256_broadcastsi128_si256(low16);
        __m256i high = _mm256_broadcastsi128_si256(high16);
        out->stops = lane32_nibbles(lo, low, high) | lane32_nibbles(hi, low, high) << 32;
    } else {
        out->stops = lane32_mask(lo, set) | lane32_mask(hi, set) << 32;
    }
    out->newlines = lane32_equal(lo, '\n') | lane32_equal(hi, '\n') << 32;
    out->quotes = lane32_equal(lo, set->quote) | lane32_equal(hi, set->quote) << 32;
    out->aux = (lane32_equal(lo, set->aux[0]) | lane32_equal(lo, set->aux[1])) |
               (lane32_equal(hi, set->aux[0]) | lane32_equal(hi, set->aux[1])) << 32;
}

#endif

dm_sql_block_scan_fn dm_sql_block_scanner(void)
{
#if DM_SQL_BYTESCAN_X86
    if (__builtin_cpu_supports("avx2"))
        return block_scan_avx2;
    return block_scan_sse2;
#else
    return block_scan_portable;
#endif
}

size_t dm_sql_block_scanners(dm_sql_block_scan_fn *fns, const char **names, size_t max)
{
    size_t count = 0;
#define DM_SQL_ADD_SCANNER(fn, name)                                                    \
    do {                                                                               \
        if (count < max) {                                                             \
            fns[count] = fn;                                                           \
            names[count] = name;                                                       \
        }                                                                              \
        count++;                                                                       \
    } while (0)
    DM_SQL_ADD_SCANNER(block_scan_portable, "portable");
#if DM_SQL_BYTESCAN_X86
    DM_SQL_ADD_SCANNER(block_scan_sse2, "sse2");
    if (__builtin_cpu_supports("avx2"))
        DM_SQL_ADD_SCANNER(block_scan_avx2, "avx2");
#endif
#undef DM_SQL_ADD_SCANNER
    return count;
}
