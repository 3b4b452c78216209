/*
 * test-module-stubs: in a build that leaves modules out (docs/footprint.md), each
 * left-out module's constructor still links (the ABI keeps every symbol) and fails
 * with DBMGMT_ERR_UNSUPPORTED, NULL in *out, and a message naming the option that
 * builds it. The modules left out come as -DLEFT_OUT_<NAME>.
 */
#include <dbmgmt.h>
#include <stdio.h>
#include <string.h>

static int failures;

static void expect_left_out(const char *option, int rc, const void *out)
{
    const char *msg = dbmgmt_errmsg();
    if (rc != DBMGMT_ERR_UNSUPPORTED || out != NULL || strstr(msg, option) == NULL) {
        printf("FAIL %s: %s (*out %s), message \"%s\"\n", option, dbmgmt_status_name(rc),
               out ? "set" : "NULL", msg);
        failures++;
        return;
    }
    printf("ok %s: %s\n", option, msg);
}

int main(void)
{
    void *unset = &failures; /* a stub must overwrite it with NULL */
    int rc;
#ifdef LEFT_OUT_POOL
    dbmgmt_pool *pool = unset;
    rc = dbmgmt_pool_open(&pool, "sqlite::memory:", NULL);
    expect_left_out("-Dpool=true", rc, pool);
#endif
#ifdef LEFT_OUT_BACKUP
    dbmgmt_backup *backup = unset;
    rc = dbmgmt_backup_new(&backup, "sqlite::memory:", "/nonexistent");
    expect_left_out("-Dbackup=true", rc, backup);
#endif
#ifdef LEFT_OUT_ADVISE
    dbmgmt_advisor *advisor = unset;
    rc = dbmgmt_advisor_new(&advisor, NULL);
    expect_left_out("-Dadvise=true", rc, advisor);
#endif
#ifdef LEFT_OUT_HEALTH
    dbmgmt_health_sampler *sampler = unset;
    rc = dbmgmt_health_sampler_new(&sampler);
    expect_left_out("-Dhealth=true", rc, sampler);
#endif
#ifdef LEFT_OUT_SNAPSHOT
    dbmgmt_snapshot *snapshot = unset;
    rc = dbmgmt_snapshot_new(&snapshot, "/nonexistent");
    expect_left_out("-Dsnapshot=true", rc, snapshot);
#endif
#ifdef LEFT_OUT_ARCHIVE
    dbmgmt_archive *archive = unset;
    rc = dbmgmt_archive_new(&archive, "sqlite::memory:", "t");
    expect_left_out("-Darchive=true", rc, archive);
#endif
    (void)unset;
    (void)rc;
    return failures == 0 ? 0 : 1;
}
