/* Streaming JSON writer (RFC 8259). */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void dm_json_init(dm_json *j, dm_buf *out)
{
    memset(j, 0, sizeof *j);
    j->out = out;
}

/* Writes the separator a new value needs at the current position. */
static void json_before_value(dm_json *j)
{
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (j->depth > 0) {
        if (j->has_items[j->depth - 1])
            dm_buf_putc(j->out, ',');
        j->has_items[j->depth - 1] = 1;
    }
}

static void json_open(dm_json *j, char c)
{
    json_before_value(j);
    if (j->depth >= DM_JSON_MAX_DEPTH) {
        j->failed = 1;
        return;
    }
    j->has_items[j->depth++] = 0;
    dm_buf_putc(j->out, c);
}

static void json_close(dm_json *j, char c)
{
    if (j->depth == 0 || j->after_key) {
        j->failed = 1;
        return;
    }
    j->depth--;
    dm_buf_putc(j->out, c);
}

void dm_json_object_begin(dm_json *j) { json_open(j, '{'); }
void dm_json_object_end(dm_json *j) { json_close(j, '}'); }
void dm_json_array_begin(dm_json *j) { json_open(j, '['); }
void dm_json_array_end(dm_json *j) { json_close(j, ']'); }

void dm_json_key(dm_json *j, const char *key)
{
    json_before_value(j);
    dm_json_escape(j->out, key, strlen(key));
    dm_buf_putc(j->out, ':');
    j->after_key = 1;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is invalid. */
static size_t utf8_sequence_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

void dm_json_escape(dm_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0;
    dm_buf_reserve(b, len + 2);
    dm_buf_putc(b, '"');
    while (i < len) {
        unsigned char c = p[i];
        size_t n = (c >= 0x20 && c != '"' && c != '\\') ? utf8_sequence_len(p + i, len - i) : 0;
        if (n) { /* plain bytes are copied in runs */
            i += n;
            run += n;
            continue;
        }
        dm_buf_append(b, p + i - run, run);
        run = 0;
        char esc[7];
        switch (c) {
        case '"': dm_buf_puts(b, "\\\""); break;
        case '\\': dm_buf_puts(b, "\\\\"); break;
        case '\n': dm_buf_puts(b, "\\n"); break;
        case '\r': dm_buf_puts(b, "\\r"); break;
        case '\t': dm_buf_puts(b, "\\t"); break;
        case '\b': dm_buf_puts(b, "\\b"); break;
        case '\f': dm_buf_puts(b, "\\f"); break;
        default:
            if (c < 0x20) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                esc[6] = '\0';
                dm_buf_puts(b, esc);
            } else {
                dm_buf_puts(b, "\\ufffd"); /* invalid UTF-8 byte */
            }
        }
        i++;
    }
    dm_buf_append(b, p + i - run, run);
    dm_buf_putc(b, '"');
}

void dm_json_string_len(dm_json *j, const char *s, size_t len)
{
    json_before_value(j);
    if (!s)
        dm_buf_puts(j->out, "null");
    else
        dm_json_escape(j->out, s, len);
}

void dm_json_string(dm_json *j, const char *s)
{
    dm_json_string_len(j, s, s ? strlen(s) : 0);
}

void dm_json_int(dm_json *j, int64_t v)
{
    json_before_value(j);
    dm_buf_printf(j->out, "%lld", (long long)v);
}

void dm_json_double(dm_json *j, double v)
{
    json_before_value(j);
    if (!isfinite(v))
        dm_buf_puts(j->out, "null");
    else
        dm_buf_printf(j->out, "%.17g", v);
}

void dm_json_bool(dm_json *j, int v)
{
    json_before_value(j);
    dm_buf_puts(j->out, v ? "true" : "false");
}

void dm_json_null(dm_json *j)
{
    json_before_value(j);
    dm_buf_puts(j->out, "null");
}

int dm_json_failed(const dm_json *j)
{
    return j->failed || j->out->failed;
}
