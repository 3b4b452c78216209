/*
 * The Prometheus text exposition's format (0.0.4): numbers, label values and
 * family headers, as prom_text.h says.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom_text.h"

/* ---- the text format ------------------------------------------------------- */

/* A sample value as Prometheus parses it: NaN, +Inf, -Inf; an integral value
 * without exponent or fraction; else the shortest of %.15g/%.17g that reads
 * back exactly. A decimal comma (a caller's LC_NUMERIC) becomes a point. */
void dm_prom_number(dm_buf *b, double v)
{
    char s[64];
    if (isnan(v)) {
        dm_buf_puts(b, "NaN");
        return;
    }
    if (isinf(v)) {
        dm_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 9007199254740992.0) { /* 2^53: exact */
        dm_buf_printf(b, "%.0f", v == 0 ? 0.0 : v);       /* no "-0" */
        return;
    }
    snprintf(s, sizeof s, "%.15g", v);
    for (char *p = s; *p; p++)
        if (*p == ',')
            *p = '.';
    if (strtod(s, NULL) != v) {
        snprintf(s, sizeof s, "%.17g", v);
        for (char *p = s; *p; p++)
            if (*p == ',')
                *p = '.';
    }
    dm_buf_puts(b, s);
}

/* The length of the valid UTF-8 sequence at p (1..4), or 0 when it is not
 * one (stray continuation byte, overlong form, surrogate, past U+10FFFF). */
static size_t utf8_length(const unsigned char *p)
{
    size_t n = p[0] < 0x80 ? 1 : (p[0] & 0xE0) == 0xC0 ? 2 : (p[0] & 0xF0) == 0xE0 ? 3
             : (p[0] & 0xF8) == 0xF0 ? 4 : 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if ((n == 2 && p[0] < 0xC2) || (n == 3 && p[0] == 0xE0 && p[1] < 0xA0) ||
        (n == 3 && p[0] == 0xED && p[1] >= 0xA0) || (n == 4 && p[0] == 0xF0 && p[1] < 0x90) ||
        (n == 4 && (p[0] > 0xF4 || (p[0] == 0xF4 && p[1] >= 0x90))))
        return 0;
    return n;
}

/* A label value between double quotes: backslash, double quote and newline
 * escaped as the format says; a byte that is not valid UTF-8 (which would
 * make Prometheus reject the whole scrape) becomes U+FFFD. */
void dm_prom_label_value(dm_buf *b, const char *v)
{
    dm_buf_putc(b, '"');
    const unsigned char *p = (const unsigned char *)(v ? v : "");
    while (*p) {
        size_t n = utf8_length(p);
        if (*p == '\\')
            dm_buf_puts(b, "\\\\");
        else if (*p == '"')
            dm_buf_puts(b, "\\\"");
        else if (*p == '\n')
            dm_buf_puts(b, "\\n");
        else if (n == 0)
            dm_buf_puts(b, "\xEF\xBF\xBD");
        else
            dm_buf_append(b, p, n);
        p += n ? n : 1;
    }
    dm_buf_putc(b, '"');
}

void dm_prom_family(dm_buf *b, const char *name, const char *type, const char *help)
{
    dm_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}
