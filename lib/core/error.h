/*
 * Internal error recording. Every object keeps a dm_error; dm_error_set()
 * fills it (if given) and the calling thread's mirror, and returns the code,
 * so a failing path is `return dm_error_set(&obj->err, DBMGMT_ERR_SQL, ...)`.
 * Messages are redacted (dm_redact) before they are stored.
 */
#ifndef DM_CORE_ERROR_H
#define DM_CORE_ERROR_H

#include "dbmgmt/common.h"

#define DM_ERRMSG_MAX 1024

typedef struct dm_error {
    int code;
    char sqlstate[6];
    char msg[DM_ERRMSG_MAX];
} dm_error;

#if defined(__GNUC__)
#define DM_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define DM_PRINTF(f, a)
#endif

/* Record a failure on err (may be NULL) and on this thread; returns code. */
int dm_error_set(dm_error *err, int code, const char *fmt, ...) DM_PRINTF(3, 4);
/* Same, with a SQLSTATE (may be NULL or ""). */
int dm_error_set_sql(dm_error *err, int code, const char *sqlstate, const char *fmt, ...)
    DM_PRINTF(4, 5);
/* Copy an object's error to another object and to this thread; returns its code. */
int dm_error_copy(dm_error *dst, const dm_error *src);
/* Clear an object's error (not the thread's). */
void dm_error_reset(dm_error *err);
/* Misuse of a public entry point: records DBMGMT_ERR_INVALID naming the function. */
int dm_error_invalid(const char *function, const char *what);

#endif
