/*
 * boot_migrate: what a service does at start-up. Migrate the schema (safe
 * when many replicas boot at once: one applies, the others wait and find
 * nothing to do), refuse to start if the database and the migrations
 * disagree, then open a connection and serve.
 *
 *   boot_migrate [DSN [MIGRATIONS_DIR]]
 *   DSN defaults to $DATABASE_URL, then sqlite:app.db; the folder to ./migrations.
 *   APP_ENV names the environment (default: development).
 */
#include <dbmgmt.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    const char *dsn = argc > 1 ? argv[1] : getenv("DATABASE_URL") ? getenv("DATABASE_URL") : "sqlite:app.db";
    const char *dir = argc > 2 ? argv[2] : "migrations";
    const char *env = getenv("APP_ENV") ? getenv("APP_ENV") : "development";

    /* 1. The one call: current schema, or a clear refusal and an untouched database. */
    int rc = dbmgmt_migrate_on_boot(dsn, dir, NULL, env);
    if (rc != DBMGMT_OK) {
        fprintf(stderr, "refusing to start (%s): %s\n", dbmgmt_status_name(rc), dbmgmt_errmsg());
        return 1;
    }

    /* 2. Serve: here, one query. */
    dbmgmt_conn *conn = NULL;
    dbmgmt_result *res = NULL;
    rc = dbmgmt_conn_open(&conn, dsn);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_conn_query(conn, &res,
                               "SELECT (SELECT MAX(version) FROM dbmgmt_schema_history WHERE success = 1 "
                               "AND installed_rank > 0), (SELECT COUNT(*) FROM accounts)", 0, NULL);
    if (rc == DBMGMT_OK && dbmgmt_result_next(res) == 1)
        printf("schema is current at version %s (%s); %lld account(s); ready to serve\n",
               dbmgmt_result_text(res, 0), env, (long long)dbmgmt_result_int64(res, 1));
    else
        fprintf(stderr, "query failed: %s\n", conn ? dbmgmt_conn_errmsg(conn) : dbmgmt_errmsg());
    dbmgmt_result_free(res);
    dbmgmt_conn_close(conn);
    return rc == DBMGMT_OK ? 0 : 1;
}
