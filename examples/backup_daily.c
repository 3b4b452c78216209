/*
 * backup_daily: the seeds' backup tiers for a service's database.
 *
 *   daily   at 02:00, keep 7
 *   weekly  on Sunday at 03:00, keep 4
 *   monthly on the 1st at 04:00, keep 12
 *
 * Each backup is verified as it is taken, handed to an upload hook (here:
 * copied to an "offsite" folder; a real host would encrypt and ship it),
 * and alerts (a failed backup or verify, RPO past 26 hours) go to stderr.
 *
 *   backup_daily DSN BACKUP_DIR OFFSITE_DIR [--once]
 *
 * With --once it takes one backup now, runs a restore drill and prints the
 * catalog (what the build's test does); without, it runs the scheduler's
 * background thread until interrupted.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <dbmgmt.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Copy the finished backup off-site. Returning non-zero marks the upload
 * failed, which raises an alert. */
static int upload(void *userdata, dbmgmt_hook hook, const char *id, const char *path,
                  const char *detail)
{
    const char *offsite = userdata;
    (void)hook, (void)detail;
    const char *base = strrchr(path, '/');
    char dest[4096];
    snprintf(dest, sizeof dest, "%s/%s", offsite, base ? base + 1 : path);
    FILE *in = fopen(path, "rb"), *out = fopen(dest, "wb");
    int rc = in && out ? 0 : 1;
    char chunk[65536];
    size_t n;
    while (!rc && (n = fread(chunk, 1, sizeof chunk, in)) > 0)
        if (fwrite(chunk, 1, n, out) != n)
            rc = 1;
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        rc = 1;
    if (!rc)
        printf("uploaded %s to %s\n", id, dest);
    return rc;
}

static int alert(void *userdata, dbmgmt_hook hook, const char *id, const char *path,
                 const char *detail)
{
    (void)userdata, (void)hook, (void)path;
    fprintf(stderr, "ALERT %s: %s\n", id ? id : "-", detail ? detail : "");
    return 0;
}

static int configure(dbmgmt_backup *b, const char *offsite)
{
    dbmgmt_retention *keep = NULL;
    int rc = dbmgmt_backup_add_schedule(b, "daily", "0 2 * * *", "daily");
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_add_schedule(b, "weekly", "0 3 * * sun", "weekly");
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_add_schedule(b, "monthly", "0 4 1 * *", "monthly");
    if (rc == DBMGMT_OK)
        rc = dbmgmt_retention_new(&keep);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_retention_set_keep(keep, DBMGMT_KEEP_DAILY, 7);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_retention_set_keep(keep, DBMGMT_KEEP_WEEKLY, 4);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_retention_set_keep(keep, DBMGMT_KEEP_MONTHLY, 12);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_set_retention(b, keep);
    dbmgmt_retention_free(keep);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_set_rpo_bound(b, 26 * 3600);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_set_hook(b, DBMGMT_HOOK_UPLOAD, upload, (void *)offsite);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_set_hook(b, DBMGMT_HOOK_ALERT, alert, NULL);
    return rc;
}

static int run_once(dbmgmt_backup *b)
{
    char *id = NULL;
    int rc = dbmgmt_backup_run_now(b, &id);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_restore(b, id, NULL); /* a drill into a scratch file */
    if (rc == DBMGMT_OK) {
        char *json = dbmgmt_backup_list_json(b);
        printf("backup %s verified; restore drill %lld ms; RPO %lld s\n%s\n", id,
               (long long)dbmgmt_backup_metric(b, DBMGMT_BACKUP_LAST_RESTORE_MS),
               (long long)dbmgmt_backup_metric(b, DBMGMT_BACKUP_RPO_S), json ? json : "");
        dbmgmt_free(json);
    }
    dbmgmt_free(id);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s DSN BACKUP_DIR OFFSITE_DIR [--once]\n", argv[0]);
        return 2;
    }
    int once = argc > 4 && strcmp(argv[4], "--once") == 0;
    dbmgmt_backup *b = NULL;
    int rc = dbmgmt_backup_new(&b, argv[1], argv[2]);
    if (rc == DBMGMT_OK)
        rc = configure(b, argv[3]);
    if (rc == DBMGMT_OK && once) {
        rc = run_once(b);
    } else if (rc == DBMGMT_OK) {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        rc = dbmgmt_backup_start(b);
        while (rc == DBMGMT_OK && !stop)
            pause();
        dbmgmt_backup_stop(b);
    }
    if (rc != DBMGMT_OK)
        fprintf(stderr, "backup_daily: %s\n", b ? dbmgmt_backup_errmsg(b) : dbmgmt_errmsg());
    dbmgmt_backup_free(b);
    return rc == DBMGMT_OK ? 0 : 1;
}
