/* The public headers compile as strict C99 (with -Wpedantic -Werror). */
#include <dbmgmt.h>
#include <stdio.h>

int main(void)
{
    dbmgmt_conn *conn = NULL;
    int rc = dbmgmt_conn_open(&conn, "sqlite::memory:");
    printf("%s %s\n", dbmgmt_version(), dbmgmt_status_name(rc));
    dbmgmt_conn_close(conn);
    return rc == DBMGMT_OK ? 0 : 1;
}
