/* Growable NUL-terminated buffer with sticky failure. */
#include "buf.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"

int dm_buf_reserve(dm_buf *b, size_t extra)
{
    if (b->failed)
        return DBMGMT_ERR_NOMEM;
    if (extra > SIZE_MAX - b->len - 1)
        goto fail;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return DBMGMT_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *data = dm_realloc(b->data, cap);
    if (!data)
        goto fail;
    b->data = data;
    b->cap = cap;
    return DBMGMT_OK;
fail:
    b->failed = 1;
    return DBMGMT_ERR_NOMEM;
}

void dm_buf_append(dm_buf *b, const void *data, size_t len)
{
    if (dm_buf_reserve(b, len) != DBMGMT_OK)
        return;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void dm_buf_puts(dm_buf *b, const char *s)
{
    dm_buf_append(b, s, strlen(s));
}

void dm_buf_putc(dm_buf *b, char c)
{
    dm_buf_append(b, &c, 1);
}

void dm_buf_vprintf(dm_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if (dm_buf_reserve(b, (size_t)n) != DBMGMT_OK)
        return;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void dm_buf_printf(dm_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dm_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void dm_buf_clear(dm_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

int dm_buf_failed(const dm_buf *b)
{
    return b->failed;
}

char *dm_buf_detach(dm_buf *b)
{
    if (b->failed) {
        dm_buf_free(b);
        return NULL;
    }
    if (!b->data && dm_buf_reserve(b, 0) != DBMGMT_OK) {
        dm_buf_free(b);
        return NULL;
    }
    b->data[b->len] = '\0';
    char *data = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return data;
}

void dm_buf_free(dm_buf *b)
{
    dm_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}
