/* SHA-256 against the FIPS 180-4 (and NIST CAVS) example vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/sha256.h"

static void test_sha256_fips_abc(void **state)
{
    (void)state;
    char hex[65];
    dm_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_sha256_fips_two_block_message(void **state)
{
    (void)state;
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    char hex[65];
    dm_sha256_hex(m, strlen(m), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_sha256_fips_896_bit_message(void **state)
{
    (void)state;
    const char *m = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                    "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    char hex[65];
    dm_sha256_hex(m, strlen(m), hex);
    assert_string_equal(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_sha256_empty_message(void **state)
{
    (void)state;
    char hex[65];
    dm_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_sha256_million_a_in_uneven_chunks(void **state)
{
    (void)state;
    char chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    dm_sha256 ctx;
    dm_sha256_init(&ctx);
    size_t left = 1000000, step = 1;
    while (left) { /* chunk sizes 1, 2, ... exercise every block boundary */
        size_t n = step < left ? step : left;
        dm_sha256_update(&ctx, chunk, n);
        left -= n;
        step = step % 997 + 1;
    }
    uint8_t digest[32];
    dm_sha256_final(&ctx, digest);
    static const uint8_t expected[32] = {
        0xcd, 0xc7, 0x6e, 0x5c, 0x99, 0x14, 0xfb, 0x92, 0x81, 0xa1, 0xc7, 0xe2, 0x84, 0xd7, 0x3e, 0x67,
        0xf1, 0x80, 0x9a, 0x48, 0xa4, 0x97, 0x20, 0x0e, 0x04, 0x6d, 0x39, 0xcc, 0xc7, 0x11, 0x2c, 0xd0};
    assert_memory_equal(digest, expected, 32);
}

static void test_sha256_padding_edges_one_shot_and_split(void **state)
{
    (void)state;
    /* Lengths around the 55/56/64-byte padding boundaries; the message is
     * "abc...zabc..." and the digests come from a second implementation. */
    static const struct { size_t len; const char *hex; } cases[] = {
        {55, "595615dbe4f0f407ae397d08b4c2cb870cb9b0e11937416f950c5160acf9c005"},
        {56, "784f623b787495078e93ff28a25b581df0584055a7e71d8cd90c454716b92f51"},
        {57, "808f0738aa4401bdee842e5a15a7baad5809f976d8eb6f9bd2683cebd2e8d671"},
        {63, "5ca3e1ef5207490eac01a795e5cc94d59582a5118bf9534665c8668d87aa647c"},
        {64, "2fcd5a0d60e4c941381fcc4e00a4bf8be422c3ddfafb93c809e8d1e2bfffae8e"},
        {65, "1b3cd1877ab2f2f19f7be001722554f336cb799df0329de0bb4c118dc6abc06d"},
        {119, "faef67da856d6fd9c8d12f9ed0a4fefd3cf0ce085ab43e2907418d457e3c354b"},
        {120, "c9512b08619c19fbb503c7da6b46ef20301e5f7a7a5f43989182398536f5c5c8"},
        {128, "6c05be2c4268843ae47e68e611277ce62c02153f2f4d2e1e2a1a4b44f766cf74"},
    };
    char msg[130];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (char)('a' + (char)(i % 26));
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char hex[65];
        dm_sha256_hex(msg, cases[c].len, hex);
        assert_string_equal(hex, cases[c].hex);
        for (size_t split = 0; split <= cases[c].len; split++) { /* every split point */
            dm_sha256 ctx;
            uint8_t d[32];
            dm_sha256_init(&ctx);
            dm_sha256_update(&ctx, msg, split);
            dm_sha256_update(&ctx, msg + split, cases[c].len - split);
            dm_sha256_final(&ctx, d);
            for (int k = 0; k < 32; k++) {
                hex[2 * k] = "0123456789abcdef"[d[k] >> 4];
                hex[2 * k + 1] = "0123456789abcdef"[d[k] & 15];
            }
            hex[64] = '\0';
            assert_string_equal(hex, cases[c].hex);
        }
    }
}

static void test_sha256_accelerated_and_portable_agree(void **state)
{
    (void)state;
    /* On CPUs with SHA extensions the main path uses them: both
     * implementations must agree on every length and content. */
    uint8_t buf[600];
    uint32_t seed = 12345;
    for (size_t len = 0; len < sizeof buf; len++) {
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = (uint8_t)(seed >> 16);
        }
        uint8_t a[32], b[32];
        dm_sha256 ctx;
        dm_sha256_init(&ctx);
        dm_sha256_update(&ctx, buf, len);
        dm_sha256_final(&ctx, a);
        dm_sha256_portable(buf, len, b);
        if (memcmp(a, b, 32) != 0)
            fail_msg("length %zu differs", len);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_fips_abc),
        cmocka_unit_test(test_sha256_fips_two_block_message),
        cmocka_unit_test(test_sha256_fips_896_bit_message),
        cmocka_unit_test(test_sha256_empty_message),
        cmocka_unit_test(test_sha256_million_a_in_uneven_chunks),
        cmocka_unit_test(test_sha256_padding_edges_one_shot_and_split),
        cmocka_unit_test(test_sha256_accelerated_and_portable_agree),
    };
    return cmocka_run_group_tests_name("core/sha256", tests, NULL, NULL);
}
