/*
 * The dbmgmt command-line tool: a thin client of the public API.
 * Each command lives in its own cmd_*.c file and is listed in main.c's
 * command table.
 */
#ifndef DBMGMT_CLI_H
#define DBMGMT_CLI_H

#include <stddef.h>
#include <stdint.h>

#include <dbmgmt.h>

/* Exit statuses shared by every command. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILURE 1 /* the work failed (parse error, database error, ...) */
#define CLI_EXIT_USAGE 2   /* bad command line */

/* The one place a command's usage lives: `dbmgmt --help` shows every
 * command's synopsis and summary, `dbmgmt COMMAND --help` (and a usage error
 * in COMMAND) shows its synopsis, summary and options. */
typedef struct cli_command {
    const char *name;
    const char *synopsis; /* arguments, shown in usage */
    const char *summary;  /* one line, shown in usage */
    const char *options;  /* one line per option or argument ("  --x V   what"), or NULL */
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} cli_command;

/* Options given before the command (dbmgmt [--url DSN] [--dir DIR] ... COMMAND). */
typedef struct cli_options {
    const char *url;         /* NULL: DATABASE_URL */
    const char *dir;         /* NULL: ./migrations */
    const char *env;         /* environment name, or NULL */
    const char *table;       /* history table, or NULL for the default */
    int json;                /* --json: machine-readable output */
    int32_t lock_timeout_ms; /* -1: the library's default */
    uint32_t allow;          /* DBMGMT_ALLOW_* */
    const char *backup_dir;  /* --backup-dir: back up there before changing production */
    int verbose;             /* --verbose: info-severity lint findings too */
    int galera;              /* --galera: DBMGMT_GALERA_AUTO (default), _ON or _OFF */
} cli_options;

extern cli_options cli_globals;

/* The whole tool: parses argv (global options, command, its options), runs
 * the command and returns the exit status. main() is only this call
 * (entry.c), so a test can run the tool in its own process, many times. */
int cli_main(int argc, char **argv);

/* s as a JSON string literal (with quotes). The result lives until the
 * fourth next call. */
const char *cli_json_quote(const char *s);

/* Prints the message and the usage text (the running command's, else the
 * whole tool's) to stderr and returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...);

/* Parses "sqlite", "postgres" (or "postgresql", "pg"), "mysql" (or "mariadb");
 * DBMGMT_ENGINE_NONE for anything else. */
dbmgmt_engine cli_parse_engine(const char *name);

/* Reads a whole file ("-" or NULL: stdin) into a malloc'd buffer. Returns 0,
 * or -1 with a message already printed to stderr. */
int cli_read_file(const char *path, char **data, size_t *len);

/* The seeds folder beside the migrations folder (the global --dir, else
 * ./migrations: db/migrations -> db/seeds), as dbmgmt_migrator_seed finds
 * it, written into buf; returns buf. */
const char *cli_seeds_dir(char *buf, size_t cap);

/* text into path atomically (a temporary file beside it, fsync'd, renamed
 * over path, the folder fsync'd), for node_exporter's textfile collector.
 * 0, or -1 with "dbmgmt CMD: --textfile PATH: why" printed. */
int cli_write_textfile(const char *cmd, const char *path, const char *text);

/* Commands. */
int cmd_split(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_up(int argc, char **argv);
int cmd_down(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_baseline(int argc, char **argv);
int cmd_repair(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_new(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_lint(int argc, char **argv);
int cmd_seed(int argc, char **argv); /* issue 22 */
int cmd_schedule(int argc, char **argv);  /* issue 8 */
int cmd_retention(int argc, char **argv); /* issue 8 */

/* RFC 3339 times for the backup commands (cmd_schedule.c). */
#define CLI_RFC3339_MAX 40
/* "2024-01-02T03:04:05[.frac](Z|±HH:MM)" -> Unix seconds and the fraction in
 * nanoseconds; 0, or -1 when malformed. */
int cli_parse_rfc3339(const char *s, int64_t *unix_s, int32_t *nanos);
/* "Z" or "±HH:MM" -> seconds east of UTC; 0 or -1. */
int cli_parse_utc_offset(const char *s, int32_t *offset_s);
/* unix_s shown in the fixed offset ("...Z" when 0). */
void cli_format_rfc3339(int64_t unix_s, int32_t offset_s, char out[CLI_RFC3339_MAX]);
int cmd_backup(int argc, char **argv);
int cmd_advise(int argc, char **argv);  /* issue 9 */
int cmd_health(int argc, char **argv);  /* issue 20 */
int cmd_exporter(int argc, char **argv); /* issue 20; needs libmicrohttpd */
int cmd_snapshot(int argc, char **argv); /* issue 22 */
int cmd_archive(int argc, char **argv);  /* issue 22 */

/* The Prometheus exposition of h (and pool, when given) with the alert rules,
 * the migration state when the global --dir is given (read on conn; none
 * when conn is NULL) and the backups' when --backup-dir is (cmd_health.c).
 * *out freed with dbmgmt_free(); a dbmgmt status. */
int cli_health_exposition(dbmgmt_conn *conn, const dbmgmt_pool *pool, const dbmgmt_health *h,
                          const dbmgmt_alerts *alerts, char **out);

#endif
