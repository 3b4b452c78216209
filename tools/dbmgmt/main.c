/* dbmgmt: the command table and cli_main (main itself is in entry.c). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const cli_command commands[] = {
    {"status", "", "every migration version and its state", NULL, cmd_status},
    {"plan", "[TARGET] [--exit-code] [--verbose]",
     "what up (or down, for an older TARGET) would do, and why it would refuse; "
     "--exit-code: exit 3 when something is pending",
     "  TARGET, --to VERSION  plan up to VERSION, or down to it if older (default: all pending)\n"
     "  --exit-code           exit 3 when something is pending, 0 when nothing is\n"
     "  -v, --verbose         show info-severity lint findings too (errors, warnings: always)\n",
     cmd_plan},
    {"up", "[--to VERSION] [--verbose]",
     "apply pending migrations, with progress, timings and their lint findings",
     "  --to VERSION          apply up to and including VERSION (default: all pending)\n"
     "  -v, --verbose         show info-severity lint findings too (errors, warnings: always)\n",
     cmd_up},
    {"down", "--to VERSION [--verbose]", "revert applied migrations newer than VERSION (0: all)",
     "  --to VERSION          revert the applied migrations newer than VERSION (0: all); "
     "required\n"
     "  -v, --verbose         show info-severity lint findings too (errors, warnings: always)\n",
     cmd_down},
    {"validate", "", "check applied migrations against their files", NULL, cmd_validate},
    {"baseline", "VERSION", "adopt an existing database at VERSION",
     "  VERSION               the version the schema matches; it and older ones count as "
     "applied\n",
     cmd_baseline},
    {"resume", "", "continue a failed (dirty) migration from its failed statement", NULL,
     cmd_resume},
    {"repair", "", "forget a failed (dirty) migration after undoing it by hand", NULL,
     cmd_repair},
    {"new", "NAME", "write migrations/<timestamp>_NAME.sql",
     "  NAME                  what it does (add_user_roles); written in the global --dir, "
     "else ./migrations\n",
     cmd_new},
    {"embed", "DIR -o FILE.c [--symbol NAME]",
     "compile a migrations folder into a C table for firmware",
     "  DIR                   the migrations folder (a seeds folder is refused: seed data is\n"
     "                        never embedded, docs/seeds.md)\n"
     "  -o FILE.c             the C file to write (replaced in one rename)\n"
     "  --symbol NAME         the name of the dbmgmt_migration_def table "
     "(default: dbmgmt_migrations)\n",
     cmd_embed},
    {"seed", "[--dir DIR] [--json]",
     "apply the seed data after migrating (never in production); unchanged seeds are skipped",
     "  --dir DIR             the seeds folder (default: seeds beside the migrations folder,\n"
     "                        so ./seeds, or db/seeds for --dir db/migrations)\n"
     "  --json                one JSON object: each seed's outcome (applied, unchanged,\n"
     "                        re-applied); progress, one line per seed, is on stderr\n"
     "  refused               with --env production (or a database stamped production),\n"
     "                        migrations pending, a dirty database, or a seed lint error\n",
     cmd_seed},
    {"lint", "[--dir DIR | FILES... | --seeds [DIR]] [--dialect postgres|mysql|sqlite] [--galera] "
             "[--json]",
     "check migrations for changes that break running services (docs/lint.md); exit 1 on errors",
     "  --dir DIR             lint every migration of DIR (default: the global --dir, else "
     "./migrations)\n"
     "  FILES...              lint only the migrations these files belong to\n"
     "  --seeds [DIR]         lint seed files with the seed rules (seed-non-idempotent-insert,\n"
     "                        seed-ddl); DIR default: seeds beside the migrations folder\n"
     "  --dialect NAME        postgres, mysql or sqlite (default: from --url, else sqlite, said "
     "on stderr)\n"
     "  --engine NAME         the same as --dialect\n"
     "  --galera              for a Galera cluster: add the galera-* rules (mysql dialect "
     "only;\n"
     "                        without --dialect and --url, mysql)\n"
     "  --json                one JSON object (docs/lint.md)\n",
     cmd_lint},
    {"backup", "--backup-dir DIR [--offsite DIR] [--engine E] run | list | verify ID | "
               "restore ID --to DSN | restore --to-time TIME TARGET | prune [--dry-run] "
               "--keep-* N | keygen --key-file PATH",
     "take, list, verify, restore-drill and prune backups (docs/backup.md)",
     "  --backup-dir DIR      the backup catalog (required); the database is the global --url\n"
     "  --offsite DIR         copy each backup to DIR too (run copies, verify checks, prune\n"
     "                        removes the copies; docs/backup-offsite.md)\n"
     "  run                   take a backup now and verify it\n"
     "  list [--json]         the backups in the catalog\n"
     "  verify ID             check backup ID: size, SHA-256, the engine's own check\n"
     "  restore ID --to DSN   a restore drill: restore backup ID into DSN (not the source), "
     "check its rows\n"
     "                        (pgbackrest, mariadb-backup: an empty data directory)\n"
     "  restore --to-time TIME TARGET  the database as it was at TIME (2026-12-05T10:00:00Z):\n"
     "                        pgbackrest: WAL replayed into the empty data directory TARGET;\n"
     "                        mariadb-backup: the chain prepared into the empty data directory\n"
     "                        TARGET, the binlogs replayed to TIME (one-second precision);\n"
     "                        others: the nearest backup at or before TIME into TARGET\n"
     "  --engine E            auto (default: SQLite copy, pg_dump, mysqldump), pgbackrest\n"
     "                        (PostgreSQL; docs/backup-pgbackrest.md) or mariadb-backup\n"
     "                        (MariaDB on this machine; docs/backup-mariadb-backup.md)\n"
     "  prune                 remove the backups the --keep-* options do not keep\n"
     "  --dry-run             with prune: only count what it would remove\n"
     "  --keep-last N         with prune: keep the N newest backups (-1: all)\n"
     "  --keep-hourly N       with prune: keep the newest of each of the N newest hours\n"
     "  --keep-daily N        with prune: the same per day\n"
     "  --keep-weekly N       with prune: the same per ISO week\n"
     "  --keep-monthly N      with prune: the same per month\n"
     "  --keep-yearly N       with prune: the same per year\n"
     "  --keep-within D       with prune: keep every backup within D of the newest (1y2m3d4h)\n"
     "  --key-file PATH       encrypt new backups, decrypt to verify and restore, with the\n"
     "                        key in PATH (0600; 32 bytes or 64 hex); default\n"
     "                        $DBMGMT_BACKUP_KEY_FILE (docs/backup-encryption.md)\n"
     "  keygen --key-file PATH  write a new random key to PATH (0600, never overwritten)\n"
     "  --json                machine-readable output\n",
     cmd_backup},
    {"archive", "run | status | restore FILE... --table T [options]",
     "retention and archival jobs: delete, move or export old rows (docs/archive.md)",
     "  run                   run the policy now, in batches, progress on stderr\n"
     "  status                the job and, for export, the catalog's files\n"
     "  restore FILE... --to DSN --table T  load exported files into table T of DSN\n"
     "  --table T             the table (required)\n"
     "  --key COL             its single-column key (default id)\n"
     "  --key-type integer|text  the key's type (default integer)\n"
     "  --time-column COL     rows with COL < now - window are old\n"
     "  --soft-delete-column COL  rows with COL IS NOT NULL AND COL < now - window are old\n"
     "  --timestamp           the column is a timestamp (default: integer Unix seconds)\n"
     "  --window D            90d, 12h, 1d12h, 2w, 30m, 45s\n"
     "  --action A            delete (default), move (--to TABLE), export (--to DIR)\n"
     "  --to TABLE|DIR|DSN    archive table, export folder, or restore's database\n"
     "  --format jsonl|csv    export files' format (default jsonl)\n"
     "  --compress gzip|zstd  export files' compression (default gzip)\n"
     "  --batch N             rows per batch; the first one with --batch-time (1000)\n"
     "  --batch-time MS       size batches to hold locks ~MS ms, 10..10000 rows;\n"
     "                        0: fixed batches of --batch (default 50)\n"
     "  --pause-ms N          pause between batches (default 0)\n"
     "  --now UNIX            the time the window counts back from (default: now)\n"
     "  --json                the job's status as one JSON object\n"
     "  --prometheus          the job's metrics in the Prometheus text exposition instead\n"
     "  --textfile PATH       also write them atomically to PATH (node_exporter), failed\n"
     "                        runs too\n",
     cmd_archive},
    {"advise", "[--url DSN] [--queries FILE] [--from-stats] [--json]",
     "index advice: missing, duplicate, redundant, unused and FK indexes (docs/advise.md)",
     "  --url DSN             the database (default: the global --url, else $DATABASE_URL)\n"
     "  --queries FILE        the workload: a file of SQL statements\n"
     "  --from-stats          add the workload the engine recorded (pg_stat_statements, ...)\n"
     "  --json                one JSON object (docs/advise.md)\n",
     cmd_advise},
    {"health", "[--url DSN] [--json | --prometheus] [--textfile PATH]",
     "the database's health figures: a table, JSON or Prometheus text (docs/prometheus.md)",
     "  --url DSN             the database (default: the global --url, else $DATABASE_URL)\n"
     "  --json                one JSON object: every figure by name, null when absent\n"
     "  --prometheus          the Prometheus text exposition, with the default alert rules,\n"
     "                        the migration state when the global --dir is given and the\n"
     "                        backups' when the global --backup-dir is\n"
     "  --textfile PATH       write that exposition to PATH atomically (node_exporter's\n"
     "                        textfile collector) instead of standard output\n",
     cmd_health},
    {"exporter", "--listen HOST:PORT [--url DSN]",
     "serve GET /metrics for Prometheus: fresh health per scrape (docs/prometheus.md)",
     "  --listen HOST:PORT    the address to serve on (127.0.0.1:9187; [::1]:9187)\n"
     "  --url DSN             the database (default: the global --url, else $DATABASE_URL)\n"
     "  SIGINT, SIGTERM       stop serving and exit 0\n",
     cmd_exporter},
    {"snapshot", "--from BACKUP_DIR [--id ID] --to DSN --mask RULES [--mask-key-file PATH] "
                 "[--backup-key-file PATH] [--json]",
     "an anonymised snapshot: restore a backup into scratch, mask it, publish it as DSN "
     "(docs/snapshots.md)",
     "  --from BACKUP_DIR     the backup folder (a dbmgmt backup catalog)\n"
     "  --id ID               the backup to take (default: the newest verified one)\n"
     "  --to DSN              the target: a new or empty database (SQLite: a file)\n"
     "  --mask RULES          the masking rules: table.column = hash|email|phone|null|keep\n"
     "  --mask-key-file PATH  the HMAC key of hash, email and phone (0600; default\n"
     "                        $DBMGMT_SNAPSHOT_KEY_FILE); never give a key on the command line\n"
     "  --backup-key-file PATH  decrypt an encrypted backup with this key file (default\n"
     "                        $DBMGMT_BACKUP_KEY_FILE; docs/backup-encryption.md)\n"
     "  --json                the totals as one JSON object (progress goes to stderr)\n",
     cmd_snapshot},
    {"split", "--engine sqlite|postgres|mysql [FILE|-]",
     "split an SQL script into statements, one JSON object per line",
     "  -e, --engine NAME     the SQL dialect: sqlite, postgres or mysql (required)\n"
     "  FILE | -              the script (default, and -: standard input)\n",
     cmd_split},
    {"schedule", "next EXPR [--from RFC3339] [--count N] [--utc-offset +HH:MM]",
     "the next fire times of a cron expression, one RFC 3339 time per line",
     "  next EXPR             a cron expression, quoted: minute hour day month weekday\n"
     "  --from RFC3339        the times after this one (default: now)\n"
     "  --count N             how many times to print, 1..100000 (default 1)\n"
     "  --utc-offset +HH:MM   read the expression and write the times in this offset "
     "(default Z)\n",
     cmd_schedule},
    {"retention", "[--keep-last|-hourly|-daily|-weekly|-monthly|-yearly N] "
                  "[--keep-within[-hourly|-daily|-weekly|-monthly|-yearly] 1y2m3d4h] [--json]",
     "which snapshot times (RFC 3339 on stdin) restic's forget rules keep, and why "
     "(docs/backup-schedules.md)",
     "  --keep-last N         keep the N newest snapshots (N: a count, -1 or unlimited)\n"
     "  --keep-hourly N       keep the newest of each of the N newest hours\n"
     "  --keep-daily N        the same per day\n"
     "  --keep-weekly N       the same per ISO week\n"
     "  --keep-monthly N      the same per month\n"
     "  --keep-yearly N       the same per year\n"
     "  --keep-within D       keep every snapshot newer than D before the newest (1y2m3d4h)\n"
     "  --keep-within-hourly D   keep the newest of each hour within D of the newest\n"
     "  --keep-within-daily D    the same per day\n"
     "  --keep-within-weekly D   the same per ISO week\n"
     "  --keep-within-monthly D  the same per month\n"
     "  --keep-within-yearly D   the same per year\n"
     "  --json                one JSON object: keep and remove, with reasons\n"
     "  standard input        the snapshot times, RFC 3339, one per line\n",
     cmd_retention},
};

#define COMMAND_COUNT (sizeof commands / sizeof commands[0])

/* The command being run, for its usage on a usage error; NULL before. */
static const cli_command *running;

static void print_synopsis(FILE *f, const cli_command *c)
{
    fprintf(f, "%s%s%s", c->name, *c->synopsis ? " " : "", c->synopsis);
}

static void print_usage(FILE *f)
{
    fprintf(f, "usage: dbmgmt [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n"
               "       dbmgmt --version | --help | help [COMMAND] | COMMAND --help\n\n"
               "global options:\n"
               "  --url DSN            database (default: $DATABASE_URL)\n"
               "  --dir DIR            migrations folder (default: ./migrations)\n"
               "  --env NAME           environment (production is forward-only)\n"
               "  --table NAME         history table (default: dbmgmt_schema_history)\n"
               "  --lock-timeout MS    how long to wait for another migrator (default 60000)\n"
               "  --allow-out-of-order --allow-missing --allow-down-in-production\n"
               "  --allow-lint-errors  run error-severity lint findings in production\n"
               "  --backup-dir DIR     in production, back up there before changing the schema\n"
               "  --galera on|off|auto the Galera lint rules in plans (default auto: when the "
               "server\n"
               "                       is a Galera node; lint: on = lint --galera)\n"
               "  --json               machine-readable output\n"
               "  -v, --verbose        plan, up, down: info-severity lint findings too\n"
               "  -h, --help           this text; after a command: that command's options\n\n"
               "commands:\n");
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        fputs("  ", f);
        print_synopsis(f, &commands[i]);
        fprintf(f, "\n      %s\n", commands[i].summary);
    }
    fputs("\n'dbmgmt COMMAND --help' lists a command's options and arguments.\n", f);
}

/* COMMAND --help: its synopsis, what it does, and one line per option. */
static void print_command_usage(FILE *f, const cli_command *c)
{
    fputs("usage: dbmgmt [GLOBAL OPTIONS] ", f);
    print_synopsis(f, c);
    fprintf(f, "\n%s\n\n", c->summary);
    if (c->options)
        fprintf(f, "options and arguments:\n%s", c->options);
    else
        fputs("no options or arguments of its own\n", f);
    fputs("\nglobal options (--url, --dir, --env, --json, ...): dbmgmt --help\n", f);
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("dbmgmt: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    if (running)
        print_command_usage(stderr, running);
    else
        print_usage(stderr);
    return CLI_EXIT_USAGE;
}

static int is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

/* --help or -h anywhere after the command (lint --dir m --help, backup run
 * --help, schedule next -h) asks for the command's usage; nothing runs. */
static int asks_for_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (is_help(argv[i]))
            return 1;
    return 0;
}

static const cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (strcmp(name, commands[i].name) == 0)
            return &commands[i];
    return NULL;
}

/* --galera on|off|auto into cli_globals.galera; -1 after a usage error. */
static int parse_galera_mode(const char *value)
{
    static const struct {
        const char *name;
        int mode;
    } modes[] = {{"auto", DBMGMT_GALERA_AUTO}, {"on", DBMGMT_GALERA_ON},
                 {"off", DBMGMT_GALERA_OFF}};
    for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++)
        if (strcmp(value, modes[k].name) == 0) {
            cli_globals.galera = modes[k].mode;
            return 0;
        }
    cli_usage_error("--galera takes on, off or auto, not '%s'", value);
    return -1;
}

/* Global options before the command; returns the index of the command, or
 * -1 after a usage error. */
static int parse_global_options(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        const char *o = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "--json") == 0) {
            cli_globals.json = 1;
        } else if (strcmp(o, "--verbose") == 0 || strcmp(o, "-v") == 0) {
            cli_globals.verbose = 1;
        } else if (strcmp(o, "--allow-out-of-order") == 0) {
            cli_globals.allow |= DBMGMT_ALLOW_OUT_OF_ORDER;
        } else if (strcmp(o, "--allow-missing") == 0) {
            cli_globals.allow |= DBMGMT_ALLOW_MISSING_APPLIED;
        } else if (strcmp(o, "--allow-down-in-production") == 0) {
            cli_globals.allow |= DBMGMT_ALLOW_DOWN_IN_PRODUCTION;
        } else if (strcmp(o, "--allow-lint-errors") == 0) {
            cli_globals.allow |= DBMGMT_ALLOW_LINT_ERRORS;
        } else if (strcmp(o, "--version") == 0 || is_help(o)) {
            break; /* handled as commands */
        } else if (strncmp(o, "--", 2) != 0) {
            cli_usage_error("unknown option '%s'", o);
            return -1;
        } else if (!value) {
            cli_usage_error("option %s needs a value", o);
            return -1;
        } else if (strcmp(o, "--url") == 0) {
            cli_globals.url = value, i++;
        } else if (strcmp(o, "--dir") == 0) {
            cli_globals.dir = value, i++;
        } else if (strcmp(o, "--env") == 0) {
            cli_globals.env = value, i++;
        } else if (strcmp(o, "--table") == 0) {
            cli_globals.table = value, i++;
        } else if (strcmp(o, "--backup-dir") == 0) {
            cli_globals.backup_dir = value, i++;
        } else if (strcmp(o, "--lock-timeout") == 0) {
            char *end;
            long ms = strtol(value, &end, 10);
            if (*end || ms < 0 || ms > 2147483647L) {
                cli_usage_error("--lock-timeout takes milliseconds, not '%s'", value);
                return -1;
            }
            cli_globals.lock_timeout_ms = (int32_t)ms;
            i++;
        } else if (strcmp(o, "--galera") == 0) {
            if (parse_galera_mode(value) < 0)
                return -1;
            i++;
        } else {
            cli_usage_error("unknown option '%s'", o);
            return -1;
        }
    }
    return i;
}

/* dbmgmt --help | -h | help [COMMAND] */
static int run_help(int argc, char **argv)
{
    if (argc < 3) {
        print_usage(stdout);
        return CLI_EXIT_OK;
    }
    const cli_command *c = find_command(argv[2]);
    if (!c)
        return cli_usage_error("help: unknown command '%s'", argv[2]);
    print_command_usage(stdout, c);
    return CLI_EXIT_OK;
}

int cli_main(int argc, char **argv)
{
    /* a fresh start on every call: the tests run the tool many times in
     * one process */
    cli_globals = (cli_options){.lock_timeout_ms = -1, .galera = DBMGMT_GALERA_AUTO};
    running = NULL;
    int first = parse_global_options(argc, argv);
    if (first < 0)
        return CLI_EXIT_USAGE;
    argc -= first - 1;
    argv += first - 1;
    if (argc < 2)
        return cli_usage_error("missing command");
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0) {
        printf("dbmgmt %s\n", dbmgmt_version());
        return CLI_EXIT_OK;
    }
    if (is_help(name) || strcmp(name, "help") == 0)
        return run_help(argc, argv);
    const cli_command *c = find_command(name);
    if (!c)
        return cli_usage_error("unknown command '%s'", name);
    if (asks_for_help(argc - 1, argv + 1)) {
        print_command_usage(stdout, c);
        return CLI_EXIT_OK;
    }
    running = c;
    return c->run(argc - 1, argv + 1);
}
