/* SQLite facts the advisor needs and the driver's catalog does not carry
 * (issue 23): generated columns, which pragma_table_info leaves out, and
 * the statements of triggers, which EXPLAIN QUERY PLAN of the statement
 * that fires them does not show. Read through the connection's public
 * query API; they belong in the catalog (lib/drivers) once it has room. */
#include <string.h>

#include "advise_impl.h"
#include "core/alloc.h"
#include "sql/lexer.h"

int adv_sqlite_generated_columns(dbmgmt_conn *conn, dm_catalog *cat)
{
    size_t ntables = cat->ntables;
    for (size_t i = 0; i < ntables && !cat->failed; i++) {
        const char *params[1] = {cat->tables[i].name};
        dbmgmt_result *res = NULL;
        /* hidden 2 and 3: VIRTUAL and STORED generated columns */
        int rc = dbmgmt_conn_query(conn, &res,
                                   "SELECT name, lower(type), \"notnull\" FROM "
                                   "pragma_table_xinfo(?) WHERE hidden IN (2, 3) ORDER BY cid",
                                   1, params);
        if (rc == DBMGMT_ERR_NOMEM)
            return rc;
        if (rc != DBMGMT_OK)
            continue; /* a table SQLite cannot describe: advise without its columns */
        while ((rc = dbmgmt_result_next(res)) == 1) {
            const char *name = dbmgmt_result_text(res, 0), *type = dbmgmt_result_text(res, 1);
            if (name)
                dm_catalog_add_column(cat, &cat->tables[i], name, type ? type : "",
                                      dbmgmt_result_int64(res, 2) == 0, 0);
        }
        dbmgmt_result_free(res);
        if (rc == DBMGMT_ERR_NOMEM)
            return rc;
    }
    return cat->failed ? DBMGMT_ERR_NOMEM : DBMGMT_OK;
}

/* ---- trigger programs ----------------------------------------------------------- */

typedef struct trigger_tokens {
    dm_sql_token *v;
    size_t n;
} trigger_tokens;

static int lex_trigger(const char *sql, trigger_tokens *out)
{
    dm_sql_lexer lx;
    dm_sql_token tok;
    size_t cap = 0;
    dm_sql_lexer_init(&lx, DBMGMT_ENGINE_SQLITE, sql, strlen(sql), 0);
    int rc;
    while ((rc = dm_sql_lexer_next(&lx, &tok)) == 1) {
        if (out->n == cap) {
            cap = cap ? cap * 2 : 64;
            dm_sql_token *grown = dm_realloc(out->v, cap * sizeof *grown);
            if (!grown)
                return DBMGMT_ERR_NOMEM;
            out->v = grown;
        }
        out->v[out->n++] = tok;
    }
    return rc < 0 ? DBMGMT_ERR_PARSE : DBMGMT_OK;
}

static int is_op_token(const char *sql, const dm_sql_token *t, char op)
{
    return t->kind == DM_SQL_TOK_OPERATOR && t->len == 1 && sql[t->offset] == op;
}

/* The event of CREATE TRIGGER ... {INSERT | UPDATE [OF ...] | DELETE} ON
 * table ...: ADV_WRITE_*, and *on the index of that ON token. */
static int trigger_event(const char *sql, const trigger_tokens *tk, size_t *on)
{
    int kind = ADV_WRITE_NONE;
    for (size_t i = 0; i < tk->n; i++) {
        const dm_sql_token *t = &tk->v[i];
        if (dm_sql_token_is_word(sql, t, "ON")) {
            *on = i;
            return kind;
        }
        if (dm_sql_token_is_word(sql, t, "INSERT"))
            kind = ADV_WRITE_INSERT;
        else if (dm_sql_token_is_word(sql, t, "UPDATE"))
            kind = ADV_WRITE_UPDATE;
        else if (dm_sql_token_is_word(sql, t, "DELETE"))
            kind = ADV_WRITE_DELETE;
    }
    return ADV_WRITE_NONE;
}

/* tokens [b, e) of sql as a statement of its own: NEW.x and OLD.x become
 * ? (one value per row, as a bound parameter is). */
static int body_statement(const char *sql, const trigger_tokens *tk, size_t b, size_t e,
                          adv_statement_fn fn, void *userdata)
{
    dm_buf out = DM_BUF_INIT;
    size_t copied = tk->v[b].offset;
    for (size_t i = b; i < e; i++) {
        const dm_sql_token *t = &tk->v[i];
        int row_ref = dm_sql_token_is_word(sql, t, "NEW") || dm_sql_token_is_word(sql, t, "OLD");
        if (row_ref && i + 2 < e && is_op_token(sql, &tk->v[i + 1], '.') &&
            (tk->v[i + 2].kind == DM_SQL_TOK_IDENT || tk->v[i + 2].kind == DM_SQL_TOK_KEYWORD)) {
            dm_buf_append(&out, sql + copied, t->offset - copied);
            dm_buf_putc(&out, '?');
            copied = tk->v[i + 2].offset + tk->v[i + 2].len;
            i += 2;
        }
    }
    const dm_sql_token *last = &tk->v[e - 1];
    dm_buf_append(&out, sql + copied, last->offset + last->len - copied);
    int rc = dm_buf_failed(&out) ? DBMGMT_ERR_NOMEM : fn(userdata, out.data);
    dm_buf_free(&out);
    return rc;
}

/* Each statement between BEGIN and END of one CREATE TRIGGER firing on kind. */
static int trigger_body(const char *sql, int kind, adv_statement_fn fn, void *userdata)
{
    trigger_tokens tk = {NULL, 0};
    int rc = lex_trigger(sql, &tk);
    size_t on = 0;
    if (rc != DBMGMT_OK || trigger_event(sql, &tk, &on) != kind)
        goto out;
    size_t begin = on;
    while (begin < tk.n && !dm_sql_token_is_word(sql, &tk.v[begin], "BEGIN"))
        begin++;
    /* statements end at ';'; what follows the last one is END */
    for (size_t start = begin + 1, i = begin + 1; i < tk.n && rc == DBMGMT_OK; i++) {
        if (tk.v[i].kind != DM_SQL_TOK_SEMICOLON)
            continue;
        if (i > start)
            rc = body_statement(sql, &tk, start, i, fn, userdata);
        start = i + 1;
    }
out:
    dm_free(tk.v);
    return rc == DBMGMT_ERR_NOMEM ? rc : DBMGMT_OK;
}

int adv_sqlite_trigger_statements(dbmgmt_conn *conn, const char *table, int kind,
                                  adv_statement_fn fn, void *userdata)
{
    const char *params[1] = {table};
    dbmgmt_result *res = NULL;
    int rc = dbmgmt_conn_query(conn, &res,
                               "SELECT sql FROM sqlite_schema WHERE type = 'trigger' "
                               "AND tbl_name = ? COLLATE NOCASE AND sql IS NOT NULL ORDER BY name",
                               1, params);
    if (rc != DBMGMT_OK) /* no triggers to read: advise on the statement alone */
        return rc == DBMGMT_ERR_NOMEM ? rc : DBMGMT_OK;
    int step;
    while (rc == DBMGMT_OK && (step = dbmgmt_result_next(res)) != 0) {
        const char *sql = dbmgmt_result_text(res, 0);
        if (step < 0)
            rc = step == DBMGMT_ERR_NOMEM ? step : DBMGMT_ERR_INTERNAL;
        else if (sql)
            rc = trigger_body(sql, kind, fn, userdata);
    }
    dbmgmt_result_free(res);
    return rc == DBMGMT_ERR_NOMEM ? rc : DBMGMT_OK;
}
