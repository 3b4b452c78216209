/*
 * A growable byte buffer, always NUL-terminated. Once an allocation fails the
 * buffer stays failed (appends do nothing) and dm_buf_failed() reports it, so
 * a builder can append freely and check once at the end.
 */
#ifndef DM_CORE_BUF_H
#define DM_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include "error.h"

typedef struct dm_buf {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;
    int failed;
} dm_buf;

#define DM_BUF_INIT {NULL, 0, 0, 0}

int dm_buf_reserve(dm_buf *b, size_t extra); /* 0 or DBMGMT_ERR_NOMEM */
void dm_buf_append(dm_buf *b, const void *data, size_t len);
void dm_buf_puts(dm_buf *b, const char *s);
void dm_buf_putc(dm_buf *b, char c);
void dm_buf_printf(dm_buf *b, const char *fmt, ...) DM_PRINTF(2, 3);
void dm_buf_vprintf(dm_buf *b, const char *fmt, va_list ap);
void dm_buf_clear(dm_buf *b);            /* len = 0, keeps memory */
int dm_buf_failed(const dm_buf *b);
/* Hand the contents to the caller (NULL if failed; "" if empty) and reset b. */
char *dm_buf_detach(dm_buf *b);
void dm_buf_free(dm_buf *b);

#endif
