// The public headers compile as C++ (extern "C", no C-only constructs).
#include <dbmgmt.h>
#include <cstdio>

int main()
{
    dbmgmt_conn *conn = nullptr;
    int rc = dbmgmt_conn_open(&conn, "sqlite::memory:");
    dbmgmt_result *res = nullptr;
    if (rc == DBMGMT_OK)
        rc = dbmgmt_conn_query(conn, &res, "SELECT 40 + 2", 0, nullptr);
    if (rc == DBMGMT_OK && dbmgmt_result_next(res) == 1)
        std::printf("answer %lld\n", static_cast<long long>(dbmgmt_result_int64(res, 0)));
    dbmgmt_result_free(res);
    dbmgmt_conn_close(conn);
    return rc == DBMGMT_OK ? 0 : 1;
}
