/*
 * advise_queries: ask libdbmgmt which indexes a workload needs.
 *   advise_queries DSN [QUERIES.sql]
 * Without a queries file it creates a small SQLite schema and workload of
 * its own (the build's test runs it that way) and checks the advice.
 */
#include <stdio.h>
#include <string.h>

#include <dbmgmt.h>

static const char *const demo_schema =
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT UNIQUE, country TEXT);"
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INT REFERENCES customers(id),"
    " status TEXT, created_at TEXT);"
    "CREATE INDEX orders_status ON orders (status);"
    "CREATE INDEX orders_status_created ON orders (status, created_at);";

static const char *const demo_queries[] = {
    "SELECT * FROM orders WHERE customer_id = ? AND created_at > ? ORDER BY created_at",
    "SELECT c.email FROM customers c JOIN orders o ON o.customer_id = c.id WHERE o.status = 'open'",
    "SELECT * FROM customers WHERE country = 'NL'",
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: advise_queries DSN [QUERIES.sql]\n");
        return 2;
    }
    dbmgmt_conn *conn = NULL;
    dbmgmt_advisor *advisor = NULL;
    dbmgmt_advice *advice = NULL;
    int status = 1;
    if (dbmgmt_conn_open(&conn, argv[1]) != DBMGMT_OK || dbmgmt_advisor_new(&advisor, conn) != DBMGMT_OK)
        goto out;
    if (argc > 2) {
        if (dbmgmt_advisor_add_file(advisor, argv[2]) != DBMGMT_OK)
            goto out;
    } else {
        if (dbmgmt_conn_exec(conn, demo_schema) != DBMGMT_OK)
            goto out;
        for (size_t i = 0; i < sizeof demo_queries / sizeof demo_queries[0]; i++)
            dbmgmt_advisor_add_query(advisor, demo_queries[i], 10);
    }
    if (dbmgmt_advisor_run(advisor, &advice) != DBMGMT_OK)
        goto out;
    int missing = 0, redundant = 0;
    for (size_t i = 0; i < dbmgmt_advice_count(advice); i++) {
        int32_t kind = dbmgmt_advice_kind(advice, i);
        printf("%-14s %s(%s)%s\n  %s\n", dbmgmt_advice_kind_name(kind), dbmgmt_advice_table(advice, i),
               dbmgmt_advice_columns(advice, i), dbmgmt_advice_confirmed(advice, i) ? "" : " [unconfirmed]",
               dbmgmt_advice_reason(advice, i));
        if (*dbmgmt_advice_ddl(advice, i))
            printf("  %s;\n", dbmgmt_advice_ddl(advice, i));
        missing += kind == DBMGMT_ADVICE_MISSING;
        redundant += kind == DBMGMT_ADVICE_REDUNDANT;
    }
    /* the demo must find its missing indexes and the redundant orders_status */
    status = argc > 2 || (missing >= 2 && redundant == 1) ? 0 : 1;
out:
    if (status && !advice)
        fprintf(stderr, "advise_queries: %s\n", dbmgmt_errmsg());
    dbmgmt_advice_free(advice);
    dbmgmt_advisor_free(advisor);
    dbmgmt_conn_close(conn);
    return status;
}
