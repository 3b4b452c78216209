/* Error detail on objects, mirrored per thread (DESIGN §2). */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

/* The per-thread mirror. Fixed-size so recording an out-of-memory failure
 * never needs memory. */
static _Thread_local dm_error thread_error;

static int error_vset(dm_error *err, int code, const char *sqlstate, const char *fmt,
                      va_list ap)
{
    dm_error tmp;
    tmp.code = code;
    tmp.sqlstate[0] = '\0';
    if (sqlstate && *sqlstate) {
        strncpy(tmp.sqlstate, sqlstate, sizeof tmp.sqlstate - 1);
        tmp.sqlstate[sizeof tmp.sqlstate - 1] = '\0';
    }
    vsnprintf(tmp.msg, sizeof tmp.msg, fmt, ap);
    dm_redact(tmp.msg, sizeof tmp.msg);
    if (err)
        *err = tmp;
    thread_error = tmp;
    return code;
}

int dm_error_set(dm_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, code, NULL, fmt, ap);
    va_end(ap);
    return code;
}

int dm_error_set_sql(dm_error *err, int code, const char *sqlstate, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, code, sqlstate, fmt, ap);
    va_end(ap);
    return code;
}

int dm_error_copy(dm_error *dst, const dm_error *src)
{
    if (dst && dst != src)
        *dst = *src;
    thread_error = *src;
    return src->code;
}

void dm_error_reset(dm_error *err)
{
    err->code = DBMGMT_OK;
    err->sqlstate[0] = '\0';
    err->msg[0] = '\0';
}

int dm_error_invalid(const char *function, const char *what)
{
    return dm_error_set(NULL, DBMGMT_ERR_INVALID, "%s: %s", function, what);
}

DBMGMT_API const char *dbmgmt_errmsg(void)
{
    return thread_error.msg;
}

DBMGMT_API int dbmgmt_errcode(void)
{
    return thread_error.code;
}

DBMGMT_API const char *dbmgmt_sqlstate(void)
{
    return thread_error.sqlstate;
}

DBMGMT_API void dbmgmt_error_clear(void)
{
    dm_error_reset(&thread_error);
}

DBMGMT_API const char *dbmgmt_status_name(int status)
{
    switch (status) {
    case DBMGMT_OK: return "DBMGMT_OK";
    case DBMGMT_ERR_INVALID: return "DBMGMT_ERR_INVALID";
    case DBMGMT_ERR_NOMEM: return "DBMGMT_ERR_NOMEM";
    case DBMGMT_ERR_IO: return "DBMGMT_ERR_IO";
    case DBMGMT_ERR_CONNECT: return "DBMGMT_ERR_CONNECT";
    case DBMGMT_ERR_SQL: return "DBMGMT_ERR_SQL";
    case DBMGMT_ERR_TIMEOUT: return "DBMGMT_ERR_TIMEOUT";
    case DBMGMT_ERR_BUSY: return "DBMGMT_ERR_BUSY";
    case DBMGMT_ERR_CHECKSUM: return "DBMGMT_ERR_CHECKSUM";
    case DBMGMT_ERR_DIRTY: return "DBMGMT_ERR_DIRTY";
    case DBMGMT_ERR_POLICY: return "DBMGMT_ERR_POLICY";
    case DBMGMT_ERR_UNSUPPORTED: return "DBMGMT_ERR_UNSUPPORTED";
    case DBMGMT_ERR_NOTFOUND: return "DBMGMT_ERR_NOTFOUND";
    case DBMGMT_ERR_CLOSED: return "DBMGMT_ERR_CLOSED";
    case DBMGMT_ERR_INTERNAL: return "DBMGMT_ERR_INTERNAL";
    case DBMGMT_ERR_PARSE: return "DBMGMT_ERR_PARSE";
    case DBMGMT_ERR_READ_ONLY: return "DBMGMT_ERR_READ_ONLY";
    default: return "DBMGMT_UNKNOWN";
    }
}
