/*
 * libFuzzer target for the C rendering of `dbmgmt embed`
 * (dm_c_string_literal, lib/migrate/migrator.c). Checks, for any input:
 *  - the output is adjacent C string literals separated by white space,
 *    with no raw control byte, DEL or '?' (trigraphs) inside a literal;
 *  - decoded with C's rules (all simple escapes, greedy \x, 1-3 digit
 *    octal) and concatenated, the literals are exactly the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "migrate/migrator.h"
#include "fuzz_common.h"

static int octal(char c) { return c >= '0' && c <= '7'; }

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static char simple_escape(char c)
{
    static const char from[] = "\\\"'?abfnrtv", to[] = "\\\"'?\a\b\f\n\r\t\v";
    const char *p = c ? strchr(from, c) : NULL;
    CHECK(p != NULL); /* an escape C does not have */
    return to[p - from];
}

/* Decode one escape at s[*i] (after the backslash) into out. */
static void decode_escape(const char *s, size_t len, size_t *i, dm_buf *out)
{
    CHECK(*i < len);
    char c = s[*i];
    if (octal(c)) {
        unsigned v = 0;
        for (int k = 0; k < 3 && *i < len && octal(s[*i]); k++)
            v = v * 8 + (unsigned)(s[(*i)++] - '0');
        CHECK(v <= 0xff);
        dm_buf_putc(out, (char)v);
    } else if (c == 'x') {
        unsigned v = 0;
        int digits = 0;
        for (++*i; *i < len && hex_digit(s[*i]) >= 0; ++*i, digits++)
            v = v * 16 + (unsigned)hex_digit(s[*i]);
        CHECK(digits > 0 && digits <= 2); /* more: out of range for char */
        dm_buf_putc(out, (char)v);
    } else {
        dm_buf_putc(out, simple_escape(c));
        ++*i;
    }
}

static void decode_literals(const char *s, size_t len, dm_buf *out)
{
    size_t i = 0;
    int literals = 0;
    while (i < len) {
        if (s[i] == ' ' || s[i] == '\n') {
            i++;
            continue;
        }
        CHECK(s[i] == '"');
        literals++;
        for (i++;;) {
            CHECK(i < len); /* unterminated literal */
            unsigned char c = (unsigned char)s[i];
            if (c == '"')
                break;
            CHECK(c >= 0x20 && c != 0x7f && c != '?');
            if (c == '\\') {
                i++;
                decode_escape(s, len, &i, out);
            } else {
                dm_buf_putc(out, (char)c);
                i++;
            }
        }
        i++;
    }
    CHECK(literals >= 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dm_buf lit = DM_BUF_INIT, back = DM_BUF_INIT;
    dm_c_string_literal(&lit, (const char *)data, size);
    CHECK(!lit.failed);
    decode_literals(lit.data, lit.len, &back);
    CHECK(!back.failed && back.len == size);
    CHECK(size == 0 || memcmp(back.data, data, size) == 0);
    dm_buf_free(&lit);
    dm_buf_free(&back);
    return 0;
}
