/*
 * quickstart: open a SQLite database, create a table, insert rows with a
 * prepared statement inside a transaction, and read them back with a
 * parameterised query.
 *
 *   quickstart [DSN]        (default: sqlite:quickstart.db)
 */
#include <dbmgmt.h>
#include <stdio.h>

static int fail(dbmgmt_conn *conn, int rc)
{
    fprintf(stderr, "quickstart: %s: %s\n", dbmgmt_status_name(rc),
            conn ? dbmgmt_conn_errmsg(conn) : dbmgmt_errmsg());
    dbmgmt_conn_close(conn);
    return 1;
}

int main(int argc, char **argv)
{
    const char *dsn = argc > 1 ? argv[1] : "sqlite:quickstart.db";
    dbmgmt_conn *conn = NULL;
    int rc = dbmgmt_conn_open(&conn, dsn);
    if (rc != DBMGMT_OK)
        return fail(NULL, rc);

    rc = dbmgmt_conn_exec(conn, "DROP TABLE IF EXISTS fruit;"
                                "CREATE TABLE fruit (name TEXT PRIMARY KEY, grams INTEGER NOT NULL);");
    if (rc != DBMGMT_OK)
        return fail(conn, rc);

    static const struct { const char *name; int64_t grams; } basket[] = {
        {"apple", 180}, {"banana", 120}, {"cherry", 8}, {"durian", 1500}};
    dbmgmt_stmt *insert = NULL;
    rc = dbmgmt_conn_begin(conn);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_conn_prepare(conn, &insert, "INSERT INTO fruit (name, grams) VALUES (?, ?)");
    for (size_t i = 0; rc == DBMGMT_OK && i < sizeof basket / sizeof basket[0]; i++) {
        rc = dbmgmt_stmt_bind_text(insert, 1, basket[i].name);
        if (rc == DBMGMT_OK)
            rc = dbmgmt_stmt_bind_int64(insert, 2, basket[i].grams);
        if (rc == DBMGMT_OK)
            rc = dbmgmt_stmt_execute(insert, NULL);
    }
    dbmgmt_stmt_free(insert);
    rc = rc == DBMGMT_OK ? dbmgmt_conn_commit(conn) : rc;
    if (rc != DBMGMT_OK)
        return fail(conn, rc);

    const char *params[] = {"100"};
    dbmgmt_result *res = NULL;
    rc = dbmgmt_conn_query(conn, &res, "SELECT name, grams FROM fruit WHERE grams > ? ORDER BY grams",
                           1, params);
    if (rc != DBMGMT_OK)
        return fail(conn, rc);
    printf("libdbmgmt %s on %s: fruit heavier than 100 g\n", dbmgmt_version(),
           dbmgmt_engine_name(dbmgmt_conn_engine(conn)));
    while ((rc = dbmgmt_result_next(res)) == 1)
        printf("  %-8s %5lld g\n", dbmgmt_result_text(res, 0), (long long)dbmgmt_result_int64(res, 1));
    dbmgmt_result_free(res);
    if (rc < 0)
        return fail(conn, rc);
    dbmgmt_conn_close(conn);
    return 0;
}
