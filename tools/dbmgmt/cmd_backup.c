/*
 * dbmgmt [--url DSN] backup --backup-dir DIR [--offsite DIR]
 * [--engine auto|pgbackrest|mariadb-backup] run | list [--json] | verify ID | restore ID --to DSN | restore --to-time TIME TARGET |
 * prune [--dry-run] [--keep-last N] [--keep-hourly N] [--keep-daily N] [--keep-weekly N]
 * [--keep-monthly N] [--keep-yearly N] [--keep-within DURATION] — the backup catalog
 * from the command line, over the public API (docs/backup.md). With --key-file PATH
 * (or $DBMGMT_BACKUP_KEY_FILE) backups are encrypted and decrypted with the
 * key in that file; "backup keygen --key-file PATH" makes one
 * (docs/backup-encryption.md). A key is never taken on the command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cli.h"

typedef struct backup_args {
    const char *dir;
    const char *offsite; /* off-site copy folder (issue 21), or NULL */
    const char *action;
    const char *id;
    const char *to;
    const char *to_time; /* restore --to-time TIME TARGET (TARGET in id) */
    const char *engine;
    int dry_run;
    int json;
    int32_t keep[6]; /* by dbmgmt_keep; 0 = rule off */
    const char *within;
    const char *key_file; /* --key-file, else $DBMGMT_BACKUP_KEY_FILE, else NULL */
} backup_args;

static const char *const keep_options[6] = {"--keep-last",    "--keep-hourly",
                                            "--keep-daily",   "--keep-weekly",
                                            "--keep-monthly", "--keep-yearly"};

/* --keep-X N: 1 when o is one of them (value parsed into a), -1 on a bad
 * value, 0 when o is something else. */
static int parse_keep(backup_args *a, const char *o, const char *value)
{
    for (int k = 0; k < 6; k++) {
        if (strcmp(o, keep_options[k]) != 0)
            continue;
        char *end;
        long n = value ? strtol(value, &end, 10) : 0;
        if (!value || *end || n < -1 || n > 1000000)
            return -1;
        a->keep[k] = (int32_t)n;
        return 1;
    }
    return 0;
}

static int backup_fail(dbmgmt_backup *b, int rc)
{
    const char *msg = b ? dbmgmt_backup_errmsg(b) : dbmgmt_errmsg();
    if (!msg || !*msg)
        msg = dbmgmt_errmsg();
    if (cli_globals.json)
        printf("{\"status\":\"%s\",\"message\":%s}\n", dbmgmt_status_name(rc),
               cli_json_quote(msg));
    else
        fprintf(stderr, "dbmgmt backup: %s\n", msg);
    return CLI_EXIT_FAILURE;
}

static int parse_backup_args(int argc, char **argv, backup_args *a)
{
    memset(a, 0, sizeof *a);
    a->json = cli_globals.json;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--backup-dir") && i + 1 < argc) {
            a->dir = argv[++i];
        } else if (!strcmp(o, "--offsite") && i + 1 < argc) {
            a->offsite = argv[++i];
        } else if (!strcmp(o, "--to") && i + 1 < argc) {
            a->to = argv[++i];
        } else if (!strcmp(o, "--key-file") && i + 1 < argc) {
            a->key_file = argv[++i];
        } else if (!strcmp(o, "--key") || !strncmp(o, "--key=", 6)) {
            return cli_usage_error("backup: a key is never given on the command line (it "
                                   "would show in ps): use --key-file PATH");
        } else if (!strcmp(o, "--to-time") && i + 1 < argc) {
            a->to_time = argv[++i];
        } else if (!strcmp(o, "--engine") && i + 1 < argc) {
            a->engine = argv[++i];
        } else if (!strcmp(o, "--keep-within") && i + 1 < argc) {
            a->within = argv[++i];
        } else if (!strncmp(o, "--keep-", 7)) {
            int k = parse_keep(a, o, i + 1 < argc ? argv[i + 1] : NULL);
            if (k <= 0)
                return cli_usage_error("backup: %s takes a count (-1: unlimited)", o);
            i++;
        } else if (!strcmp(o, "--dry-run")) {
            a->dry_run = 1;
        } else if (!strcmp(o, "--json")) {
            a->json = 1;
        } else if (o[0] == '-') {
            return cli_usage_error("backup: unknown option or missing value '%s'", o);
        } else if (!a->action) {
            a->action = o;
        } else if (!a->id) {
            a->id = o;
        } else {
            return cli_usage_error("backup: unexpected argument '%s'", o);
        }
    }
    if (!a->key_file && getenv("DBMGMT_BACKUP_KEY_FILE") && *getenv("DBMGMT_BACKUP_KEY_FILE"))
        a->key_file = getenv("DBMGMT_BACKUP_KEY_FILE");
    if (a->action && !strcmp(a->action, "keygen")) {
        if (!a->key_file)
            return cli_usage_error("backup keygen: --key-file PATH is required");
        if (a->id)
            return cli_usage_error("backup keygen: unexpected argument '%s'", a->id);
        return CLI_EXIT_OK;
    }
    if (!a->dir)
        return cli_usage_error("backup: --backup-dir DIR is required");
    if (!a->action)
        return cli_usage_error("backup: missing action (run, list, verify, restore, prune, "
                               "keygen)");
    int needs_id = !strcmp(a->action, "verify") || !strcmp(a->action, "restore");
    if (!strcmp(a->action, "restore") && a->to_time) {
        if (!a->id || a->to)
            return cli_usage_error("backup restore --to-time TIME TARGET: give the target (a "
                                   "data directory for pgbackrest and mariadb-backup, a DSN or "
                                   "SQLite file) and no "
                                   "backup ID or --to");
        return CLI_EXIT_OK;
    }
    if (a->to_time)
        return cli_usage_error("backup %s: --to-time goes with restore", a->action);
    if (needs_id && !a->id)
        return cli_usage_error("backup %s: missing backup ID", a->action);
    if (!needs_id && a->id)
        return cli_usage_error("backup %s: unexpected argument '%s'", a->action, a->id);
    if (!strcmp(a->action, "restore") && !a->to)
        return cli_usage_error("backup restore: --to DSN is required");
    return CLI_EXIT_OK;
}

static int print_done(const backup_args *a, const char *message, const char *id)
{
    if (a->json)
        printf("{\"status\":\"DBMGMT_OK\",\"message\":%s,\"id\":%s}\n", cli_json_quote(message),
               id ? cli_json_quote(id) : "null");
    else
        printf("%s\n", message);
    return CLI_EXIT_OK;
}

static int action_run(dbmgmt_backup *b, const backup_args *a)
{
    char *id = NULL;
    int rc = dbmgmt_backup_run_now(b, &id);
    if (rc != DBMGMT_OK) {
        dbmgmt_free(id);
        return backup_fail(b, rc);
    }
    char msg[256];
    snprintf(msg, sizeof msg, "backup %s: %lld bytes, verified", id,
             (long long)dbmgmt_backup_metric(b, DBMGMT_BACKUP_LAST_SIZE));
    print_done(a, msg, id);
    dbmgmt_free(id);
    return CLI_EXIT_OK;
}

/* The text listing reads the JSON the library renders: one line per backup. */
static const char *json_field(const char *obj, const char *key, char *out, size_t cap)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *p = strstr(obj, pattern);
    out[0] = '\0';
    if (!p)
        return out;
    p += strlen(pattern);
    size_t n = 0;
    if (*p == '"') {
        for (p++; *p && *p != '"' && n + 1 < cap; p++)
            out[n++] = *p == '\\' && p[1] ? *++p : *p;
    } else {
        while (*p && *p != ',' && *p != '}' && n + 1 < cap)
            out[n++] = *p++;
    }
    out[n] = '\0';
    return out;
}

static void print_table(const char *json)
{
    printf("%-34s %-20s %12s %-8s %s\n", "ID", "TIME", "SIZE", "VERIFIED", "SHA-256");
    for (const char *obj = strstr(json, "{\"id\":"); obj; obj = strstr(obj + 1, "{\"id\":")) {
        char id[160], t[40], size[32], verified[8], sha[72];
        printf("%-34s %-20s %12s %-8s %.16s\n", json_field(obj, "id", id, sizeof id),
               json_field(obj, "time", t, sizeof t), json_field(obj, "size", size, sizeof size),
               !strcmp(json_field(obj, "verified", verified, sizeof verified), "true") ? "yes"
                                                                                       : "no",
               json_field(obj, "sha256", sha, sizeof sha));
    }
}

static int action_list(dbmgmt_backup *b, const backup_args *a)
{
    char *json = dbmgmt_backup_list_json(b);
    if (!json)
        return backup_fail(b, dbmgmt_errcode());
    if (a->json)
        printf("%s\n", json);
    else
        print_table(json);
    dbmgmt_free(json);
    return CLI_EXIT_OK;
}

static int set_policy(dbmgmt_backup *b, const backup_args *a)
{
    dbmgmt_retention *r = NULL;
    int rc = dbmgmt_retention_new(&r);
    for (int k = 0; rc == DBMGMT_OK && k < 6; k++)
        if (a->keep[k])
            rc = dbmgmt_retention_set_keep(r, (dbmgmt_keep)k, a->keep[k]);
    if (rc == DBMGMT_OK && a->within)
        rc = dbmgmt_retention_set_within(r, -1, a->within);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_set_retention(b, r);
    dbmgmt_retention_free(r);
    return rc;
}

static int action_prune(dbmgmt_backup *b, const backup_args *a)
{
    int has_policy = a->within != NULL;
    for (int k = 0; k < 6; k++)
        has_policy |= a->keep[k] != 0;
    if (!has_policy)
        return cli_usage_error("backup prune: give a policy (--keep-daily 7 ...)");
    int rc = set_policy(b, a);
    if (rc != DBMGMT_OK)
        return backup_fail(NULL, rc);
    int32_t n = dbmgmt_backup_prune(b, a->dry_run);
    if (n < 0)
        return backup_fail(b, n);
    char msg[128];
    snprintf(msg, sizeof msg, "%s %d backup%s", a->dry_run ? "would remove" : "removed", (int)n,
             n == 1 ? "" : "s");
    return print_done(a, msg, NULL);
}

/* A new key: 64 hex characters and a newline in a new 0600 file; never
 * over an existing one, never printed. */
static int action_keygen(const backup_args *a)
{
    unsigned char key[32];
    size_t got = 0;
    while (got < sizeof key) {
        ssize_t n = getrandom(key + got, sizeof key - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "dbmgmt backup keygen: getrandom: %s\n", strerror(errno));
            return CLI_EXIT_FAILURE;
        }
        got += (size_t)n;
    }
    char text[66];
    for (size_t i = 0; i < sizeof key; i++)
        snprintf(text + 2 * i, 3, "%02x", key[i]);
    text[64] = '\n';
    text[65] = '\0';
    memset(key, 0, sizeof key);
    int fd = open(a->key_file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    int ok = fd >= 0 && write(fd, text, 65) == 65 && fsync(fd) == 0;
    int err = errno;
    if (fd >= 0 && close(fd) != 0)
        ok = 0;
    memset(text, 0, sizeof text);
    if (!ok) {
        fprintf(stderr, "dbmgmt backup keygen: cannot write the key file '%s': %s%s\n",
                a->key_file, strerror(err),
                err == EEXIST ? " (a key file is never overwritten)" : "");
        if (fd >= 0)
            unlink(a->key_file);
        return CLI_EXIT_FAILURE;
    }
    char msg[600];
    snprintf(msg, sizeof msg, "wrote a new backup key to %s (keep a copy elsewhere: "
             "encrypted backups cannot be restored without it)", a->key_file);
    return print_done(a, msg, NULL);
}

/* restore --to-time TIME TARGET: dbmgmt_backup_restore_to_time; prints
 * which backup it used (dbmgmt_backup_restore_info). */
static int action_restore_to_time(dbmgmt_backup *b, const backup_args *a)
{
    int64_t t = 0;
    int32_t nanos = 0;
    if (cli_parse_rfc3339(a->to_time, &t, &nanos) != 0)
        return cli_usage_error("backup restore: --to-time '%s' is not an RFC 3339 time "
                               "(2026-12-05T10:00:00Z)", a->to_time);
    int rc = dbmgmt_backup_restore_to_time(b, a->id, t);
    if (rc != DBMGMT_OK)
        return backup_fail(b, rc);
    if (a->json)
        printf("{\"status\":\"DBMGMT_OK\",\"restored\":%s}\n", dbmgmt_backup_restore_info(b));
    else
        printf("restored to %s into %s: %s\n", a->to_time, a->id, dbmgmt_backup_restore_info(b));
    return CLI_EXIT_OK;
}

int cmd_backup(int argc, char **argv)
{
    backup_args a;
    int rc = parse_backup_args(argc, argv, &a);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (!strcmp(a.action, "keygen"))
        return action_keygen(&a);
    dbmgmt_backup *b = NULL;
    rc = dbmgmt_backup_new(&b, cli_globals.url, a.dir);
    if (rc != DBMGMT_OK)
        return backup_fail(NULL, rc);
    if (a.offsite)
        rc = dbmgmt_backup_set_offsite(b, a.offsite);
    /* the key before the engine: pgBackRest's repository cipher comes from it */
    if (rc == DBMGMT_OK && a.key_file)
        rc = dbmgmt_backup_set_key_file(b, a.key_file);
    if (rc == DBMGMT_OK && a.engine)
        rc = dbmgmt_backup_set_engine(b, a.engine);
    if (rc != DBMGMT_OK) {
        int code = backup_fail(b, rc);
        dbmgmt_backup_free(b);
        return code;
    }
    int exit_code;
    if (!strcmp(a.action, "run")) {
        exit_code = action_run(b, &a);
    } else if (!strcmp(a.action, "list")) {
        exit_code = action_list(b, &a);
    } else if (!strcmp(a.action, "verify")) {
        rc = dbmgmt_backup_verify(b, a.id);
        exit_code = rc == DBMGMT_OK ? print_done(&a, "verified", a.id) : backup_fail(b, rc);
    } else if (!strcmp(a.action, "restore") && a.to_time) {
        exit_code = action_restore_to_time(b, &a);
    } else if (!strcmp(a.action, "restore")) {
        rc = dbmgmt_backup_restore(b, a.id, a.to);
        char msg[128];
        snprintf(msg, sizeof msg, "restored and checked in %lld ms",
                 (long long)dbmgmt_backup_metric(b, DBMGMT_BACKUP_LAST_RESTORE_MS));
        exit_code = rc == DBMGMT_OK ? print_done(&a, msg, a.id) : backup_fail(b, rc);
    } else if (!strcmp(a.action, "prune")) {
        exit_code = action_prune(b, &a);
    } else {
        exit_code = cli_usage_error("backup: unknown action '%s'", a.action);
    }
    dbmgmt_backup_free(b);
    return exit_code;
}
