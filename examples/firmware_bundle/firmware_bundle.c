/*
 * firmware_bundle: a device whose schema is compiled into its binary. The
 * table `firmware_migrations` is generated at build time from
 * firmware_bundle/migrations/ by `dbmgmt embed` (see meson.build here);
 * nothing is read from disk at run time, and running twice changes nothing.
 *
 *   firmware_bundle [DSN]     (default: sqlite:device.db)
 */
#include <dbmgmt.h>
#include <stdio.h>

extern const dbmgmt_migration_def firmware_migrations[];

int main(int argc, char **argv)
{
    const char *dsn = argc > 1 ? argv[1] : "sqlite:device.db";
    int rc = dbmgmt_migrate_on_boot(dsn, NULL, firmware_migrations, "device");
    if (rc != DBMGMT_OK) {
        fprintf(stderr, "firmware: schema migration refused: %s\n", dbmgmt_errmsg());
        return 1;
    }
    dbmgmt_conn *conn = NULL;
    dbmgmt_result *res = NULL;
    rc = dbmgmt_conn_open(&conn, dsn);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_conn_query(conn, &res,
                               "SELECT COUNT(*), MAX(version) FROM dbmgmt_schema_history "
                               "WHERE success = 1 AND installed_rank > 0", 0, NULL);
    if (rc == DBMGMT_OK && dbmgmt_result_next(res) == 1)
        printf("device schema: %lld migrations applied, version %s\n",
               (long long)dbmgmt_result_int64(res, 0), dbmgmt_result_text(res, 1));
    dbmgmt_result_free(res);
    dbmgmt_conn_close(conn);
    return rc == DBMGMT_OK ? 0 : 1;
}
