/*
 * dbmgmt status | plan | up | down | validate | baseline | repair | resume |
 * new | embed — migrations from the command line, over the public API.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* Exit status of `plan --exit-code` when something is pending. */
#define CLI_EXIT_PENDING 3

typedef struct session {
    dbmgmt_conn *conn;
    dbmgmt_migrator *m;
    dbmgmt_backup *backup; /* --backup-dir */
} session;

static int fail_status(int rc, const char *msg)
{
    if (cli_globals.json)
        printf("{\"status\":\"%s\",\"message\":%s}\n", dbmgmt_status_name(rc), cli_json_quote(msg));
    else
        fprintf(stderr, "dbmgmt: %s\n", msg);
    return CLI_EXIT_FAILURE;
}

/* Connect and load the migrations folder. */
static int session_open(session *s)
{
    memset(s, 0, sizeof *s);
    int rc = dbmgmt_conn_open(&s->conn, cli_globals.url);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_migrator_new(&s->m, s->conn);
    if (rc == DBMGMT_OK && cli_globals.env)
        rc = dbmgmt_migrator_set_environment(s->m, cli_globals.env);
    if (rc == DBMGMT_OK && cli_globals.table)
        rc = dbmgmt_migrator_set_table_name(s->m, cli_globals.table);
    if (rc == DBMGMT_OK && cli_globals.lock_timeout_ms >= 0)
        rc = dbmgmt_migrator_set_lock_timeout_ms(s->m, cli_globals.lock_timeout_ms);
    if (rc == DBMGMT_OK && cli_globals.allow)
        rc = dbmgmt_migrator_allow(s->m, cli_globals.allow);
    if (rc == DBMGMT_OK && cli_globals.galera != DBMGMT_GALERA_AUTO)
        rc = dbmgmt_migrator_set_galera(s->m, cli_globals.galera);
    if (rc == DBMGMT_OK && cli_globals.backup_dir)
        rc = dbmgmt_backup_new(&s->backup, cli_globals.url, cli_globals.backup_dir);
    if (rc == DBMGMT_OK && s->backup)
        rc = dbmgmt_migrator_require_backup(s->m, s->backup);
    /* the folder read while SQLite parses the schema (issue 23: a no-op up
     * against the sqlite3 shell reading the history) */
    if (rc == DBMGMT_OK)
        rc = dbmgmt_migrator_add_dir_threaded(s->m, cli_globals.dir);
    if (rc != DBMGMT_OK) {
        fail_status(rc, dbmgmt_errmsg());
        dbmgmt_migrator_free(s->m);
        dbmgmt_backup_free(s->backup);
        dbmgmt_conn_close(s->conn);
        return -1;
    }
    return 0;
}

static void session_close(session *s)
{
    dbmgmt_migrator_free(s->m);
    dbmgmt_backup_free(s->backup);
    dbmgmt_conn_close(s->conn);
}

static int migrator_result(session *s, int rc, const char *done_message)
{
    if (rc != DBMGMT_OK)
        return fail_status(rc, dbmgmt_migrator_errmsg(s->m));
    if (cli_globals.json)
        printf("{\"status\":\"DBMGMT_OK\",\"message\":%s}\n", cli_json_quote(done_message));
    else
        printf("%s\n", done_message);
    return CLI_EXIT_OK;
}

/* ---- plan / up / down ------------------------------------------------------- */

/* The plan's lint findings, one per line with the safe alternative below:
 * errors and warnings, info findings only with --verbose (the JSON output
 * always has them all). */
static void print_findings(FILE *f, const dbmgmt_plan *p)
{
    static const char *const severity[] = {"info", "warning", "error"};
    for (size_t k = 0; k < dbmgmt_plan_finding_count(p); k++) {
        int32_t sv = dbmgmt_plan_finding_severity(p, k);
        const char *file = dbmgmt_plan_finding_file(p, k);
        if (sv == DBMGMT_LINT_INFO && !cli_globals.verbose)
            continue;
        fprintf(f, "  %s:%d: %s %s: %s\n      safe: %s\n", file ? file : "(table)",
                (int)dbmgmt_plan_finding_line(p, k), sv >= 0 && sv <= 2 ? severity[sv] : "?",
                dbmgmt_plan_finding_rule(p, k), dbmgmt_plan_finding_message(p, k),
                dbmgmt_plan_finding_advice(p, k));
    }
}

static void print_plan(const dbmgmt_plan *p)
{
    size_t n = dbmgmt_plan_count(p);
    if (n == 0 && dbmgmt_plan_problem_count(p) == 0)
        printf("nothing to do: the database is current\n");
    for (size_t i = 0; i < n; i++)
        printf("%-4s %s %s (%s, %d statement%s%s)\n",
               dbmgmt_plan_step_direction(p, i) == DBMGMT_UP ? "up" : "down",
               dbmgmt_plan_step_version(p, i), dbmgmt_plan_step_name(p, i),
               dbmgmt_plan_step_source(p, i), (int)dbmgmt_plan_step_statement_count(p, i),
               dbmgmt_plan_step_statement_count(p, i) == 1 ? "" : "s",
               dbmgmt_plan_step_transactional(p, i) ? ", in a transaction" : ", no transaction");
    print_findings(stdout, p);
    for (size_t i = 0; i < dbmgmt_plan_problem_count(p); i++)
        fprintf(stderr, "refused: %s\n", dbmgmt_plan_problem_at(p, i));
}

static int progress_print(void *userdata, const char *version, const char *name,
                          int32_t direction, int32_t done, int64_t elapsed_ms)
{
    (void)userdata;
    if (cli_globals.json)
        return 0;
    if (!done) {
        printf("%s %s %s ... ", direction == DBMGMT_UP ? "applying" : "reverting", version, name);
        fflush(stdout);
    } else {
        printf("done in %lld ms\n", (long long)elapsed_ms);
    }
    return 0;
}

static int run_plan(session *s, dbmgmt_plan *p, int apply, int exit_code_if_pending)
{
    int refused = dbmgmt_plan_status(p);
    int rc = DBMGMT_OK;
    if (apply) { /* apply decides under the lock, even on a plan refused without it */
        if (!cli_globals.json)
            print_findings(stderr, p); /* what is about to run, before it runs */
        dbmgmt_migrator_set_progress(s->m, progress_print, NULL);
        rc = dbmgmt_migrator_apply(s->m, p);
        refused = DBMGMT_OK;
    }
    if (cli_globals.json) {
        char *json = dbmgmt_plan_to_json(p);
        if (apply)
            printf("{\"applied\":%s,\"status\":\"%s\",\"message\":%s,\"plan\":%s}\n",
                   rc == DBMGMT_OK && refused == DBMGMT_OK ? "true" : "false",
                   dbmgmt_status_name(refused ? refused : rc),
                   cli_json_quote(rc ? dbmgmt_migrator_errmsg(s->m) : ""), json ? json : "null");
        else
            printf("%s\n", json ? json : "null");
        dbmgmt_free(json);
    } else if (!apply) {
        print_plan(p);
    }
    if (rc != DBMGMT_OK && !cli_globals.json) {
        printf("failed\n");
        fprintf(stderr, "dbmgmt: %s\n", dbmgmt_migrator_errmsg(s->m));
    }
    if (refused || rc)
        return CLI_EXIT_FAILURE;
    if (apply && !cli_globals.json && dbmgmt_plan_count(p) == 0)
        printf("nothing to do: the database is current\n");
    if (exit_code_if_pending && dbmgmt_plan_count(p) > 0)
        return CLI_EXIT_PENDING;
    return CLI_EXIT_OK;
}

/* Options of plan/up/down: [--to V] [TARGET] [--exit-code] [--verbose]. */
typedef struct plan_args {
    const char *target;
    int exit_code;
} plan_args;

static int parse_plan_args(int argc, char **argv, plan_args *a, int allow_exit_code)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
            a->target = argv[++i];
        else if (allow_exit_code && strcmp(argv[i], "--exit-code") == 0)
            a->exit_code = 1;
        else if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0)
            cli_globals.verbose = 1;
        else if (argv[i][0] != '-' && !a->target)
            a->target = argv[i];
        else
            return cli_usage_error("%s: unexpected argument '%s'", argv[0], argv[i]);
    }
    return 0;
}

int cmd_plan(int argc, char **argv)
{
    plan_args a;
    if (parse_plan_args(argc, argv, &a, 1))
        return CLI_EXIT_USAGE;
    session s;
    if (session_open(&s))
        return CLI_EXIT_FAILURE;
    dbmgmt_plan *p = NULL;
    int rc = dbmgmt_migrator_plan(s.m, a.target, &p);
    int status = rc ? fail_status(rc, dbmgmt_migrator_errmsg(s.m)) : run_plan(&s, p, 0, a.exit_code);
    dbmgmt_plan_free(p);
    session_close(&s);
    return status;
}

int cmd_up(int argc, char **argv)
{
    plan_args a;
    if (parse_plan_args(argc, argv, &a, 0))
        return CLI_EXIT_USAGE;
    session s;
    if (session_open(&s))
        return CLI_EXIT_FAILURE;
    dbmgmt_plan *p = NULL;
    int rc = dbmgmt_migrator_plan(s.m, a.target, &p);
    if (rc == DBMGMT_OK && dbmgmt_plan_count(p) && dbmgmt_plan_step_direction(p, 0) == DBMGMT_DOWN) {
        dbmgmt_plan_free(p);
        p = NULL;
        session_close(&s);
        return cli_usage_error("up: %s is older than the current version; use down --to", a.target);
    }
    int status = rc ? fail_status(rc, dbmgmt_migrator_errmsg(s.m)) : run_plan(&s, p, 1, 0);
    dbmgmt_plan_free(p);
    session_close(&s);
    return status;
}

int cmd_down(int argc, char **argv)
{
    plan_args a;
    if (parse_plan_args(argc, argv, &a, 0))
        return CLI_EXIT_USAGE;
    if (!a.target)
        return cli_usage_error("down: --to VERSION is required (0 reverts everything)");
    session s;
    if (session_open(&s))
        return CLI_EXIT_FAILURE;
    dbmgmt_plan *p = NULL;
    int rc = dbmgmt_migrator_plan_down(s.m, a.target, &p);
    int status = rc ? fail_status(rc, dbmgmt_migrator_errmsg(s.m)) : run_plan(&s, p, 1, 0);
    dbmgmt_plan_free(p);
    session_close(&s);
    return status;
}

/* ---- status, validate, baseline, repair, resume -------------------------------- */

/* Print status JSON as a table (without a JSON parser: the fields we wrote). */
static void print_status_table(const char *json)
{
    const char *p = json;
    while ((p = strstr(p, "{\"version\":\"")) != NULL) {
        char version[64] = "", name[256] = "", state[32] = "";
        sscanf(p, "{\"version\":\"%63[^\"]\",\"name\":\"%255[^\"]\"", version, name);
        const char *st = strstr(p, "\"state\":\"");
        if (st)
            sscanf(st, "\"state\":\"%31[^\"]\"", state);
        printf("%-16s %-14s %s\n", version, state, name);
        p++;
    }
}

int cmd_status(int argc, char **argv)
{
    if (argc > 1)
        return cli_usage_error("status takes no arguments");
    (void)argv;
    session s;
    if (session_open(&s))
        return CLI_EXIT_FAILURE;
    char *json = NULL;
    int rc = dbmgmt_migrator_status_json(s.m, &json);
    int status = CLI_EXIT_OK;
    if (rc != DBMGMT_OK) {
        status = fail_status(rc, dbmgmt_migrator_errmsg(s.m));
    } else if (cli_globals.json) {
        printf("%s\n", json);
    } else {
        printf("%-16s %-14s %s\n", "VERSION", "STATE", "NAME");
        print_status_table(json);
    }
    dbmgmt_free(json);
    session_close(&s);
    return status;
}

/* An operator action: open, act on the migrator, report. */
typedef int (*migrator_action)(dbmgmt_migrator *m, const char *arg);

static int run_action(int argc, char **argv, int want_arg, const char *usage,
                      migrator_action act, const char *done)
{
    if (argc != 1 + want_arg)
        return cli_usage_error("%s", usage);
    session s;
    if (session_open(&s))
        return CLI_EXIT_FAILURE;
    dbmgmt_migrator_set_progress(s.m, progress_print, NULL);
    char message[256];
    snprintf(message, sizeof message, "%s%s", done, want_arg ? argv[1] : "");
    int status = migrator_result(&s, act(s.m, want_arg ? argv[1] : NULL), message);
    session_close(&s);
    return status;
}

static int act_validate(dbmgmt_migrator *m, const char *arg)
{
    (void)arg;
    return dbmgmt_migrator_validate(m);
}

static int act_baseline(dbmgmt_migrator *m, const char *version)
{
    return dbmgmt_migrator_baseline(m, version);
}

static int act_repair(dbmgmt_migrator *m, const char *arg)
{
    (void)arg;
    return dbmgmt_migrator_repair(m);
}

static int act_resume(dbmgmt_migrator *m, const char *arg)
{
    (void)arg;
    return dbmgmt_migrator_resume(m);
}

int cmd_validate(int argc, char **argv)
{
    return run_action(argc, argv, 0, "validate takes no arguments", act_validate,
                      "valid: every applied migration matches its source");
}

int cmd_baseline(int argc, char **argv)
{
    return run_action(argc, argv, 1, "baseline VERSION: the version the existing schema matches",
                      act_baseline, "baselined at version ");
}

int cmd_repair(int argc, char **argv)
{
    return run_action(argc, argv, 0, "repair takes no arguments", act_repair,
                      "repaired: no failed migration is recorded any more");
}

int cmd_resume(int argc, char **argv)
{
    return run_action(argc, argv, 0, "resume takes no arguments", act_resume,
                      "resumed: the failed migration is now applied");
}

/* ---- new, embed ----------------------------------------------------------------- */

int cmd_new(int argc, char **argv)
{
    if (argc != 2)
        return cli_usage_error("new NAME: a description such as add_user_roles");
    char name[200];
    size_t n = 0;
    for (const char *p = argv[1]; *p && n + 1 < sizeof name; p++)
        name[n++] = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '_';
    name[n] = '\0';
    if (n == 0)
        return cli_usage_error("new: the name is empty");
    const char *dir = cli_globals.dir ? cli_globals.dir : "migrations";
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "dbmgmt: cannot create %s: %s\n", dir, strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    char stamp[32], path[1024];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
    snprintf(path, sizeof path, "%s/%s_%s.sql", dir, stamp, name);
    FILE *f = fopen(path, "wx");
    if (!f) {
        fprintf(stderr, "dbmgmt: cannot create %s: %s\n", path, strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    fprintf(f, "-- migrate:up\n\n\n-- migrate:down\n\n");
    fclose(f);
    if (cli_globals.json)
        printf("{\"status\":\"DBMGMT_OK\",\"file\":%s}\n", cli_json_quote(path));
    else
        printf("%s\n", path);
    return CLI_EXIT_OK;
}

/* Write data to path through a temporary file and a rename. */
static int write_atomically(const char *path, const char *data)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f || fputs(data, f) == EOF || fclose(f) != 0) {
        fprintf(stderr, "dbmgmt: cannot write %s: %s\n", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "dbmgmt: cannot rename %s to %s: %s\n", tmp, path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int cmd_embed(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL, *symbol = "dbmgmt_migrations";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--symbol") == 0 && i + 1 < argc)
            symbol = argv[++i];
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else
            return cli_usage_error("embed: unexpected argument '%s'", argv[i]);
    }
    if (!dir || !out)
        return cli_usage_error("embed DIR -o FILE.c [--symbol NAME]");
    char *c = NULL;
    int rc = dbmgmt_migrations_embed_c(dir, symbol, &c);
    if (rc != DBMGMT_OK)
        return fail_status(rc, dbmgmt_errmsg());
    int failed = write_atomically(out, c);
    dbmgmt_free(c);
    if (failed)
        return CLI_EXIT_FAILURE;
    if (cli_globals.json)
        printf("{\"status\":\"DBMGMT_OK\",\"file\":%s}\n", cli_json_quote(out));
    return CLI_EXIT_OK;
}

/* ---- seed ------------------------------------------------------------------------ */

/* The seeds done, as JSON array members (for --json). */
typedef struct seed_log {
    char *json;
    size_t len, cap;
    int failed; /* out of memory: the JSON is incomplete */
} seed_log;

static void seed_log_add(seed_log *l, const char *text)
{
    size_t n = strlen(text);
    if (l->len + n + 1 > l->cap) {
        size_t cap = (l->len + n + 1) * 2;
        char *grown = realloc(l->json, cap);
        if (!grown) {
            l->failed = 1;
            return;
        }
        l->json = grown;
        l->cap = cap;
    }
    memcpy(l->json + l->len, text, n + 1);
    l->len += n;
}

/* Progress on stderr, one line per seed file: applied / unchanged / re-applied. */
static int seed_progress(void *userdata, const char *version, const char *name, const char *file,
                         int32_t outcome, int64_t elapsed_ms)
{
    static const char *const said[] = {"unchanged", "applied", "re-applied"};
    const char *what = outcome >= 0 && outcome <= 2 ? said[outcome] : "?";
    fprintf(stderr, "seed %s %s (%s): %s in %lld ms\n", version, name, file, what,
            (long long)elapsed_ms);
    seed_log *l = userdata;
    char entry[64];
    seed_log_add(l, l->len ? "," : "");
    seed_log_add(l, "{\"version\":");
    seed_log_add(l, cli_json_quote(version));
    seed_log_add(l, ",\"name\":");
    seed_log_add(l, cli_json_quote(name));
    seed_log_add(l, ",\"file\":");
    seed_log_add(l, cli_json_quote(file));
    snprintf(entry, sizeof entry, ",\"outcome\":\"%s\",\"elapsed_ms\":%lld}", what,
             (long long)elapsed_ms);
    seed_log_add(l, entry);
    return 0;
}

int cmd_seed(int argc, char **argv)
{
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            cli_globals.json = 1;
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else
            return cli_usage_error("seed: unexpected argument '%s'", argv[i]);
    }
    session s;
    if (session_open(&s))
        return CLI_EXIT_FAILURE;
    seed_log l = {0};
    int rc = dbmgmt_migrator_set_seed_progress(s.m, seed_progress, &l);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_migrator_seed(s.m, dir);
    int status = CLI_EXIT_OK;
    if (rc != DBMGMT_OK)
        status = fail_status(rc, dbmgmt_migrator_errmsg(s.m));
    else if (cli_globals.json && !l.failed)
        printf("{\"status\":\"DBMGMT_OK\",\"seeds\":[%s]}\n", l.json ? l.json : "");
    else if (cli_globals.json)
        status = fail_status(DBMGMT_ERR_NOMEM, "out of memory listing the seeds (all applied)");
    else
        printf("seeds are current\n");
    free(l.json);
    session_close(&s);
    return status;
}
