/*
 * libFuzzer target for the JSON writer's string escaping (lib/core/json.c).
 * The input is written as a JSON string with dm_json_escape (and as an
 * array value through the writer), then read back with a strict JSON string
 * parser (RFC 8259 §7: escapes, \uXXXX, surrogate pairs, UTF-8 text).
 * Checks, for any input:
 *  - the output is exactly one valid JSON string: quoted, no raw control
 *    character, only valid escapes, paired surrogates, valid UTF-8;
 *  - decoded, it equals the input when the input is valid UTF-8, and
 *    otherwise the input with each byte that does not start a valid UTF-8
 *    sequence replaced by U+FFFD (json.h);
 *  - the writer's `[value]` holds the same string.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "fuzz_common.h"

/* Length of the valid UTF-8 sequence at s (Unicode Table 3-7), or 0. */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c == 0xe0)
        n = 3, lo = 0xa0;
    else if (c == 0xed)
        n = 3, hi = 0x9f;
    else if (c >= 0xe1 && c <= 0xef)
        n = 3;
    else if (c == 0xf0)
        n = 4, lo = 0x90;
    else if (c == 0xf4)
        n = 4, hi = 0x8f;
    else if (c >= 0xf1 && c <= 0xf3)
        n = 4;
    else
        return 0;
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

static void put_utf8(dm_buf *b, uint32_t cp)
{
    if (cp < 0x80) {
        dm_buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        dm_buf_putc(b, (char)(0xc0 | cp >> 6));
        dm_buf_putc(b, (char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        dm_buf_putc(b, (char)(0xe0 | cp >> 12));
        dm_buf_putc(b, (char)(0x80 | (cp >> 6 & 0x3f)));
        dm_buf_putc(b, (char)(0x80 | (cp & 0x3f)));
    } else {
        dm_buf_putc(b, (char)(0xf0 | cp >> 18));
        dm_buf_putc(b, (char)(0x80 | (cp >> 12 & 0x3f)));
        dm_buf_putc(b, (char)(0x80 | (cp >> 6 & 0x3f)));
        dm_buf_putc(b, (char)(0x80 | (cp & 0x3f)));
    }
}

static uint32_t read_hex4(const char *s, size_t len, size_t at)
{
    uint32_t v = 0;
    CHECK(at + 4 <= len);
    for (size_t i = at; i < at + 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        CHECK(d >= 0);
        v = v * 16 + (uint32_t)d;
    }
    return v;
}

/* \uXXXX at s[*i] (after the backslash and 'u'), with its low surrogate. */
static uint32_t read_unicode_escape(const char *s, size_t len, size_t *i)
{
    uint32_t cp = read_hex4(s, len, *i);
    *i += 4;
    CHECK(cp < 0xdc00 || cp > 0xdfff); /* a lone low surrogate */
    if (cp >= 0xd800 && cp <= 0xdbff) {
        CHECK(*i + 6 <= len && s[*i] == '\\' && s[*i + 1] == 'u');
        uint32_t low = read_hex4(s, len, *i + 2);
        CHECK(low >= 0xdc00 && low <= 0xdfff);
        *i += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    }
    return cp;
}

/* Parse the JSON string at s[*i]; the decoded bytes go to out. */
static void parse_json_string(const char *s, size_t len, size_t *i, dm_buf *out)
{
    CHECK(*i < len && s[*i] == '"');
    ++*i;
    for (;;) {
        CHECK(*i < len);
        unsigned char c = (unsigned char)s[*i];
        if (c == '"') {
            ++*i;
            return;
        }
        CHECK(c >= 0x20); /* raw control characters are not JSON */
        if (c != '\\') {
            size_t n = utf8_len((const unsigned char *)s + *i, len - *i);
            CHECK(n > 0); /* JSON text is UTF-8 */
            dm_buf_append(out, s + *i, n);
            *i += n;
            continue;
        }
        CHECK(*i + 1 < len);
        char e = s[*i + 1];
        *i += 2;
        switch (e) {
        case '"': case '\\': case '/': dm_buf_putc(out, e); break;
        case 'b': dm_buf_putc(out, '\b'); break;
        case 'f': dm_buf_putc(out, '\f'); break;
        case 'n': dm_buf_putc(out, '\n'); break;
        case 'r': dm_buf_putc(out, '\r'); break;
        case 't': dm_buf_putc(out, '\t'); break;
        case 'u': put_utf8(out, read_unicode_escape(s, len, i)); break;
        default: CHECK(!"a valid JSON escape");
        }
    }
}

/* The input as json.h promises to write it: each invalid byte -> U+FFFD. */
static void expected_text(const uint8_t *data, size_t size, dm_buf *out, int *valid)
{
    *valid = 1;
    for (size_t i = 0; i < size;) {
        size_t n = utf8_len(data + i, size - i);
        if (n == 0) {
            *valid = 0;
            put_utf8(out, 0xfffd);
            i++;
        } else {
            dm_buf_append(out, data + i, n);
            i += n;
        }
    }
}

static void check_writer(const uint8_t *data, size_t size, const dm_buf *escaped)
{
    dm_buf b = DM_BUF_INIT;
    dm_json j;
    dm_json_init(&j, &b);
    dm_json_array_begin(&j);
    dm_json_string_len(&j, (const char *)data, size);
    dm_json_array_end(&j);
    CHECK(!dm_json_failed(&j) && b.len == escaped->len + 2);
    CHECK(b.data[0] == '[' && b.data[b.len - 1] == ']');
    CHECK(memcmp(b.data + 1, escaped->data, escaped->len) == 0);
    dm_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dm_buf escaped = DM_BUF_INIT, decoded = DM_BUF_INIT, want = DM_BUF_INIT;
    dm_json_escape(&escaped, (const char *)data, size);
    CHECK(!escaped.failed && escaped.len >= 2);
    size_t i = 0;
    parse_json_string(escaped.data, escaped.len, &i, &decoded);
    CHECK(i == escaped.len); /* one string and nothing after it */
    int valid;
    expected_text(data, size, &want, &valid);
    CHECK(decoded.len == want.len);
    CHECK(want.len == 0 || memcmp(decoded.data, want.data, want.len) == 0);
    if (valid)
        CHECK(decoded.len == size);
    check_writer(data, size, &escaped);
    dm_buf_free(&escaped);
    dm_buf_free(&decoded);
    dm_buf_free(&want);
    return 0;
}
