/*
 * Migration lint (DESIGN §5.5, docs/lint.md): rules over the token stream of
 * the SQL lexer, run on each migration section of a plan or a folder. This
 * is what the migrator (plans) and the lint report use; the module's own
 * files share lint_impl.h, which says where each rule lives.
 *
 * A rule never looks at raw text: each statement of a section (from
 * dm_section_statements) is lexed, so a keyword inside a string, a comment
 * or a quoted identifier never matches. Suppressions are comments
 * (`-- dbmgmt:allow RULE reason`), found in the gaps between the section's
 * tokens.
 *
 * The migration and its sections are migrate/source.h's types, and sections
 * are split into statements by its dm_section_statements: that one header of
 * lib/migrate is still included here (it depends on core and sql only).
 *
 * Reentrant; no global state. A dm_linter holds reusable buffers, so linting
 * many migrations allocates per finding and per migration, never per token.
 */
#ifndef DM_LINT_LINT_H
#define DM_LINT_LINT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/json.h"
#include "dbmgmt/migrate.h"
#include "findings/findings.h"
#include "migrate/source.h"
#include "sql/lexer.h"

/* The rules, in the order of docs/lint.md. Ids are stable. */
typedef enum dm_lint_rule {
    DM_LINT_DROP_COLUMN = 0,
    DM_LINT_DROP_TABLE,
    DM_LINT_RENAME_COLUMN,
    DM_LINT_RENAME_TABLE,
    DM_LINT_CHANGE_COLUMN_TYPE,
    DM_LINT_ADD_NOT_NULL_COLUMN,
    DM_LINT_SET_NOT_NULL,
    DM_LINT_UNBOUNDED_UPDATE,
    DM_LINT_INDEX_NOT_CONCURRENT,
    DM_LINT_DROP_INDEX_NOT_CONCURRENT,
    DM_LINT_CONCURRENT_IN_TRANSACTION,
    DM_LINT_CONSTRAINT_NOT_VALID,
    DM_LINT_VOLATILE_DEFAULT,
    DM_LINT_MYSQL_TABLE_COPY,
    DM_LINT_TRUNCATE_CASCADE,
    DM_LINT_LOCK_TIMEOUT_MISSING,
    DM_LINT_UNCOMMITTED_TRANSACTION,
    DM_LINT_TRANSACTION_NESTING,
    DM_LINT_MIXED_SCHEMA_AND_DATA,
    DM_LINT_MISSING_DOWN,
    DM_LINT_NON_IDEMPOTENT_DDL,
    DM_LINT_ALLOW_WITHOUT_REASON,
    DM_LINT_UNUSED_ALLOW,
    /* Galera (issue 19): only when the linter's galera flag is set, MySQL dialect */
    DM_LINT_GALERA_NO_PRIMARY_KEY,
    DM_LINT_GALERA_NON_TRANSACTIONAL_ENGINE,
    DM_LINT_GALERA_EXPLICIT_LOCK,
    DM_LINT_GALERA_TOI_ALTER,
    /* Seeds (issue 22): only when the linter's seeds flag is set, in place
     * of every migration rule (a seed file is data, run again when edited) */
    DM_LINT_SEED_NON_IDEMPOTENT_INSERT,
    DM_LINT_SEED_DDL,
    DM_LINT_RULE_COUNT
} dm_lint_rule;

typedef struct dm_lint_finding {
    dm_lint_rule rule;
    int32_t severity;    /* DBMGMT_LINT_INFO / _WARNING / _ERROR */
    size_t step;         /* index of the plan step or migration it belongs to */
    const char *version; /* borrowed from the migration */
    const char *file;    /* borrowed from the section */
    int32_t line;
    char *message;       /* owned: why it is dangerous, naming the table/column */
    size_t seq;          /* order of discovery (stable sort) */
    long stmt;           /* statement index in its section; -1: the whole migration */
    int suppressed;      /* matched by an allow comment (removed before returning) */
} dm_lint_finding;

/* A list of dm_lint_finding records (lib/findings); zeroed is empty. */
typedef dm_findings dm_lint_findings;

/* Name the linter tracks (a table, column or index), pointing into the
 * statement text it came from, which outlives the section's lint. */
typedef struct dm_lint_name {
    const char *s;
    size_t len;
    const char *table; /* columns: the table they belong to */
    size_t table_len;
} dm_lint_name;

typedef struct dm_lint_names {
    dm_lint_name *items;
    size_t count, cap;
} dm_lint_names;

/* Galera: a table the current section created without a primary key, kept
 * until the section ends (a later ALTER TABLE ... ADD PRIMARY KEY clears it). */
typedef struct dm_lint_keyless {
    const char *s; /* the name, in the statement text */
    size_t len;
    long stmt;     /* the CREATE TABLE: the finding's statement and line */
    int32_t line;
} dm_lint_keyless;

/* Reusable state: one per thread of linting. */
typedef struct dm_linter {
    dbmgmt_engine dialect;
    /* Set by the caller after dm_linter_init: the target is a Galera node,
     * so the galera-* rules run (MySQL dialect only; docs/lint.md). */
    int galera;
    /* Set by the caller after dm_linter_init: the sections are seed files
     * (docs/seeds.md): only the seed-* rules run, and they run only then. */
    int seeds;
    dm_lint_keyless *keyless; /* the current section's keyless new tables (reused) */
    size_t nkeyless, keyless_cap;
    dm_sql_token *toks; /* the current statement's tokens (reused) */
    size_t ntoks, toks_cap;
    dm_lint_names tables, columns, indexes; /* created in the current migration */
    void *allows;       /* the current section's allow comments (reused) */
    size_t nallows, allows_cap;
    size_t seq;
    /* Following a plan: tables an earlier up step of the same plan creates
     * and the live database does not have yet, so they are new (empty) when
     * later steps run. Owned copies. */
    char **plan_tables;
    size_t nplan_tables, plan_tables_cap;
    /* Whether a table exists in the live database: 1, 0, or < 0 (unknown:
     * treated as existing). NULL: no live connection (lint files alone). */
    int (*live_table_exists)(void *ctx, const char *name);
    void *live_ctx;
} dm_linter;

void dm_linter_init(dm_linter *lt, dbmgmt_engine dialect);
/* Follow a plan's schema: after each up step, the tables it creates that the
 * live database lacks count as new for the later steps. */
void dm_linter_follow_plan(dm_linter *lt, int (*live_table_exists)(void *ctx, const char *name),
                           void *ctx);
void dm_linter_clear(dm_linter *lt);

/*
 * Lint one migration in one direction (DBMGMT_UP: its up section; DBMGMT_DOWN:
 * its down section, where what the up section creates counts as new).
 * transactional: the migrator runs the section in one transaction. Findings
 * are appended to out with the given step index. Returns DBMGMT_OK,
 * DBMGMT_ERR_NOMEM, or DBMGMT_ERR_PARSE when the section cannot be split
 * (err says FILE:LINE; nothing is appended).
 */
int dm_lint_migration(dm_linter *lt, const dm_migration *mig, int32_t direction,
                      int transactional, size_t step, dm_lint_findings *out, dm_error *err);

/* Sort by step, line, then discovery order. */
void dm_lint_findings_sort(dm_lint_findings *f);
void dm_lint_findings_clear(dm_lint_findings *f);
/* Finding k, or NULL when f is NULL or k is out of range. */
const dm_lint_finding *dm_lint_finding_at(const dm_lint_findings *f, size_t k);
size_t dm_lint_findings_count_severity(const dm_lint_findings *f, int32_t severity);

const char *dm_lint_rule_id(dm_lint_rule rule);
/* The safe alternative, one or two sentences. */
const char *dm_lint_rule_advice(dm_lint_rule rule);
const char *dm_lint_severity_name(int32_t severity);
/* The member "key": the findings as an array of JSON objects (docs/lint.md);
 * with_step adds each finding's "step". */
void dm_lint_findings_json(dm_json *j, const char *key, const dm_lint_findings *f, int with_step);

/* Fields of finding k of f; when f is NULL or has no finding k: NULL for
 * the texts, -1 for severity and line, SIZE_MAX for step. */
const char *dm_lint_finding_rule(const dm_lint_findings *f, size_t k); /* the rule id */
int32_t dm_lint_finding_severity(const dm_lint_findings *f, size_t k);
size_t dm_lint_finding_step(const dm_lint_findings *f, size_t k);
const char *dm_lint_finding_version(const dm_lint_findings *f, size_t k);
const char *dm_lint_finding_file(const dm_lint_findings *f, size_t k);
int32_t dm_lint_finding_line(const dm_lint_findings *f, size_t k);
const char *dm_lint_finding_message(const dm_lint_findings *f, size_t k);
const char *dm_lint_finding_advice(const dm_lint_findings *f, size_t k); /* the rule's */

/* The exported reader RET PREFIX_FIELD(const OWNER *o, size_t k): field FIELD
 * of finding k of LIST(o) (dm_lint_finding_FIELD above). */
#define DM_LINT_FINDING_READER(RET, PREFIX, FIELD, OWNER, LIST)                                  \
    DBMGMT_API RET PREFIX##_##FIELD(const OWNER *o, size_t k)                                    \
    {                                                                                            \
        return dm_lint_finding_##FIELD(LIST(o), k);                                              \
    }

/*
 * Defines the exported readers of the lint findings an OWNER holds (plans
 * and lint reports, include/dbmgmt/migrate.h), so that the two families are
 * one code. LIST(o) is the owner's dm_lint_findings, NULL for a NULL o:
 *   size_t PREFIX_count(const OWNER *o)
 *   PREFIX_rule, _severity, _file, _line, _message, _advice (const OWNER *o, size_t k)
 */
#define DM_LINT_FINDING_READERS(PREFIX, OWNER, LIST)                                             \
    DBMGMT_API size_t PREFIX##_count(const OWNER *o)                                             \
    {                                                                                            \
        return dm_findings_count(LIST(o));                                                       \
    }                                                                                            \
    DM_LINT_FINDING_READER(const char *, PREFIX, rule, OWNER, LIST)                              \
    DM_LINT_FINDING_READER(int32_t, PREFIX, severity, OWNER, LIST)                               \
    DM_LINT_FINDING_READER(const char *, PREFIX, file, OWNER, LIST)                              \
    DM_LINT_FINDING_READER(int32_t, PREFIX, line, OWNER, LIST)                                   \
    DM_LINT_FINDING_READER(const char *, PREFIX, message, OWNER, LIST)                           \
    DM_LINT_FINDING_READER(const char *, PREFIX, advice, OWNER, LIST)

#endif
