/*
 * Galera (docs/lint.md, "Galera"): what a Galera cluster does not replicate,
 * or replicates by stopping every node. Active only when the linter's galera
 * flag is set and the dialect is MySQL/MariaDB; otherwise every entry point
 * here returns at once.
 *   galera-no-primary-key            CREATE TABLE without a PRIMARY KEY (reported
 *                                    at the end of the section, unless a later
 *                                    ALTER TABLE adds one); DROP PRIMARY KEY
 *                                    without adding one in the same statement
 *   galera-non-transactional-engine  ENGINE=MyISAM / Aria / MEMORY; SET
 *                                    default_storage_engine
 *   galera-explicit-lock             LOCK TABLES, FLUSH TABLES ... WITH READ LOCK,
 *                                    GET_LOCK()
 *   galera-toi-alter                 ALTER TABLE, CREATE INDEX, DROP INDEX of an
 *                                    existing table (TOI stops the whole cluster)
 */
#include <string.h>

#include "lint/lint_impl.h"

static int galera_on(const section_ctx *c)
{
    return c->lt->galera && MY(c);
}

/* Token i's value (quotes removed) is one of the engines Galera does not
 * replicate (it replicates InnoDB only; HEAP is MEMORY's old name). The
 * name may be a bare word, a quoted identifier or a string. */
static int is_unreplicated_engine(const section_ctx *c, size_t i)
{
    static const char *const engines[] = {"MyISAM", "Aria", "MEMORY", "HEAP", NULL};
    if (i >= NT(c) || !(is_name_tok(c, i) || TOK(c, i)->kind == DM_SQL_TOK_STRING))
        return 0;
    const char *v = c->text + TOK(c, i)->value_offset;
    for (size_t k = 0; engines[k]; k++)
        if (lint_same_name(v, TOK(c, i)->value_len, engines[k], strlen(engines[k])))
            return 1;
    return 0;
}

/* ---- galera-non-transactional-engine ------------------------------------------- */

/* ENGINE [=] MyISAM|Aria|MEMORY at depth 0 in [from, to), stopping at a word of
 * stops (the query of CREATE TABLE ... AS SELECT). */
static void check_engine_options(section_ctx *c, const char *verb, lname table, size_t from,
                                 size_t to, const char *const *stops)
{
    int depth = 0;
    for (size_t i = from; i < to; i++) {
        if (is_paren(c, i, &depth) || depth != 0)
            continue;
        if (stops && lint_word_in(c, i, stops))
            return;
        if (!is_word(c, i, "ENGINE"))
            continue;
        size_t v = i + 1 + (size_t)is_op(c, i + 1, '=');
        if (is_unreplicated_engine(c, v))
            lint_report_at(c, DM_LINT_GALERA_NON_TRANSACTIONAL_ENGINE, i,
                           "%s %.*s ENGINE=%.*s: Galera replicates InnoDB tables only, so the "
                           "rows written to it on one node never reach the others",
                           verb, (int)table.len, table.s, (int)TOK(c, v)->value_len,
                           c->text + TOK(c, v)->value_offset);
    }
}

/* SET [SESSION|GLOBAL|LOCAL] default_storage_engine|storage_engine = MyISAM|Aria|MEMORY
 * (what the CREATE TABLEs without ENGINE= after it get) */
static void check_set_default_engine(section_ctx *c)
{
    static const char *const scopes[] = {"SESSION", "GLOBAL", "LOCAL", NULL};
    size_t i = lint_skip_words(c, 1, scopes);
    if (!is_word(c, i, "DEFAULT_STORAGE_ENGINE") && !is_word(c, i, "STORAGE_ENGINE"))
        return;
    size_t v = i + 1 + (size_t)(is_op(c, i + 1, '=') || is_word(c, i + 1, "TO"));
    if (is_unreplicated_engine(c, v))
        lint_report_at(c, DM_LINT_GALERA_NON_TRANSACTIONAL_ENGINE, 0,
                       "SET %.*s = %.*s: every table created after it without ENGINE= is "
                       "%.*s, which Galera does not replicate",
                       (int)TOK(c, i)->len, c->text + TOK(c, i)->offset,
                       (int)TOK(c, v)->value_len, c->text + TOK(c, v)->value_offset,
                       (int)TOK(c, v)->value_len, c->text + TOK(c, v)->value_offset);
}

/* ---- galera-no-primary-key ------------------------------------------------------- */

/* The tokens [from, to) are one element of a CREATE TABLE's list: whether it
 * declares the primary key (table level: [CONSTRAINT [name]] PRIMARY KEY;
 * column level: PRIMARY KEY, or MySQL's bare KEY attribute). */
static int element_declares_primary_key(const section_ctx *c, size_t from, size_t to)
{
    static const char *const not_columns[] = {"KEY",     "INDEX",   "UNIQUE", "FULLTEXT",
                                              "SPATIAL", "FOREIGN", "CHECK",  NULL};
    static const char *const constraint_kinds[] = {"PRIMARY", "UNIQUE", "FOREIGN", "CHECK", NULL};
    size_t i = from;
    if (is_word(c, i, "CONSTRAINT")) {
        i++;
        if (!lint_word_in(c, i, constraint_kinds))
            i++; /* its name */
        return is_word(c, i, "PRIMARY");
    }
    if (is_word(c, i, "PRIMARY"))
        return 1;
    if (lint_word_in(c, i, not_columns) || (is_word(c, i, "PERIOD") && is_word(c, i + 1, "FOR")))
        return 0;
    int depth = 0;
    for (i = from + 1; i < to; i++) /* a column: name, type, attributes */
        if (!is_paren(c, i, &depth) && depth == 0 && is_word(c, i, "KEY") &&
            !is_word(c, i - 1, "UNIQUE"))
            return 1; /* PRIMARY KEY, or [PRIMARY] KEY */
    return 0;
}

/* The list of CREATE TABLE name ( ... ) opening at token open: whether one
 * of its elements declares the primary key; *end is the index after it. */
static int list_declares_primary_key(const section_ctx *c, size_t open, size_t *end)
{
    int depth = 1, found = 0;
    size_t start = open + 1, i = open + 1;
    for (; i < NT(c); i++) {
        int paren = is_paren(c, i, &depth);
        if (depth == 0 || (!paren && depth == 1 && is_op(c, i, ','))) {
            found |= i > start && element_declares_primary_key(c, start, i);
            start = i + 1;
            if (depth == 0)
                break;
        }
    }
    *end = i < NT(c) ? i + 1 : i;
    return found;
}

static void remember_keyless(section_ctx *c, lname table, size_t kw)
{
    dm_linter *lt = c->lt;
    if (c->quiet || c->rc != DBMGMT_OK || !table.len)
        return;
    dm_lint_keyless *grown =
        lint_grow(lt->keyless, lt->nkeyless, &lt->keyless_cap, sizeof *grown, 8);
    if (!grown) {
        c->rc = DBMGMT_ERR_NOMEM;
        return;
    }
    lt->keyless = grown;
    lt->keyless[lt->nkeyless++] = (dm_lint_keyless){table.s, table.len, c->stmt,
                                                    lint_line_of_tok(c, kw)};
}

static void forget_keyless(section_ctx *c, lname table)
{
    dm_linter *lt = c->lt;
    for (size_t k = 0; k < lt->nkeyless;)
        if (lint_same_name(lt->keyless[k].s, lt->keyless[k].len, table.s, table.len))
            lt->keyless[k] = lt->keyless[--lt->nkeyless];
        else
            k++;
}

void lint_galera_table_renamed(section_ctx *c, lname from, lname to)
{
    dm_linter *lt = c->lt;
    for (size_t k = 0; k < lt->nkeyless; k++)
        if (lint_same_name(lt->keyless[k].s, lt->keyless[k].len, from.s, from.len)) {
            lt->keyless[k].s = to.s;
            lt->keyless[k].len = to.len;
        }
}

void lint_galera_table_dropped(section_ctx *c, lname table)
{
    forget_keyless(c, table); /* a scratch table of the migration: never replicated rows */
}

void lint_galera_section_start(dm_linter *lt)
{
    lt->nkeyless = 0;
}

void lint_rule_galera_keyless_tables(section_ctx *c)
{
    const dm_linter *lt = c->lt;
    for (size_t k = 0; galera_on(c) && k < lt->nkeyless; k++)
        lint_report(c, DM_LINT_GALERA_NO_PRIMARY_KEY, lt->keyless[k].stmt, lt->keyless[k].line,
                    "CREATE TABLE %.*s without a PRIMARY KEY: Galera does not support DELETEs "
                    "on a table without one (they may not replicate reliably), its rows may be "
                    "in a different order on each node, and every change of a row scans the "
                    "whole table on the other nodes",
                    (int)lt->keyless[k].len, lt->keyless[k].s);
}

void lint_galera_create_table(section_ctx *c, size_t kw, lname table, size_t i, int temporary)
{
    /* not WITH: MariaDB's WITH SYSTEM VERSIONING is a table option */
    static const char *const query_starts[] = {"AS",     "SELECT", "IGNORE",
                                               "REPLACE", "VALUES", "TABLE", NULL};
    if (!galera_on(c) || temporary) /* temporary tables are not replicated */
        return;
    if (is_word(c, i, "LIKE") || (is_op(c, i, '(') && is_word(c, i + 1, "LIKE")))
        return; /* a copy of another table's definition, its key included */
    size_t options = i; /* the table options follow the list of columns and keys */
    int keyed = 0;
    if (is_op(c, i, '(') && !is_word(c, i + 1, "SELECT"))
        keyed = list_declares_primary_key(c, i, &options);
    check_engine_options(c, "CREATE TABLE", table, options, NT(c), query_starts);
    if (!keyed)
        remember_keyless(c, table, kw);
}

/* ---- galera-toi-alter ------------------------------------------------------------ */

static void report_toi(section_ctx *c, size_t kw, const char *what, lname table)
{
    lint_report_at(c, DM_LINT_GALERA_TOI_ALTER, kw,
                   "%s on the existing table %.*s runs in Galera's TOI mode "
                   "(wsrep_OSU_method=TOI): every node runs it at the same point and no other "
                   "write commits anywhere in the cluster until it is done, which on a large "
                   "table stalls the whole cluster (the linter cannot see the table's size)",
                   what, (int)table.len, table.s);
}

void lint_galera_index(section_ctx *c, size_t kw, const char *what, lname table)
{
    if (galera_on(c) && table.len && !lint_table_is_new(c, table))
        report_toi(c, kw, what, table);
}

/* ALGORITHM [=] INSTANT at depth 0 from i on: a change of metadata only,
 * which the server refuses to do any other way. */
static int asks_instant(const section_ctx *c, size_t from)
{
    for (size_t i = lint_find_word_depth0(c, from, NT(c), "ALGORITHM"); i < NT(c);
         i = lint_find_word_depth0(c, i + 1, NT(c), "ALGORITHM"))
        if (is_word(c, i + 1 + (size_t)is_op(c, i + 1, '='), "INSTANT"))
            return 1;
    return 0;
}

/* ---- ALTER TABLE: primary key, engine, TOI --------------------------------------- */

void lint_galera_alter_table(section_ctx *c, const alter_ctx *a, size_t from)
{
    if (!galera_on(c) || !a->table.len)
        return;
    size_t drop = NT(c);
    int adds = 0, depth = 0;
    for (size_t i = from; i < NT(c); i++) {
        if (is_paren(c, i, &depth) || depth != 0)
            continue;
        if (is_word(c, i, "DROP") && is_word(c, i + 1, "PRIMARY") && is_word(c, i + 2, "KEY")) {
            drop = i;
            i += 2;
        } else if (is_word(c, i, "PRIMARY") && is_word(c, i + 1, "KEY"))
            adds = 1;
    }
    if (adds)
        forget_keyless(c, a->table);
    else if (drop < NT(c))
        lint_report_at(c, DM_LINT_GALERA_NO_PRIMARY_KEY, drop,
                       "ALTER TABLE %.*s DROP PRIMARY KEY without adding another in the same "
                       "statement leaves the table without a primary key: Galera does not "
                       "support DELETEs on a table without one (they may not replicate "
                       "reliably)",
                       (int)a->table.len, a->table.s);
    check_engine_options(c, "ALTER TABLE", a->table, from, NT(c), NULL);
    if (!a->is_new && !asks_instant(c, from))
        report_toi(c, 0, "ALTER TABLE", a->table);
}

/* ---- galera-explicit-lock -------------------------------------------------------- */

/* LOCK TABLE[S] a READ, b WRITE */
static void check_lock_tables(section_ctx *c)
{
    if (!is_word(c, 0, "LOCK") || !(is_word(c, 1, "TABLES") || is_word(c, 1, "TABLE")))
        return;
    lname t = lint_name_at(c, 2, NULL);
    lint_report_at(c, DM_LINT_GALERA_EXPLICIT_LOCK, 0,
                   "LOCK TABLES %.*s: Galera does not support explicit table locks; the lock "
                   "holds on this node only, and a write on another node can abort the "
                   "locked transaction at commit",
                   (int)t.len, t.s);
}

/* FLUSH [LOCAL|NO_WRITE_TO_BINLOG] TABLE[S] [a, b] WITH READ LOCK */
static void check_flush_with_read_lock(section_ctx *c)
{
    static const char *const mods[] = {"LOCAL", "NO_WRITE_TO_BINLOG", NULL};
    if (!is_word(c, 0, "FLUSH"))
        return;
    size_t i = lint_skip_words(c, 1, mods);
    if (!is_word(c, i, "TABLES") && !is_word(c, i, "TABLE"))
        return;
    size_t with = lint_find_word_depth0(c, i + 1, NT(c), "WITH");
    if (!is_word(c, with + 1, "READ") || !is_word(c, with + 2, "LOCK"))
        return;
    if (with > i + 1) {
        lname t = lint_name_at(c, i + 1, NULL);
        lint_report_at(c, DM_LINT_GALERA_EXPLICIT_LOCK, 0,
                       "FLUSH TABLES %.*s WITH READ LOCK: Galera does not support explicit "
                       "table locks; the lock holds on this node only",
                       (int)t.len, t.s);
    } else {
        lint_report_at(c, DM_LINT_GALERA_EXPLICIT_LOCK, 0,
                       "FLUSH TABLES WITH READ LOCK blocks every write on this node, and "
                       "while it holds the node stops applying the cluster's writes: flow "
                       "control can stall every node");
    }
}

/* GET_LOCK( anywhere in the statement (a call, not a word in a string). */
static void check_get_lock(section_ctx *c)
{
    for (size_t i = 0; i < NT(c); i++) {
        if (!is_word(c, i, "GET_LOCK") || !is_op(c, i + 1, '('))
            continue;
        const dm_sql_token *arg = i + 2 < NT(c) ? TOK(c, i + 2) : NULL;
        int named = arg && arg->kind == DM_SQL_TOK_STRING;
        lint_report_at(c, DM_LINT_GALERA_EXPLICIT_LOCK, i,
                       "GET_LOCK(%s%.*s%s): a named lock is local to one Galera node, so a "
                       "session on another node takes the same lock at the same time",
                       named ? "'" : "", named ? (int)arg->value_len : 3,
                       named ? c->text + arg->value_offset : "...", named ? "'" : "");
    }
}

void lint_galera_statement(section_ctx *c)
{
    if (!galera_on(c) || NT(c) == 0)
        return;
    check_lock_tables(c);
    check_flush_with_read_lock(c);
    check_get_lock(c);
    if (is_word(c, 0, "SET"))
        check_set_default_engine(c);
}
