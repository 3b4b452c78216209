/*
 * static_consumer DB_PATH: a program linked with libdbmgmt.a (tests/static). It
 * migrates a new SQLite file to version 2 from a compiled-in table (the firmware's
 * way, no files at run time), then reads it back; exit 0 only if both worked and
 * the second migration finds nothing to do.
 */
#include <dbmgmt.h>
#include <stdio.h>
#include <string.h>

static const dbmgmt_migration_def migrations[] = {
    {DBMGMT_MIGRATION_DEF_VERSION, 0, "1", "create_devices",
     "CREATE TABLE devices (id INTEGER PRIMARY KEY, serial TEXT NOT NULL UNIQUE);", NULL, NULL,
     "static_consumer.c"},
    {DBMGMT_MIGRATION_DEF_VERSION, 0, "2", "add_first_device",
     "INSERT INTO devices (serial) VALUES ('SN-0001');", NULL, NULL, "static_consumer.c"},
    {0, 0, NULL, NULL, NULL, NULL, NULL, NULL},
};

static int fail(const char *what)
{
    fprintf(stderr, "static_consumer: %s: %s\n", what, dbmgmt_errmsg());
    return 1;
}

static int read_back(const char *dsn)
{
    dbmgmt_conn *conn = NULL;
    dbmgmt_result *res = NULL;
    int ok = 0;
    if (dbmgmt_conn_open(&conn, dsn) != DBMGMT_OK)
        return fail("open");
    if (dbmgmt_conn_query(conn, &res, "SELECT COUNT(*), MAX(serial) FROM devices", 0, NULL) ==
            DBMGMT_OK &&
        dbmgmt_result_next(res) == 1) {
        const char *serial = dbmgmt_result_text(res, 1);
        ok = dbmgmt_result_int64(res, 0) == 1 && serial != NULL && strcmp(serial, "SN-0001") == 0;
        printf("devices: %lld, serial %s\n", (long long)dbmgmt_result_int64(res, 0),
               serial ? serial : "(null)");
    }
    dbmgmt_result_free(res);
    dbmgmt_conn_close(conn);
    return ok ? 0 : fail("read back");
}

int main(int argc, char **argv)
{
    char dsn[4096];
    if (argc != 2 || (size_t)snprintf(dsn, sizeof dsn, "sqlite://%s", argv[1]) >= sizeof dsn) {
        fprintf(stderr, "usage: static_consumer ABSOLUTE_DB_PATH\n");
        return 2;
    }
    remove(argv[1]);
    if (dbmgmt_migrate_on_boot(dsn, NULL, migrations, "production") != DBMGMT_OK)
        return fail("first migration");
    if (dbmgmt_migrate_on_boot(dsn, NULL, migrations, "production") != DBMGMT_OK)
        return fail("second migration (nothing to do)");
    printf("libdbmgmt %s, linked statically\n", dbmgmt_version());
    return read_back(dsn);
}
