/* The checksum of a query's rows: see rows.h. */
#include "rows.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <dbmgmt.h>

#include "../../lib/core/sha256.h"

void support_rows_sha(const char *dsn, const char *sql, char hex[65], int64_t *count)
{
    dbmgmt_conn *c = NULL;
    dbmgmt_result *r = NULL;
    assert_int_equal(dbmgmt_conn_open(&c, dsn), DBMGMT_OK);
    if (dbmgmt_conn_query(c, &r, sql, 0, NULL) != DBMGMT_OK)
        fail_msg("%s: %s", sql, dbmgmt_conn_errmsg(c));
    int32_t ncols = dbmgmt_result_column_count(r);
    dm_sha256 ctx;
    dm_sha256_init(&ctx);
    *count = 0;
    while (dbmgmt_result_next(r) == 1) {
        for (int32_t i = 0; i < ncols; i++) {
            const char *v = dbmgmt_result_is_null(r, i) ? "\\N" : dbmgmt_result_text(r, i);
            dm_sha256_update(&ctx, v, strlen(v));
            dm_sha256_update(&ctx, i == ncols - 1 ? "\n" : "|", 1);
        }
        (*count)++;
    }
    dm_sha256_final_hex(&ctx, hex);
    dbmgmt_result_free(r);
    dbmgmt_conn_close(c);
}
