/* dbmgmt: entry point and command table. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const cli_command commands[] = {
    {"status", "", "every migration version and its state", cmd_status},
    {"plan", "[TARGET] [--exit-code]",
     "what up (or down, for an older TARGET) would do, and why it would refuse; "
     "--exit-code: exit 3 when something is pending", cmd_plan},
    {"up", "[--to VERSION]", "apply pending migrations, with progress and timings", cmd_up},
    {"down", "--to VERSION", "revert applied migrations newer than VERSION (0: all)", cmd_down},
    {"validate", "", "check applied migrations against their files", cmd_validate},
    {"baseline", "VERSION", "adopt an existing database at VERSION", cmd_baseline},
    {"resume", "", "continue a failed (dirty) migration from its failed statement", cmd_resume},
    {"repair", "", "forget a failed (dirty) migration after undoing it by hand", cmd_repair},
    {"new", "NAME", "write migrations/<timestamp>_NAME.sql", cmd_new},
    {"embed", "DIR -o FILE.c [--symbol NAME]",
     "compile a migrations folder into a C table for firmware", cmd_embed},
    {"lint", "[--dir DIR | FILES...] [--engine sqlite|postgres|mysql] [--json]", "check migrations for changes that break running services (docs/lint.md); exit 1 on errors", cmd_lint},
    {"backup", "--backup-dir DIR run | list [--json] | verify ID | restore ID --to DSN | "
               "prune [--dry-run] --keep-daily N ...",
     "take, list, verify, restore-drill and prune backups (docs/backup.md)", cmd_backup},
    {"advise", "[--url DSN] [--queries FILE] [--from-stats] [--json]",
     "index advice: missing, duplicate, redundant, unused and FK indexes (docs/advise.md)",
     cmd_advise},
    {"split", "--engine sqlite|postgres|mysql [FILE|-]",
     "split an SQL script into statements, one JSON object per line", cmd_split},
    {"schedule", "next EXPR [--from RFC3339] [--count N] [--utc-offset +HH:MM]",
     "the next fire times of a cron expression, one RFC 3339 time per line", cmd_schedule},
    {"retention", "[--keep-last|-hourly|-daily|-weekly|-monthly|-yearly N] "
                  "[--keep-within[-hourly|-daily|-weekly|-monthly|-yearly] 1y2m3d4h] [--json]",
     "which snapshot times (RFC 3339 on stdin) restic's forget rules keep, and why "
     "(docs/backup-schedules.md)", cmd_retention},
};

#define COMMAND_COUNT (sizeof commands / sizeof commands[0])

static void print_usage(FILE *f)
{
    fprintf(f, "usage: dbmgmt [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n"
               "       dbmgmt --version | --help | help\n\n"
               "global options:\n"
               "  --url DSN            database (default: $DATABASE_URL)\n"
               "  --dir DIR            migrations folder (default: ./migrations)\n"
               "  --env NAME           environment (production is forward-only)\n"
               "  --table NAME         history table (default: dbmgmt_schema_history)\n"
               "  --lock-timeout MS    how long to wait for another migrator (default 60000)\n"
               "  --allow-out-of-order --allow-missing --allow-down-in-production\n"
               "  --allow-lint-errors  run error-severity lint findings in production\n"
               "  --backup-dir DIR     in production, back up there before changing the schema\n"
               "  --json               machine-readable output\n\ncommands:\n");
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        fprintf(f, "  %s %s\n      %s\n", commands[i].name, commands[i].synopsis,
                commands[i].summary);
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("dbmgmt: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    print_usage(stderr);
    return CLI_EXIT_USAGE;
}

/* Global options before the command; returns the index of the command, or
 * -1 after a usage error. */
static int parse_global_options(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *o = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "--json") == 0) {
            cli_globals.json = 1;
        } else if (strcmp(o, "--allow-out-of-order") == 0) {
            cli_globals.allow |= DBMGMT_ALLOW_OUT_OF_ORDER;
        } else if (strcmp(o, "--allow-missing") == 0) {
            cli_globals.allow |= DBMGMT_ALLOW_MISSING_APPLIED;
        } else if (strcmp(o, "--allow-down-in-production") == 0) {
            cli_globals.allow |= DBMGMT_ALLOW_DOWN_IN_PRODUCTION;
        } else if (strcmp(o, "--allow-lint-errors") == 0) {
            cli_globals.allow |= DBMGMT_ALLOW_LINT_ERRORS;
        } else if (strcmp(o, "--version") == 0 || strcmp(o, "--help") == 0) {
            break; /* handled as commands */
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
        } else {
            cli_usage_error("unknown option '%s'", o);
            return -1;
        }
    }
    return i;
}

int main(int argc, char **argv)
{
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
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        print_usage(stdout);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    return cli_usage_error("unknown command '%s'", name);
}
