/*
 * Reading export files back: a line reader over zlib's gz stream (which
 * also reads plain files) and a parser for the flat JSON objects the
 * exporter writes — one object per line, string/number/true/false/null
 * members only.
 */
#include "archive_impl.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

void dm_arch_line_free(dm_arch_line *line)
{
    for (int32_t i = 0; i < line->count; i++) {
        dm_free(line->names[i]);
        dm_free(line->values[i]);
    }
    dm_free(line->names);
    dm_free(line->values);
    memset(line, 0, sizeof *line);
}

void dm_arch_line_reset(dm_arch_line *line)
{
    for (int32_t i = 0; i < line->count; i++) {
        dm_free(line->names[i]);
        dm_free(line->values[i]);
        line->names[i] = line->values[i] = NULL;
    }
    line->count = 0;
}

int dm_arch_line_push(dm_arch_line *line, char *name, char *value)
{
    if (line->count == line->cap) {
        int32_t cap = line->cap ? line->cap * 2 : 16;
        char **names = dm_realloc(line->names, (size_t)cap * sizeof *names);
        if (!names)
            return DBMGMT_ERR_NOMEM;
        line->names = names;
        char **values = dm_realloc(line->values, (size_t)cap * sizeof *values);
        if (!values)
            return DBMGMT_ERR_NOMEM;
        line->values = values;
        line->cap = cap;
    }
    line->names[line->count] = name;
    line->values[line->count++] = value;
    return DBMGMT_OK;
}

typedef struct json_cursor {
    const char *s;
    size_t i, n;
} json_cursor;

static void skip_ws(json_cursor *c)
{
    while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\r'))
        c->i++;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char ch = p[k];
        v <<= 4;
        if (ch >= '0' && ch <= '9')
            v |= (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            v |= (unsigned)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F')
            v |= (unsigned)(ch - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static void put_utf8(dm_buf *b, unsigned cp)
{
    if (cp < 0x80) {
        dm_buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        dm_buf_putc(b, (char)(0xC0 | (cp >> 6)));
        dm_buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        dm_buf_putc(b, (char)(0xE0 | (cp >> 12)));
        dm_buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        dm_buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else {
        dm_buf_putc(b, (char)(0xF0 | (cp >> 18)));
        dm_buf_putc(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
        dm_buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        dm_buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    }
}

/* An escape after the backslash at c->i; 0 or -1 when malformed. */
static int read_escape(json_cursor *c, dm_buf *b)
{
    char e = c->s[c->i++];
    const char *plain = "\"\\/bfnrt", *real = "\"\\/\b\f\n\r\t";
    const char *at = e ? strchr(plain, e) : NULL;
    if (at) {
        dm_buf_putc(b, real[at - plain]);
        return 0;
    }
    unsigned cp = 0, lo = 0;
    if (e != 'u' || c->i + 4 > c->n || hex4(c->s + c->i, &cp))
        return -1;
    c->i += 4;
    if (cp >= 0xD800 && cp < 0xDC00 && c->i + 6 <= c->n && c->s[c->i] == '\\' &&
        c->s[c->i + 1] == 'u' && !hex4(c->s + c->i + 2, &lo) && lo >= 0xDC00 && lo < 0xE000) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        c->i += 6;
    }
    put_utf8(b, cp);
    return 0;
}

/* A JSON string at c->i (on its opening quote) into a new C string. */
static int read_string(json_cursor *c, char **out)
{
    dm_buf b = DM_BUF_INIT;
    c->i++;
    while (c->i < c->n && c->s[c->i] != '"') {
        if (c->s[c->i] == '\\') {
            c->i++;
            if (c->i >= c->n || read_escape(c, &b) != 0) {
                dm_buf_free(&b);
                return DBMGMT_ERR_PARSE;
            }
        } else {
            dm_buf_putc(&b, c->s[c->i++]);
        }
    }
    if (c->i >= c->n) {
        dm_buf_free(&b);
        return DBMGMT_ERR_PARSE;
    }
    c->i++;
    if (dm_buf_failed(&b)) {
        dm_buf_free(&b);
        return DBMGMT_ERR_NOMEM;
    }
    *out = b.data ? dm_buf_detach(&b) : dm_strdup("");
    return *out ? DBMGMT_OK : DBMGMT_ERR_NOMEM;
}

/* A member value: string, number or literal (null leaves *out NULL). */
static int read_value(json_cursor *c, char **out)
{
    *out = NULL;
    if (c->i < c->n && c->s[c->i] == '"')
        return read_string(c, out);
    size_t start = c->i;
    while (c->i < c->n && strchr("+-.0123456789eEtruefalsn", c->s[c->i]))
        c->i++;
    size_t len = c->i - start;
    if (len == 4 && memcmp(c->s + start, "null", 4) == 0)
        return DBMGMT_OK;
    if (len == 0)
        return DBMGMT_ERR_PARSE;
    if (len == 4 && memcmp(c->s + start, "true", 4) == 0)
        *out = dm_strdup("1");
    else if (len == 5 && memcmp(c->s + start, "false", 5) == 0)
        *out = dm_strdup("0");
    else if (strchr("-0123456789", c->s[start]))
        *out = dm_strndup(c->s + start, len);
    else
        return DBMGMT_ERR_PARSE;
    return *out ? DBMGMT_OK : DBMGMT_ERR_NOMEM;
}

static int parse_members(dm_arch_line *line, json_cursor *c)
{
    skip_ws(c);
    if (c->i >= c->n || c->s[c->i++] != '{')
        return DBMGMT_ERR_PARSE;
    skip_ws(c);
    if (c->i < c->n && c->s[c->i] == '}') {
        c->i++;
        return DBMGMT_OK;
    }
    for (;;) {
        char *name = NULL, *value = NULL;
        skip_ws(c);
        if (c->i >= c->n || c->s[c->i] != '"')
            return DBMGMT_ERR_PARSE;
        int rc = read_string(c, &name);
        if (rc != DBMGMT_OK)
            return rc;
        skip_ws(c);
        if (c->i >= c->n || c->s[c->i++] != ':') {
            dm_free(name);
            return DBMGMT_ERR_PARSE;
        }
        skip_ws(c);
        rc = read_value(c, &value);
        if (rc == DBMGMT_OK)
            rc = dm_arch_line_push(line, name, value);
        if (rc != DBMGMT_OK) {
            dm_free(name);
            dm_free(value);
            return rc;
        }
        skip_ws(c);
        if (c->i < c->n && c->s[c->i] == ',') {
            c->i++;
            continue;
        }
        if (c->i < c->n && c->s[c->i] == '}') {
            c->i++;
            skip_ws(c);
            return c->i == c->n ? DBMGMT_OK : DBMGMT_ERR_PARSE;
        }
        return DBMGMT_ERR_PARSE;
    }
}

int dm_arch_line_parse(dm_arch_line *line, const char *text, size_t len, dm_error *err,
                       const char *file, int64_t lineno)
{
    dm_arch_line_reset(line);
    json_cursor c = {text, 0, len};
    int rc = parse_members(line, &c);
    if (rc == DBMGMT_ERR_NOMEM)
        return dm_error_set(err, rc, "out of memory reading '%s'", file);
    if (rc != DBMGMT_OK)
        return dm_error_set(err, DBMGMT_ERR_PARSE,
                            "'%s' line %lld: not a flat JSON object (at byte %zu)", file,
                            (long long)lineno, c.i + 1);
    return DBMGMT_OK;
}
