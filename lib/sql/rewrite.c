/*
 * PostgreSQL placeholder rewrite: `?` -> $1, $2, ... (used by the PostgreSQL
 * driver, whose public API takes `?` placeholders like the other engines).
 */
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "sql/lexer.h"
#include "sql/split.h"

/* Value of a $N placeholder, saturated at INT32_MAX. */
static int32_t dollar_number(const char *s, const dm_sql_token *tok)
{
    int64_t v = 0;
    for (size_t i = 0; i < tok->value_len; i++) {
        v = v * 10 + (s[tok->value_offset + i] - '0');
        if (v > INT32_MAX)
            return INT32_MAX;
    }
    return (int32_t)v;
}

int dm_sql_rewrite_placeholders(const char *sql, size_t len, char **out, int32_t *nparams,
                                dm_error *err)
{
    int single;
    return dm_sql_rewrite_placeholders_single(sql, len, out, nparams, &single, err);
}

int dm_sql_rewrite_placeholders_single(const char *sql, size_t len, char **out,
                                       int32_t *nparams, int *single, dm_error *err)
{
    int ended = 0; /* a ';' was seen: another token after it is a second statement */
    *single = 1;
    dm_sql_lexer lx;
    dm_sql_token tok;
    dm_buf buf = DM_BUF_INIT;
    int32_t questions = 0, highest_dollar = 0;
    size_t copied = 0;
    int rc;
    if (!out || !nparams || (!sql && len))
        return dm_error_invalid("dm_sql_rewrite_placeholders", "NULL argument");
    *out = NULL;
    *nparams = 0;
    if (!sql)
        sql = "";
    dm_sql_lexer_init(&lx, DBMGMT_ENGINE_POSTGRES, sql, len, 0);
    dm_buf_reserve(&buf, len + 16);
    while ((rc = dm_sql_lexer_next(&lx, &tok)) == 1) {
        if (tok.kind == DM_SQL_TOK_SEMICOLON)
            ended = 1;
        else if (ended)
            *single = 0;
        int is_question = tok.kind == DM_SQL_TOK_PLACEHOLDER && sql[tok.offset] == '?';
        int is_escaped = tok.kind == DM_SQL_TOK_OPERATOR && tok.len == 2 &&
                         memcmp(sql + tok.offset, "??", 2) == 0;
        if (tok.kind == DM_SQL_TOK_PLACEHOLDER && !is_question) {
            int32_t v = dollar_number(sql, &tok);
            if (v > highest_dollar)
                highest_dollar = v;
        }
        if (!is_question && !is_escaped)
            continue;
        dm_buf_append(&buf, sql + copied, tok.offset - copied);
        if (is_question) {
            if (questions == INT32_MAX) {
                rc = dm_error_set(err, DBMGMT_ERR_PARSE, "too many placeholders");
                goto fail;
            }
            dm_buf_printf(&buf, "$%d", (int)++questions);
        } else {
            dm_buf_putc(&buf, '?');
        }
        copied = tok.offset + tok.len;
    }
    if (rc < 0) {
        rc = dm_sql_error_set(err, sql, len, &lx.error);
        goto fail;
    }
    if (questions && highest_dollar) {
        rc = dm_error_set(err, DBMGMT_ERR_PARSE, "SQL mixes ? and $n placeholders");
        goto fail;
    }
    dm_buf_append(&buf, sql + copied, len - copied);
    if (dm_buf_failed(&buf)) {
        rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory rewriting placeholders");
        goto fail;
    }
    *out = dm_buf_detach(&buf);
    *nparams = questions ? questions : highest_dollar;
    return DBMGMT_OK;
fail:
    dm_buf_free(&buf);
    return rc;
}
