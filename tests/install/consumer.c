/* Built against an installed libdbmgmt with `pkg-config --cflags --libs dbmgmt`. */
#include <dbmgmt.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    dbmgmt_conn *conn = NULL;
    dbmgmt_result *res = NULL;
    const char *params[] = {"21"};
    int rc = dbmgmt_conn_open(&conn, "sqlite::memory:");
    if (rc == DBMGMT_OK)
        rc = dbmgmt_conn_query(conn, &res, "SELECT CAST(? AS INTEGER) * 2 AS answer", 1, params);
    if (rc == DBMGMT_OK && dbmgmt_result_next(res) == 1 &&
        strcmp(dbmgmt_result_text(res, 0), "42") == 0)
        printf("installed libdbmgmt %s answers %s\n", dbmgmt_version(), dbmgmt_result_text(res, 0));
    else
        rc = rc ? rc : DBMGMT_ERR_INTERNAL;
    if (rc != DBMGMT_OK)
        fprintf(stderr, "consumer: %s: %s\n", dbmgmt_status_name(rc), dbmgmt_errmsg());
    dbmgmt_result_free(res);
    dbmgmt_conn_close(conn);
    return rc == DBMGMT_OK ? 0 : 1;
}
