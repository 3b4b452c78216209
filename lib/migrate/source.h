/*
 * Migration sources: the versions a migrator knows, read from a folder in
 * any of the supported layouts or from a compiled-in table (DESIGN §5.1-5.2).
 */
#ifndef DM_MIGRATE_SOURCE_H
#define DM_MIGRATE_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/error.h"
#include "dbmgmt/migrate.h"

typedef enum dm_layout {
    DM_LAYOUT_NONE = 0,
    DM_LAYOUT_NATIVE,    /* -- migrate:up / -- migrate:down (dbmate) */
    DM_LAYOUT_COMPANION, /* plain up file (+ _rollback.sql) */
    DM_LAYOUT_GOLANG,    /* .up.sql / .down.sql (golang-migrate) */
    DM_LAYOUT_FLYWAY,    /* V__ / U__ (Flyway) */
    DM_LAYOUT_GOOSE,     /* -- +goose Up / Down (goose) */
    DM_LAYOUT_EMBEDDED   /* a compiled-in table */
} dm_layout;

/* One direction of a migration. */
typedef struct dm_section {
    char *sql;        /* the section's text (NULL: no such section) */
    size_t len;
    char *file;       /* the file it is in (messages) */
    int32_t line;     /* line of the file where the section's text starts */
    int explicit_statements; /* goose StatementBegin/End: keep those blocks whole */
} dm_section;

typedef struct dm_migration {
    char *version;
    char *name;
    dm_layout layout;
    int no_transaction;   /* transaction:false / NO TRANSACTION */
    dm_section up;
    dm_section down;
    char checksum[65];    /* SHA-256 hex of the normalised up section */
} dm_migration;

typedef struct dm_source {
    dm_migration *items;  /* sorted by version */
    dm_arena arena;       /* every item's strings */
    size_t count;
    int from_table;       /* loaded from a compiled-in table */
    int from_dir;
} dm_source;

/* Compare versions numerically: digit strings by value, dotted ones part
 * by part ("1.10" > "1.9", "007" == "7"). */
int dm_version_compare(const char *a, const char *b);
/* 1 if v is a valid version (digits, optionally dot-separated). */
int dm_version_valid(const char *v);

/* Load a folder into src (which must be empty of folder migrations). On
 * error nothing is added and err names the file. */
int dm_source_add_dir(dm_source *src, const char *dir, dm_error *err);

/*
 * The same read of a folder, shared by two threads (the boot read, while the
 * connection opens): reader 0 lists the folder and reads its files; reader 1
 * may join in at any time and reads a share of what is left (if the listing
 * is not ready yet it returns at once). Once both are done,
 * dm_dir_load_finish() merges the result into src exactly as
 * dm_source_add_dir() would, the same first error included. dir is borrowed
 * until dm_dir_load_free().
 */
#define DM_DIR_READERS 2
typedef struct dm_dir_load dm_dir_load;
dm_dir_load *dm_dir_load_new(const char *dir); /* NULL: out of memory */
/* Reader 0 lists the folder first unless dm_dir_load_list() did already
 * (called before reader 0 starts, on the thread that starts it). */
void dm_dir_load_list(dm_dir_load *dl);
void dm_dir_load_read(dm_dir_load *dl, int reader);
int dm_dir_load_finish(dm_dir_load *dl, dm_source *src, dm_error *err);
void dm_dir_load_free(dm_dir_load *dl);
/* Add a compiled-in table (copies what it needs). */
int dm_source_add_table(dm_source *src, const dbmgmt_migration_def *defs, dm_error *err);
void dm_source_clear(dm_source *src);
/* Binary search by version; NULL when absent. */
const dm_migration *dm_source_find(const dm_source *src, const char *version);

/* Parse one migration file from memory, as loading a folder parses it:
 * classify `name` (no directory part) and, for a migration file, read
 * text[0,len) (need not be NUL-terminated) into *out, whose strings go to
 * arena and whose section files are `name`. An up-side file (VERSION_x.sql,
 * .up.sql, V__) fills out->up and its layout; a down-side file (_rollback.sql,
 * .down.sql, U__) fills out->down with the layout it implies. Returns
 * DBMGMT_OK (out->version NULL: not a migration file, e.g. README.md),
 * DBMGMT_ERR_PARSE (bad name or markers) or DBMGMT_ERR_NOMEM. No checksum,
 * no cross-file checks. Lib-internal: for the fuzz targets (tests/fuzz). */
int dm_source_parse_file(const char *name, const char *text, size_t len, dm_arena *arena,
                         dm_migration *out, dm_error *err);

/* SHA-256 hex of text after BOM removal and CRLF -> LF. */
void dm_checksum_normalised(const char *text, size_t len, char hex[65]);

/* One statement of a section, ready to run. */
typedef struct dm_mig_statement {
    const char *sql;  /* NUL-terminated (owned by the list) */
    int32_t line;     /* line in the section's file */
    /* The splitter's record (run with dm_conn_exec_split, so a COPY FROM
     * stdin gets its data); NULL for a goose StatementBegin/End block. */
    const struct dm_sql_stmt *split;
} dm_mig_statement;

typedef struct dm_mig_statements {
    dm_mig_statement *items;
    size_t count;
    void *owner;      /* the storage behind items */
} dm_mig_statements;

/* Split a section into statements for an engine's dialect (goose
 * StatementBegin/End blocks stay whole). Errors say FILE:LINE:COLUMN. */
int dm_section_statements(const dm_section *s, dbmgmt_engine dialect, dm_mig_statements *out,
                          dm_error *err);
void dm_mig_statements_free(dm_mig_statements *list);

#endif
