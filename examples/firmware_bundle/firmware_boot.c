/* The device's boot: migrate the embedded schema, then read back where it
 * stands (firmware_boot.h). */
#include "firmware_boot.h"

#include <string.h>

static int read_schema_version(const char *dsn, int64_t *applied, char *version, size_t cap)
{
    dbmgmt_conn *conn = NULL;
    dbmgmt_result *res = NULL;
    int rc = dbmgmt_conn_open(&conn, dsn);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_conn_query(conn, &res,
                               "SELECT COUNT(*), COALESCE(MAX(version), '') "
                               "FROM dbmgmt_schema_history "
                               "WHERE success = 1 AND installed_rank > 0", 0, NULL);
    if (rc == DBMGMT_OK && dbmgmt_result_next(res) == 1) {
        const char *newest = dbmgmt_result_text(res, 1);
        *applied = dbmgmt_result_int64(res, 0);
        if (!newest || strlen(newest) >= cap)
            rc = DBMGMT_ERR_INVALID;
        else
            memcpy(version, newest, strlen(newest) + 1);
    } else if (rc == DBMGMT_OK) {
        rc = dbmgmt_errcode() ? dbmgmt_errcode() : DBMGMT_ERR_INTERNAL;
    }
    dbmgmt_result_free(res);
    dbmgmt_conn_close(conn);
    return rc;
}

int firmware_boot(const char *dsn, const dbmgmt_migration_def *schema, int64_t *applied,
                  char *version, size_t cap)
{
    if (!cap)
        return DBMGMT_ERR_INVALID;
    *applied = 0;
    version[0] = '\0';
    /* No folder: the schema is the compiled-in table, so no thread is started
     * to read one (docs/embedded.md). */
    int rc = dbmgmt_migrate_on_boot(dsn, NULL, schema, "device");
    if (rc != DBMGMT_OK)
        return rc;
    return read_schema_version(dsn, applied, version, cap);
}
