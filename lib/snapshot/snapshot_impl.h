/*
 * Private to lib/snapshot (issue 22, docs/snapshots.md): the snapshot
 * object, its rules (rules.c), the masking functions and the masking of a
 * table in keyset batches (mask.c), and the engines' scratch databases and
 * publication (snapshot.c, snap_engine.c).
 */
#ifndef DM_SNAPSHOT_SNAPSHOT_IMPL_H
#define DM_SNAPSHOT_SNAPSHOT_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "dbmgmt/conn.h"
#include "dbmgmt/snapshot.h"
#include "drivers/driver.h"

/* A column's rule. */
typedef enum dm_snap_rule_kind {
    DM_SNAP_KEEP = 0,
    DM_SNAP_HASH = 1,
    DM_SNAP_EMAIL = 2,
    DM_SNAP_PHONE = 3,
    DM_SNAP_NULL = 4
} dm_snap_rule_kind;

typedef struct dm_snap_rule {
    char *table;
    char *column;
    dm_snap_rule_kind kind;
    int line;
} dm_snap_rule;

typedef struct dm_snap_rules {
    char *file; /* the rules file's path, for messages */
    dm_snap_rule *v;
    size_t n;
    size_t cap;
} dm_snap_rules;

/* How a column's value is made (from its type name). */
typedef enum dm_snap_type {
    DM_SNAP_T_TEXT = 0,
    DM_SNAP_T_INT = 1,
    DM_SNAP_T_DATE = 2,
    DM_SNAP_T_DATETIME = 3,
    DM_SNAP_T_OTHER = 4
} dm_snap_type;

/* One masked column of a table, ready to mask. */
typedef struct dm_snap_col {
    const char *name;
    dm_snap_rule_kind kind;
    dm_snap_type type;
    int64_t max_len;  /* text: the declared length, 0 when none */
    int64_t int_max;  /* integers: the largest value the hash gives */
} dm_snap_col;

/* What a table's masking did (result JSON). */
typedef struct dm_snap_table_result {
    char *table;
    int64_t rows;
    int64_t masked_rows;
    int64_t columns; /* masked columns */
} dm_snap_table_result;

struct dbmgmt_snapshot {
    dm_error err;
    char *dir;
    char *backup_id; /* NULL: the newest verified */
    char *backup_key_file; /* NULL: backups are not encrypted */
    dm_snap_rules rules;
    unsigned char *key;
    size_t key_len;
    dbmgmt_snapshot_progress_fn progress;
    void *progress_userdata;
    char *result_json; /* the last successful run */
    /* the run in progress */
    const char *run_id;              /* the backup */
    const struct dm_dsn *run_target;
    int64_t run_start;               /* monotonic ms */
    char *pending_json;              /* its result, made before publishing */
    dm_snap_table_result *tables;
    size_t ntables;
    size_t tables_cap;
};

/* ---- rules.c ---- */
/* Parse the rules file at path into r (cleared first); errors name file:line. */
int dm_snap_rules_load(dm_snap_rules *r, const char *path, dm_error *err);
void dm_snap_rules_clear(dm_snap_rules *r);
/* The rule for table.column, or NULL. */
const dm_snap_rule *dm_snap_rules_find(const dm_snap_rules *r, const char *table,
                                       const char *column);
const char *dm_snap_rule_name(dm_snap_rule_kind kind);
/* 1 when a column's name looks personal (docs/snapshots.md lists the words). */
int dm_snap_looks_personal(const char *column);
/* Check the rules against the schema: unknown tables and columns (file:line),
 * then personal-looking columns without a rule (all listed in one error). */
int dm_snap_rules_check(const dm_snap_rules *r, const dm_catalog *cat, dm_error *err);

/* ---- mask.c ---- */
/* HMAC-SHA256 (RFC 2104) of data under key. */
void dm_snap_hmac(const unsigned char *key, size_t key_len, const void *data, size_t len,
                  unsigned char out[32]);
/* The column's type class, declared text length and integer bound. */
void dm_snap_classify(const char *type, dm_snap_col *col);
/* The masked value of input for col, as text into out (cap >= 80); 0, or
 * -1 when the rule cannot give a value of the column's type (why in out). */
int dm_snap_value(const dm_snap_col *col, const unsigned char *key, size_t key_len,
                  const char *input, char *out, size_t cap);
/* Mask the table's columns on conn in keyset batches on its primary key
 * (pk: its columns in key order), one transaction per batch. */
int dm_snap_mask_table(dbmgmt_snapshot *s, dbmgmt_conn *conn, const char *table,
                       const char *const *pk, size_t npk, const dm_snap_col *cols,
                       size_t ncols, dm_snap_table_result *res);

/* ---- snap_engine.c ---- */
/* Make the rules' masking happen on the scratch database at dsn: check the
 * rules, mask every table, rewrite the masked ones (old row versions). */
int dm_snap_mask_database(dbmgmt_snapshot *s, const char *dsn);

/* ---- snap_publish.c: per engine, scratch, restore, mask, publish ---- */
struct dbmgmt_backup;
struct dm_dsn;
int snap_sqlite(dbmgmt_snapshot *s, struct dbmgmt_backup *b, const char *id,
                const struct dm_dsn *target);
int snap_postgres(dbmgmt_snapshot *s, struct dbmgmt_backup *b, const char *id,
                  const struct dm_dsn *target);
int snap_mysql(dbmgmt_snapshot *s, struct dbmgmt_backup *b, const char *id,
               const struct dm_dsn *target);
/* snapshot.c: the result JSON of the run, made after the masking and before
 * publishing (so nothing can fail once the target exists). */
int dm_snap_prepare_result(dbmgmt_snapshot *s);

#endif
