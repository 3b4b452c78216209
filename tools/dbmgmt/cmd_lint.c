/* dbmgmt lint: the migration linter, without a database (docs/lint.md);
 * --seeds: the seed files' rules instead (docs/seeds.md). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define DIALECT_CHOICES "postgres|mysql|sqlite"

/* The engine a DSN names, read as the library reads it ("scheme:" or a
 * libpq keyword string); DBMGMT_ENGINE_NONE when it names none. */
static dbmgmt_engine engine_of_dsn(const char *dsn)
{
    char scheme[16];
    size_t n = 0;
    if (isalpha((unsigned char)dsn[0]))
        while (isalnum((unsigned char)dsn[n]) || dsn[n] == '+' || dsn[n] == '.' || dsn[n] == '-')
            n++;
    if (n == 0 || dsn[n] != ':')
        return strchr(dsn, '=') ? DBMGMT_ENGINE_POSTGRES : DBMGMT_ENGINE_NONE;
    if (n >= sizeof scheme)
        return DBMGMT_ENGINE_NONE;
    for (size_t i = 0; i < n; i++)
        scheme[i] = (char)tolower((unsigned char)dsn[i]);
    scheme[n] = '\0';
    return cli_parse_engine(scheme);
}

/* Without --dialect: the engine of --url / DATABASE_URL, else SQLite, and
 * then a line on stderr says so (lint has no database to ask). */
static dbmgmt_engine default_dialect(void)
{
    const char *url = cli_globals.url ? cli_globals.url : getenv("DATABASE_URL");
    dbmgmt_engine e = url && *url ? engine_of_dsn(url) : DBMGMT_ENGINE_NONE;
    if (e != DBMGMT_ENGINE_NONE)
        return e;
    fprintf(stderr, "dbmgmt lint: %s; linting as SQLite (choose with --dialect " DIALECT_CHOICES
                    ")\n",
            url && *url ? "--url or DATABASE_URL names no engine" : "no --url or DATABASE_URL");
    return DBMGMT_ENGINE_SQLITE;
}

static const char *severity_word(int32_t s)
{
    return s == DBMGMT_LINT_ERROR ? "error" : s == DBMGMT_LINT_WARNING ? "warning" : "info";
}

/* FILE:LINE: severity rule-id: why. Safe: alternative — grouped by file. */
static void print_human(const dbmgmt_lint_report *r, int seeds)
{
    size_t n = dbmgmt_lint_report_count(r);
    const char *last = NULL;
    for (size_t k = 0; k < n; k++) {
        const char *file = dbmgmt_lint_report_file(r, k);
        if (!file)
            file = "(table)";
        if (last && strcmp(last, file) != 0)
            putchar('\n');
        last = file;
        printf("%s:%d: %s %s: %s. Safe: %s.\n", file, (int)dbmgmt_lint_report_line(r, k),
               severity_word(dbmgmt_lint_report_severity(r, k)), dbmgmt_lint_report_rule(r, k),
               dbmgmt_lint_report_message(r, k), dbmgmt_lint_report_advice(r, k));
    }
    if (n)
        putchar('\n');
    size_t errors = dbmgmt_lint_report_count_severity(r, DBMGMT_LINT_ERROR);
    size_t warnings = dbmgmt_lint_report_count_severity(r, DBMGMT_LINT_WARNING);
    size_t infos = dbmgmt_lint_report_count_severity(r, DBMGMT_LINT_INFO);
    printf("%zu %s%s linted: %zu error%s, %zu warning%s, %zu info\n",
           dbmgmt_lint_report_migration_count(r), seeds ? "seed" : "migration",
           dbmgmt_lint_report_migration_count(r) == 1 ? "" : "s", errors,
           errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s", infos);
}

/* --galera: Galera is MySQL/MariaDB, so without --dialect the dialect is
 * --url's, else MySQL (said on no line: --galera says it); another dialect
 * is a usage error. DBMGMT_ENGINE_NONE after that error. */
static dbmgmt_engine galera_dialect(dbmgmt_engine engine)
{
    if (engine == DBMGMT_ENGINE_NONE) {
        const char *url = cli_globals.url ? cli_globals.url : getenv("DATABASE_URL");
        engine = url && *url ? engine_of_dsn(url) : DBMGMT_ENGINE_NONE;
        if (engine == DBMGMT_ENGINE_NONE)
            engine = DBMGMT_ENGINE_MYSQL;
    }
    if (engine != DBMGMT_ENGINE_MYSQL) {
        cli_usage_error("lint: --galera needs the mysql dialect (Galera is MariaDB/MySQL), "
                        "not %s", dbmgmt_engine_name(engine));
        return DBMGMT_ENGINE_NONE;
    }
    return engine;
}

int cmd_lint(int argc, char **argv)
{
    const char *dir = NULL;
    dbmgmt_engine engine = DBMGMT_ENGINE_NONE;
    int json = cli_globals.json;
    int galera = cli_globals.galera == DBMGMT_GALERA_ON;
    int seeds = 0;
    char seeds_dir[4096];
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    size_t nfiles = 0;
    if (!files) {
        fprintf(stderr, "dbmgmt lint: out of memory\n");
        return CLI_EXIT_FAILURE;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--galera") == 0) {
            galera = 1;
        } else if (strcmp(a, "--seeds") == 0) { /* --seeds [DIR] */
            seeds = 1;
            if (i + 1 < argc && argv[i + 1][0] != '-')
                dir = argv[++i];
        } else if (strcmp(a, "--dir") == 0 || strcmp(a, "--dialect") == 0 ||
                   strcmp(a, "--engine") == 0) { /* --engine: its first name, kept */
            if (i + 1 >= argc) {
                free(files);
                return cli_usage_error("lint: %s needs a value", a);
            }
            if (strcmp(a, "--dir") == 0) {
                dir = argv[++i];
            } else if ((engine = cli_parse_engine(argv[++i])) == DBMGMT_ENGINE_NONE) {
                free(files);
                return cli_usage_error("lint: unknown dialect '%s' (%s " DIALECT_CHOICES ")",
                                       argv[i], a);
            }
        } else if (strncmp(a, "--", 2) == 0 && a[2]) {
            free(files);
            return cli_usage_error("lint: unknown option '%s'", a);
        } else {
            files[nfiles++] = a;
        }
    }
    if (dir && nfiles) {
        free(files);
        return cli_usage_error("lint: give --dir DIR or FILES, not both");
    }
    if (galera && (engine = galera_dialect(engine)) == DBMGMT_ENGINE_NONE) {
        free(files);
        return CLI_EXIT_USAGE;
    }
    if (engine == DBMGMT_ENGINE_NONE)
        engine = default_dialect();
    dbmgmt_lint_report *r = NULL;
    uint32_t flags = (galera ? DBMGMT_LINT_GALERA : 0) | (seeds ? DBMGMT_LINT_SEEDS : 0);
    const char *folder = dir                ? dir
                         : seeds            ? cli_seeds_dir(seeds_dir, sizeof seeds_dir)
                         : cli_globals.dir ? cli_globals.dir
                                            : "migrations";
    int rc = nfiles ? dbmgmt_lint_files_with(&r, engine, files, nfiles, flags)
                    : dbmgmt_lint_dir_with(&r, engine, folder, flags);
    free(files);
    if (rc != DBMGMT_OK) {
        if (json)
            printf("{\"status\":%s,\"error\":%s}\n", cli_json_quote(dbmgmt_status_name(rc)),
                   cli_json_quote(dbmgmt_errmsg()));
        else
            fprintf(stderr, "dbmgmt lint: %s\n", dbmgmt_errmsg());
        return CLI_EXIT_FAILURE;
    }
    if (json) {
        char *s = dbmgmt_lint_report_to_json(r);
        if (!s) {
            fprintf(stderr, "dbmgmt lint: %s\n", dbmgmt_errmsg());
            dbmgmt_lint_report_free(r);
            return CLI_EXIT_FAILURE;
        }
        puts(s);
        dbmgmt_free(s);
    } else {
        print_human(r, seeds);
    }
    int status = dbmgmt_lint_report_count_severity(r, DBMGMT_LINT_ERROR) ? CLI_EXIT_FAILURE
                                                                          : CLI_EXIT_OK;
    dbmgmt_lint_report_free(r);
    return status;
}
