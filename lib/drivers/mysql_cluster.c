/* MySQL / MariaDB named locks (mysql_impl.h). */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/sha256.h"
#include "mysql_impl.h"

/* A one-row, one-column query with one text parameter, prepared once. */
int dm_my_int_query_open(dm_dconn *c, const char *sql, const char *arg, dm_dstmt **out,
                         dm_error *err)
{
    int rc = dm_my_prepare(c, sql, 0, out, err);
    if (rc != DBMGMT_OK)
        return rc;
    dm_value v = {.type = DM_VALUE_TEXT, .bytes = arg, .len = strlen(arg)};
    rc = dm_my_bind(*out, 1, &v, err);
    if (rc != DBMGMT_OK) {
        dm_my_finalize(*out);
        *out = NULL;
    }
    return rc;
}

/* Execute it: *value gets the integer, *is_null whether it was NULL. */
int dm_my_int_query_run(dm_dstmt *s, int64_t *value, int *is_null, dm_error *err)
{
    int rc = dm_my_execute(s, err);
    if (rc == DBMGMT_OK)
        rc = dm_my_next(s, err);
    if (rc == 1) {
        *is_null = dm_my_column_is_null(s, 0);
        *value = dm_my_column_int64(s, 0);
        rc = DBMGMT_OK;
    } else if (rc == 0) {
        rc = dm_error_set(err, DBMGMT_ERR_INTERNAL, "a lock query returned no row");
    }
    dm_my_reset(s);
    return rc;
}

/* MySQL limits lock names to 64 characters: longer ones are hashed. */
static void lock_key(const char *name, char out[MY_LOCK_NAME_MAX + 1])
{
    size_t len = strlen(name);
    if (len <= MY_LOCK_NAME_MAX) {
        memcpy(out, name, len + 1);
        return;
    }
    char hex[65];
    dm_sha256_hex(name, len, hex);
    snprintf(out, MY_LOCK_NAME_MAX + 1, "dbmgmt_%.40s", hex);
}

/* GET_LOCK(name, 0) polled, so the wait has millisecond resolution and the
 * session never sits blocked inside the server. */
int dm_my_lock(dm_dconn *c, const char *name, int32_t timeout_ms, dm_error *err)
{
    char key[MY_LOCK_NAME_MAX + 1];
    lock_key(name, key);
    dm_dstmt *s = NULL;
    int rc = dm_my_int_query_open(c, "SELECT GET_LOCK(?, 0)", key, &s, err);
    int64_t start = dm_monotonic_ms(), pause = MY_LOCK_FIRST_SLEEP_MS;
    int64_t limit = timeout_ms < 0 ? 0 : timeout_ms;
    while (rc == DBMGMT_OK) {
        int64_t got = 0;
        int is_null = 0;
        rc = dm_my_int_query_run(s, &got, &is_null, err);
        if (rc != DBMGMT_OK)
            break;
        if (is_null) {
            rc = dm_error_set(err, DBMGMT_ERR_SQL, "GET_LOCK for lock '%s' returned NULL", name);
            break;
        }
        if (got == 1)
            break;
        int64_t waited = dm_monotonic_ms() - start;
        if (waited >= limit) {
            rc = dm_error_set_sql(err, DBMGMT_ERR_TIMEOUT, "55P03",
                                  "lock '%s' is held by another session; waited %lld ms", name,
                                  (long long)waited);
            break;
        }
        dm_sleep_ms(pause < limit - waited ? pause : limit - waited);
        pause = pause * 2 > MY_LOCK_MAX_SLEEP_MS ? MY_LOCK_MAX_SLEEP_MS : pause * 2;
    }
    dm_my_finalize(s);
    return rc;
}

int dm_my_unlock(dm_dconn *c, const char *name, dm_error *err)
{
    char key[MY_LOCK_NAME_MAX + 1];
    lock_key(name, key);
    dm_dstmt *s = NULL;
    int64_t released = 0;
    int is_null = 0;
    int rc = dm_my_int_query_open(c, "SELECT RELEASE_LOCK(?)", key, &s, err);
    if (rc == DBMGMT_OK)
        rc = dm_my_int_query_run(s, &released, &is_null, err);
    dm_my_finalize(s);
    if (rc == DBMGMT_OK && (is_null || released != 1))
        rc = dm_error_set(err, DBMGMT_ERR_NOTFOUND, "lock '%s' is not held by this session",
                          name);
    return rc;
}

/* ----------------------------------------------------------------- catalog */
