/*
 * CSV export files (RFC 4180, as PostgreSQL's COPY ... CSV writes them): a
 * header row of the column names, then one record per row; a field is
 * quoted when it holds a comma, a double quote (doubled) or a line end, or
 * is an empty string; NULL is an empty unquoted field.
 */
#include "archive_impl.h"

#include <string.h>

#include "core/alloc.h"

void dm_arch_csv_field(dm_buf *b, const char *v)
{
    if (!v)
        return;
    if (*v && !v[strcspn(v, ",\"\r\n")]) {
        dm_buf_puts(b, v);
        return;
    }
    dm_buf_putc(b, '"');
    for (const char *p = v; *p; p++) {
        if (*p == '"')
            dm_buf_putc(b, '"');
        dm_buf_putc(b, *p);
    }
    dm_buf_putc(b, '"');
}

/* The field at text[*i] (NULL for an empty unquoted one) into *out; *i
 * after it (at the comma or the end). DBMGMT_ERR_PARSE, NOMEM. */
static int csv_field(const char *text, size_t len, size_t *i, char **out)
{
    *out = NULL;
    size_t at = *i;
    if (at < len && text[at] == '"') {
        dm_buf v = DM_BUF_INIT;
        dm_buf_puts(&v, ""); /* an empty string, not NULL */
        for (at++;; at++) {
            if (at == len) {
                dm_buf_free(&v);
                return DBMGMT_ERR_PARSE; /* never closed */
            }
            if (text[at] == '"') {
                if (at + 1 < len && text[at + 1] == '"') {
                    dm_buf_putc(&v, '"');
                    at++;
                    continue;
                }
                at++;
                break;
            }
            dm_buf_putc(&v, text[at]);
        }
        if (at < len && text[at] != ',') {
            dm_buf_free(&v);
            return DBMGMT_ERR_PARSE; /* text after the closing quote */
        }
        *i = at;
        if (dm_buf_failed(&v))
            return DBMGMT_ERR_NOMEM;
        *out = dm_buf_detach(&v);
        return *out ? DBMGMT_OK : DBMGMT_ERR_NOMEM;
    }
    size_t end = at;
    while (end < len && text[end] != ',') {
        if (text[end] == '"')
            return DBMGMT_ERR_PARSE; /* a quote inside an unquoted field */
        end++;
    }
    *i = end;
    if (end == at)
        return DBMGMT_OK; /* NULL */
    *out = dm_strndup(text + at, end - at);
    return *out ? DBMGMT_OK : DBMGMT_ERR_NOMEM;
}

int dm_arch_csv_parse(dm_arch_line *row, const dm_arch_line *header, const char *text,
                      size_t len, dm_error *err, const char *file, int64_t lineno)
{
    dm_arch_line_reset(row);
    size_t i = 0;
    int rc = DBMGMT_OK;
    for (int32_t field = 0; rc == DBMGMT_OK; field++) {
        char *value = NULL, *name = NULL;
        size_t at = i;
        rc = csv_field(text, len, &i, &value);
        if (rc == DBMGMT_ERR_PARSE)
            return dm_error_set(err, rc, "'%s' line %lld: not a CSV field (at byte %zu)", file,
                                (long long)lineno, at + 1);
        if (rc == DBMGMT_OK && !header && !value)
            return dm_error_set(err, DBMGMT_ERR_PARSE, "'%s' line %lld: header field %d is empty",
                                file, (long long)lineno, (int)field + 1);
        if (rc == DBMGMT_OK && header && field >= header->count) {
            dm_free(value);
            return dm_error_set(err, DBMGMT_ERR_PARSE,
                                "'%s' line %lld: more fields than the header's %d", file,
                                (long long)lineno, (int)header->count);
        }
        if (rc == DBMGMT_OK) {
            name = header ? dm_strdup(header->names[field]) : value;
            if (header && !name)
                rc = DBMGMT_ERR_NOMEM;
        }
        if (rc == DBMGMT_OK)
            rc = dm_arch_line_push(row, name, header ? value : NULL);
        if (rc != DBMGMT_OK) {
            if (name != value)
                dm_free(name);
            dm_free(value);
            break;
        }
        if (i == len)
            break;
        i++; /* the comma */
    }
    if (rc == DBMGMT_ERR_NOMEM)
        return dm_error_set(err, rc, "out of memory reading '%s'", file);
    if (header && row->count != header->count)
        return dm_error_set(err, DBMGMT_ERR_PARSE, "'%s' line %lld: %d fields, the header has %d",
                            file, (long long)lineno, (int)row->count, (int)header->count);
    return rc;
}
