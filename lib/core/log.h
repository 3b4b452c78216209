/* Internal logging through the dbmgmt_set_logger() hook, with redaction. */
#ifndef DM_CORE_LOG_H
#define DM_CORE_LOG_H

#include <stddef.h>
#include "error.h"

/* 1 if a message at level would reach the logger (skip formatting if not). */
int dm_log_enabled(dbmgmt_log_level level);
void dm_log(dbmgmt_log_level level, const char *fmt, ...) DM_PRINTF(2, 3);

/*
 * Replace passwords in text, in place: the user-info password of any URL
 * ("scheme://user:SECRET@"), and the value of password=/pwd=/pass= keywords
 * (libpq keyword strings, query parameters). The replacement is "***" and the
 * text never grows past its buffer: cap is the buffer's size.
 */
void dm_redact(char *text, size_t cap);
/* Replace every occurrence of secret (if non-empty) in text with "***". */
void dm_redact_secret(char *text, size_t cap, const char *secret);

#endif
