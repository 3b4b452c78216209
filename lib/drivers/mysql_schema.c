/* MySQL / MariaDB catalog, table lookup, session state and index-advice
 * statistics (mysql_impl.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "mysql_impl.h"


typedef int (*catalog_row_fn)(dm_dstmt *s, dm_catalog *cat, void *state);

/* Run a catalog query and hand each row to fn. */
static int catalog_query(dm_dconn *c, const char *sql, dm_catalog *cat, catalog_row_fn fn,
                         void *state, dm_error *err, const char *context)
{
    dm_dstmt *s = NULL;
    int rc = dm_my_prepare(c, sql, 1, &s, err);
    if (rc == DBMGMT_OK)
        rc = dm_my_execute(s, err);
    while (rc == DBMGMT_OK && !cat->failed) {
        rc = dm_my_next(s, err);
        if (rc == 1)
            rc = fn(s, cat, state);
        else if (rc == 0)
            break;
    }
    dm_my_finalize(s);
    if (rc < 0 && err && context) {
        char msg[DM_ERRMSG_MAX], sqlstate[sizeof err->sqlstate];
        memcpy(sqlstate, err->sqlstate, sizeof sqlstate);
        snprintf(msg, sizeof msg, "%s", err->msg);
        return dm_error_set_sql(err, rc, sqlstate, "%s: %s", context, msg);
    }
    return rc < 0 ? rc : DBMGMT_OK;
}

static const char *text_or_empty(dm_dstmt *s, int32_t col)
{
    const char *t = dm_my_column_text(s, col);
    return t ? t : "";
}

/* The migration lock's table is the library's, created by the first
 * migrator before it plans: left in the catalog, it made an empty database
 * look "not empty but without history" to that very migrator, and would
 * carry a lock row into backups. Its columns and indexes are skipped with
 * it (they belong to no listed table). */
static int table_row(dm_dstmt *s, dm_catalog *cat, void *state)
{
    (void)state;
    const char *name = text_or_empty(s, 0);
    if (strcmp(name, MY_LOCK_TABLE) == 0)
        return DBMGMT_OK;
    int64_t rows = dm_my_column_is_null(s, 1) ? -1 : dm_my_column_int64(s, 1);
    dm_catalog_add_table(cat, name, rows);
    return DBMGMT_OK;
}

/* Rows arrive grouped by table: remember the last table looked up. */
static dm_cat_table *table_named(dm_catalog *cat, dm_cat_table **last, const char *name)
{
    if (!*last || strcmp((*last)->name, name) != 0)
        *last = dm_catalog_find_table(cat, name);
    return *last;
}

static int column_row(dm_dstmt *s, dm_catalog *cat, void *state)
{
    dm_cat_table *t = table_named(cat, state, text_or_empty(s, 0));
    if (t) /* views have columns too; they are not in the catalog */
        dm_catalog_add_column(cat, t, text_or_empty(s, 1), text_or_empty(s, 2),
                              strcmp(text_or_empty(s, 3), "YES") == 0,
                              (int)dm_my_column_int64(s, 4));
    return DBMGMT_OK;
}

/* Index usage counters from performance_schema, when it is on. */
typedef struct index_usage {
    char *table;
    char *index;
    int64_t count;
} index_usage;

typedef struct usage_list {
    index_usage *items;
    size_t n;
    int available; /* performance_schema answered */
    int failed;
} usage_list;

static int usage_row(dm_dstmt *s, dm_catalog *cat, void *state)
{
    (void)cat;
    usage_list *u = state;
    index_usage *grown = dm_realloc(u->items, (u->n + 1) * sizeof *grown);
    if (!grown) {
        u->failed = 1;
        return DBMGMT_ERR_NOMEM;
    }
    u->items = grown;
    index_usage *it = &grown[u->n];
    it->table = dm_strdup(text_or_empty(s, 0));
    it->index = dm_strdup(text_or_empty(s, 1));
    it->count = dm_my_column_int64(s, 2);
    u->n++;
    if (!it->table || !it->index) {
        u->failed = 1;
        return DBMGMT_ERR_NOMEM;
    }
    return DBMGMT_OK;
}

static void usage_free(usage_list *u)
{
    for (size_t i = 0; i < u->n; i++) {
        dm_free(u->items[i].table);
        dm_free(u->items[i].index);
    }
    dm_free(u->items);
}

static int64_t usage_of(const usage_list *u, const char *table, const char *index)
{
    if (!u->available)
        return -1;
    for (size_t i = 0; i < u->n; i++)
        if (strcmp(u->items[i].table, table) == 0 && strcmp(u->items[i].index, index) == 0)
            return u->items[i].count;
    return 0; /* instrumented, never used since the server started */
}

static int performance_schema_on(dm_dstmt *s, dm_catalog *cat, void *state)
{
    (void)cat;
    *(int *)state = dm_my_column_int64(s, 0) == 1;
    return DBMGMT_OK;
}

/* Missing privileges or an old server only cost the counters (-1). */
static int load_index_usage(dm_dconn *c, usage_list *u, dm_catalog *cat, dm_error *err)
{
    int on = 0;
    dm_error ignored;
    memset(u, 0, sizeof *u);
    if (catalog_query(c, "SELECT @@performance_schema", cat, performance_schema_on, &on,
                      &ignored, NULL) != DBMGMT_OK || !on)
        return DBMGMT_OK;
    int rc = catalog_query(c,
                           "SELECT OBJECT_NAME, INDEX_NAME, COUNT_STAR FROM "
                           "performance_schema.table_io_waits_summary_by_index_usage WHERE "
                           "OBJECT_SCHEMA = DATABASE() AND INDEX_NAME IS NOT NULL",
                           cat, usage_row, u, &ignored, NULL);
    if (u->failed)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading index usage");
    u->available = rc == DBMGMT_OK;
    return DBMGMT_OK;
}

typedef struct index_state {
    dm_cat_table *last_table;
    dm_cat_index *current;
    const usage_list *usage;
} index_state;

static int index_row(dm_dstmt *s, dm_catalog *cat, void *state)
{
    index_state *st = state;
    const char *table = text_or_empty(s, 0), *name = text_or_empty(s, 1);
    if (!table_named(cat, &st->last_table, table))
        return DBMGMT_OK;
    if (dm_my_column_int64(s, 3) == 1) { /* SEQ_IN_INDEX: a new index starts */
        int primary = strcmp(name, "PRIMARY") == 0;
        st->current = dm_catalog_add_index(cat, name, table, dm_my_column_int64(s, 2) == 0,
                                           primary, 0, usage_of(st->usage, table, name));
    }
    /* a functional key part (MySQL 8) has no column name */
    dm_catalog_index_add_column(cat, st->current, dm_my_column_text(s, 4));
    return DBMGMT_OK;
}

typedef struct fk_state {
    dm_cat_fk *current;
    char table[256];
    char name[256];
} fk_state;

static int fk_row(dm_dstmt *s, dm_catalog *cat, void *state)
{
    fk_state *st = state;
    const char *table = text_or_empty(s, 0), *name = text_or_empty(s, 1);
    if (!st->current || strcmp(st->table, table) != 0 || strcmp(st->name, name) != 0) {
        st->current = dm_catalog_add_fk(cat, name, table, text_or_empty(s, 2));
        snprintf(st->table, sizeof st->table, "%s", table);
        snprintf(st->name, sizeof st->name, "%s", name);
    }
    dm_catalog_fk_add_column(cat, st->current, text_or_empty(s, 3), text_or_empty(s, 4));
    return DBMGMT_OK;
}

static int catalog_tables_and_columns(dm_dconn *c, dm_catalog *cat, dm_error *err)
{
    int rc = catalog_query(c,
                           "SELECT TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES "
                           "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE IN ('BASE TABLE', "
                           "'SYSTEM VERSIONED') ORDER BY TABLE_NAME",
                           cat, table_row, NULL, err, "listing tables");
    if (rc != DBMGMT_OK)
        return rc;
    dm_cat_table *last = NULL;
    return catalog_query(c,
                         "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE, c.IS_NULLABLE, "
                         "COALESCE(s.SEQ_IN_INDEX, 0) FROM information_schema.COLUMNS c "
                         "LEFT JOIN information_schema.STATISTICS s ON s.TABLE_SCHEMA = "
                         "c.TABLE_SCHEMA AND s.TABLE_NAME = c.TABLE_NAME AND s.COLUMN_NAME = "
                         "c.COLUMN_NAME AND s.INDEX_NAME = 'PRIMARY' WHERE c.TABLE_SCHEMA = "
                         "DATABASE() ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION",
                         cat, column_row, &last, err, "reading columns");
}

static int catalog_indexes_and_fks(dm_dconn *c, dm_catalog *cat, dm_error *err)
{
    usage_list usage;
    int rc = load_index_usage(c, &usage, cat, err);
    index_state ist = {NULL, NULL, &usage};
    if (rc == DBMGMT_OK)
        rc = catalog_query(c,
                           "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME "
                           "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
                           "ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
                           cat, index_row, &ist, err, "reading indexes");
    usage_free(&usage);
    if (rc != DBMGMT_OK)
        return rc;
    fk_state fst;
    memset(&fst, 0, sizeof fst);
    return catalog_query(c,
                         "SELECT TABLE_NAME, CONSTRAINT_NAME, REFERENCED_TABLE_NAME, COLUMN_NAME, "
                         "REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE "
                         "TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL "
                         "ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
                         cat, fk_row, &fst, err, "reading foreign keys");
}

int dm_my_table_exists(dm_dconn *c, const char *schema, const char *name, dm_error *err)
{
    dm_dstmt *s = NULL;
    const char *sql =
        schema ? "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = "
                 "? AND TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'"
               : "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = "
                 "? AND TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'";
    int rc = dm_my_int_query_open(c, sql, name, &s, err);
    if (rc == DBMGMT_OK && schema) {
        dm_value v = {.type = DM_VALUE_TEXT, .bytes = schema, .len = strlen(schema)};
        rc = dm_my_bind(s, 2, &v, err);
    }
    int64_t count = 0;
    int is_null = 0;
    if (rc == DBMGMT_OK)
        rc = dm_my_int_query_run(s, &count, &is_null, err);
    dm_my_finalize(s);
    return rc == DBMGMT_OK ? count > 0 : rc;
}

/* The session variables a migration may SET that change how later SQL
 * runs (mysqldump's header sets most of them); session_restore sets them
 * back, and USE returns to the database. */
static const char *const saved_variables[] = {
    "sql_mode", "time_zone", "foreign_key_checks", "unique_checks", "sql_notes",
    "character_set_client", "character_set_results", "collation_connection", "autocommit",
};
#define NSAVED (sizeof saved_variables / sizeof saved_variables[0])

/* Append v as a literal (a number bare, anything else quoted); 0 when it
 * holds a quote or backslash (no variable above has one: the caller
 * refuses such a value). */
static int put_literal(dm_buf *b, const char *v)
{
    if (strpbrk(v, "'\\"))
        return 0;
    if (*v && strspn(v, "0123456789") == strlen(v)) { /* a number, as a number */
        dm_buf_puts(b, v);
        return 1;
    }
    dm_buf_putc(b, '\'');
    dm_buf_puts(b, v);
    dm_buf_putc(b, '\'');
    return 1;
}

int dm_my_session_save(dm_dconn *c, dm_session_state *st, dm_error *err)
{
    memset(st, 0, sizeof *st);
    dm_buf q = DM_BUF_INIT;
    dm_buf_puts(&q, "SELECT DATABASE()");
    for (size_t i = 0; i < NSAVED; i++) {
        dm_buf_puts(&q, ", @@SESSION.");
        dm_buf_puts(&q, saved_variables[i]);
    }
    char *sql = dm_buf_detach(&q);
    if (!sql)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading the session");
    dm_dstmt *s = NULL;
    int rc = dm_my_prepare(c, sql, 1, &s, err);
    dm_free(sql);
    if (rc == DBMGMT_OK)
        rc = dm_my_execute(s, err);
    if (rc == DBMGMT_OK) {
        rc = dm_my_next(s, err);
        if (rc == 0)
            rc = dm_error_set(err, DBMGMT_ERR_INTERNAL, "reading the session returned no row");
        else if (rc == 1)
            rc = DBMGMT_OK;
    }
    dm_buf set = DM_BUF_INIT;
    dm_buf_puts(&set, "SET SESSION ");
    for (size_t i = 0; rc == DBMGMT_OK && i < NSAVED; i++) {
        if (i)
            dm_buf_puts(&set, ", ");
        dm_buf_puts(&set, saved_variables[i]);
        dm_buf_puts(&set, " = ");
        if (dm_my_column_is_null(s, (int32_t)i + 1)) {
            dm_buf_puts(&set, "NULL");
            continue;
        }
        const char *v = dm_my_column_text(s, (int32_t)i + 1);
        if (!v || !put_literal(&set, v))
            rc = dm_error_set(err, DBMGMT_ERR_UNSUPPORTED,
                              "MySQL: the session's %s cannot be saved and put back after "
                              "migrations", saved_variables[i]);
    }
    if (rc == DBMGMT_OK) {
        st->restore = dm_buf_detach(&set);
        if (!st->restore)
            rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading the session");
    } else {
        dm_buf_free(&set);
    }
    if (rc == DBMGMT_OK) {
        const char *db = dm_my_column_is_null(s, 0) ? NULL : dm_my_column_text(s, 0);
        if (!db)
            rc = dm_error_set(err, DBMGMT_ERR_NOTFOUND,
                              "MySQL: no database to keep the migration history in: the "
                              "connection has no current database (name one in the DSN: "
                              "mysql://user@host/DATABASE)");
        else if (strlen(db) >= sizeof st->schema)
            rc = dm_error_set(err, DBMGMT_ERR_INVALID,
                              "MySQL: the current database's name is longer than %d bytes",
                              (int)sizeof st->schema - 1);
        else
            snprintf(st->schema, sizeof st->schema, "%s", db);
    }
    dm_my_finalize(s);
    if (rc != DBMGMT_OK && rc != DBMGMT_ERR_NOTFOUND)
        dm_session_state_clear(st);
    return rc;
}

int dm_my_session_restore(dm_dconn *c, const dm_session_state *st, dm_error *err)
{
    int rc = DBMGMT_OK;
    if (st->schema[0]) {
        dm_buf use = DM_BUF_INIT;
        dm_buf_puts(&use, "USE ");
        dm_my_quote_ident(&use, st->schema);
        char *sql = dm_buf_detach(&use);
        rc = sql ? dm_my_run_query(c, sql, strlen(sql), err, "returning to the database")
                 : dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory");
        dm_free(sql);
    }
    if (rc == DBMGMT_OK && st->restore)
        rc = dm_my_run_query(c, st->restore, strlen(st->restore), err,
                             "putting the session's variables back");
    return rc;
}

/* `name` with embedded backticks doubled. */
void dm_my_quote_ident(dm_buf *out, const char *name)
{
    dm_buf_putc(out, '`');
    for (const char *p = name; *p; p++) {
        if (*p == '`')
            dm_buf_putc(out, '`');
        dm_buf_putc(out, *p);
    }
    dm_buf_putc(out, '`');
}

/* ---- Index advice (issue 9): statistics and the recorded workload -------- */

/* InnoDB's distinct-value estimate for a leading index column
 * (information_schema.STATISTICS.CARDINALITY, refreshed by ANALYZE TABLE)
 * and the table's row estimate; -1 when the engine has none. */
int dm_my_column_distinct(dm_dconn *c, const char *table, const char *column,
                          double *distinct, double *rows, dm_error *err)
{
    *distinct = *rows = -1;
    dm_dstmt *s = NULL;
    int rc = dm_my_prepare(
        c,
        "SELECT s.CARDINALITY, t.TABLE_ROWS FROM information_schema.STATISTICS s "
        "JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = s.TABLE_SCHEMA AND "
        "t.TABLE_NAME = s.TABLE_NAME WHERE s.TABLE_SCHEMA = DATABASE() AND "
        "s.TABLE_NAME = ? AND s.COLUMN_NAME = ? AND s.SEQ_IN_INDEX = 1 LIMIT 1",
        1, &s, err);
    dm_value t = {.type = DM_VALUE_TEXT, .bytes = table, .len = strlen(table)};
    dm_value col = {.type = DM_VALUE_TEXT, .bytes = column, .len = strlen(column)};
    if (rc == DBMGMT_OK)
        rc = dm_my_bind(s, 1, &t, err);
    if (rc == DBMGMT_OK)
        rc = dm_my_bind(s, 2, &col, err);
    if (rc == DBMGMT_OK)
        rc = dm_my_execute(s, err);
    if (rc == DBMGMT_OK && (rc = dm_my_next(s, err)) == 1) {
        if (!dm_my_column_is_null(s, 0))
            *distinct = dm_my_column_double(s, 0);
        if (!dm_my_column_is_null(s, 1))
            *rows = dm_my_column_double(s, 1);
        rc = DBMGMT_OK;
    }
    dm_my_finalize(s);
    return rc < 0 ? rc : DBMGMT_OK;
}

/* performance_schema's statement digests for this database (normalised
 * text, literals as ?), weighted by how often they ran. */
int dm_my_workload(dm_dconn *c, void (*fn)(void *userdata, const char *sql, double calls),
                   void *userdata, dm_error *err)
{
    dm_dstmt *on = NULL;
    int64_t enabled = 0;
    int is_null = 0;
    int rc = dm_my_prepare(c, "SELECT @@performance_schema", 1, &on, err);
    if (rc == DBMGMT_OK)
        rc = dm_my_int_query_run(on, &enabled, &is_null, err);
    dm_my_finalize(on);
    if (rc != DBMGMT_OK)
        return rc;
    if (!enabled)
        return dm_error_set(err, DBMGMT_ERR_UNSUPPORTED,
                            "performance_schema is off on this server, so it records no "
                            "statement digests: start it with performance_schema=ON, or give the "
                            "workload with dbmgmt_advisor_add_query / add_file");
    dm_dstmt *s = NULL;
    rc = dm_my_prepare(c,
                       "SELECT DIGEST_TEXT, COUNT_STAR FROM "
                       "performance_schema.events_statements_summary_by_digest WHERE SCHEMA_NAME = "
                       "DATABASE() AND DIGEST_TEXT IS NOT NULL AND COUNT_STAR > 0 "
                       "ORDER BY COUNT_STAR DESC LIMIT 10000",
                       1, &s, err);
    if (rc == DBMGMT_OK)
        rc = dm_my_execute(s, err);
    while (rc == DBMGMT_OK && (rc = dm_my_next(s, err)) == 1) {
        rc = DBMGMT_OK;
        if (!dm_my_column_is_null(s, 0))
            fn(userdata, dm_my_column_text(s, 0), dm_my_column_double(s, 1));
    }
    dm_my_finalize(s);
    if (rc < 0 && err->code == DBMGMT_ERR_SQL)
        return dm_error_set_sql(err, DBMGMT_ERR_UNSUPPORTED, err->sqlstate,
                                "cannot read performance_schema statement digests: %s", err->msg);
    return rc < 0 ? rc : DBMGMT_OK;
}


int dm_my_catalog(dm_dconn *c, dm_catalog *cat, dm_error *err)
{
    int rc = catalog_tables_and_columns(c, cat, err);
    if (rc == DBMGMT_OK)
        rc = catalog_indexes_and_fks(c, cat, err);
    if (rc == DBMGMT_OK && cat->failed)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading the catalog");
    return rc;
}
