/*
 * Export files' bytes: a compressed stream written to a file (gzip through
 * zlib, zstd through libzstd when built with it), and read back row by row
 * (JSON Lines or CSV, gzip, zstd or plain, as the file's name says).
 */
#include "archive_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "dm_config.h"
#if DM_HAVE_ZSTD
#include <zstd.h>
#endif

#include "backup/backup_impl.h"
#include "core/alloc.h"

#define CHUNK 65536

/* ---- names ------------------------------------------------------------------ */

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

const char *dm_arch_file_suffix(int32_t format, int32_t compression)
{
    if (format == DBMGMT_ARCHIVE_CSV)
        return compression == DBMGMT_ARCHIVE_ZSTD ? ".csv.zst" : ".csv.gz";
    return compression == DBMGMT_ARCHIVE_ZSTD ? ".jsonl.zst" : ".jsonl.gz";
}

/* The format and compression a file's name says (0: plain). */
static void name_kind(const char *path, int32_t *format, int32_t *compression)
{
    *compression = ends_with(path, ".zst") ? DBMGMT_ARCHIVE_ZSTD
                   : ends_with(path, ".gz") ? DBMGMT_ARCHIVE_GZIP
                                            : 0;
    *format = ends_with(path, ".csv") || ends_with(path, ".csv.gz") ||
                      ends_with(path, ".csv.zst")
                  ? DBMGMT_ARCHIVE_CSV
                  : DBMGMT_ARCHIVE_JSONL;
}

/* ---- writing ---------------------------------------------------------------- */

struct dm_arch_out {
    int fd;
    const char *path;
    gzFile gz;
#if DM_HAVE_ZSTD
    ZSTD_CCtx *z;
    unsigned char *buf;
#endif
};

int dm_arch_out_open(dm_arch_out **out, int fd, int32_t compression, const char *path,
                     dm_error *err)
{
    *out = NULL;
    dm_arch_out *o = dm_calloc(1, sizeof *o);
    if (!o)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory writing '%s'", path);
    o->fd = fd;
    o->path = path;
    if (compression == DBMGMT_ARCHIVE_ZSTD) {
#if DM_HAVE_ZSTD
        o->z = ZSTD_createCCtx();
        o->buf = dm_malloc(ZSTD_CStreamOutSize());
        if (!o->z || !o->buf) {
            dm_arch_out_close(o, NULL);
            return dm_error_set(err, DBMGMT_ERR_NOMEM, "cannot start zstd on '%s'", path);
        }
#else
        dm_free(o);
        return dm_error_set(err, DBMGMT_ERR_UNSUPPORTED, "zstd is not built in (-Dzstd)");
#endif
    } else {
        int gzfd = dup(fd);
        o->gz = gzfd >= 0 ? gzdopen(gzfd, "wb") : NULL;
        if (!o->gz) {
            if (gzfd >= 0)
                close(gzfd);
            dm_free(o);
            return dm_error_set(err, DBMGMT_ERR_NOMEM, "cannot start gzip on '%s'", path);
        }
    }
    *out = o;
    return DBMGMT_OK;
}

#if DM_HAVE_ZSTD
/* Run zstd over in (NULL at the end) and write what it gives. */
static int zstd_push(dm_arch_out *o, const void *data, size_t len, ZSTD_EndDirective mode)
{
    ZSTD_inBuffer in = {data, len, 0};
    for (;;) {
        ZSTD_outBuffer zout = {o->buf, ZSTD_CStreamOutSize(), 0};
        size_t left = ZSTD_compressStream2(o->z, &zout, &in, mode);
        if (ZSTD_isError(left) || dm_bk_write_all(o->fd, o->buf, zout.pos) != 0)
            return -1;
        if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size)
            return 0;
    }
}
#endif

int dm_arch_out_write(dm_arch_out *o, const void *data, size_t len, dm_error *err)
{
#if DM_HAVE_ZSTD
    if (o->z) {
        if (zstd_push(o, data, len, ZSTD_e_continue) != 0)
            return dm_error_set(err, DBMGMT_ERR_IO, "cannot write '%s': %s", o->path,
                                errno ? strerror(errno) : "zstd failed");
        return DBMGMT_OK;
    }
#endif
    if (len > 0 && gzwrite(o->gz, data, (unsigned)len) != (int)len)
        return dm_error_set(err, DBMGMT_ERR_IO, "cannot write '%s'", o->path);
    return DBMGMT_OK;
}

int dm_arch_out_close(dm_arch_out *o, dm_error *err)
{
    if (!o)
        return DBMGMT_OK;
    int ok = 1;
#if DM_HAVE_ZSTD
    if (o->z) {
        ok = !err || zstd_push(o, NULL, 0, ZSTD_e_end) == 0; /* err NULL: abandon */
        ZSTD_freeCCtx(o->z);
    }
    dm_free(o->buf);
#endif
    if (o->gz)
        ok = gzclose(o->gz) == Z_OK;
    const char *path = o->path;
    dm_free(o);
    if (!ok && err)
        return dm_error_set(err, DBMGMT_ERR_IO, "cannot finish '%s'", path);
    return DBMGMT_OK;
}

/* ---- reading ---------------------------------------------------------------- */

struct dm_arch_reader {
    const char *path;
    int32_t format;
    gzFile gz; /* gzip or plain */
#if DM_HAVE_ZSTD
    int fd;
    ZSTD_DCtx *z;
    unsigned char *in;
    ZSTD_inBuffer inb;
    int in_eof;
#endif
    dm_buf buf; /* bytes read and not yet returned, from at */
    size_t at;
    int eof;
    int64_t lineno;   /* physical lines returned */
    dm_arch_line header; /* CSV: the names */
    dm_buf record;    /* CSV: a record over several lines */
};

int dm_arch_reader_open(dm_arch_reader **out, const char *path, dm_error *err)
{
    *out = NULL;
    dm_arch_reader *r = dm_calloc(1, sizeof *r);
    if (!r)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory opening '%s'", path);
    r->path = path;
    int32_t compression;
    name_kind(path, &r->format, &compression);
    if (compression == DBMGMT_ARCHIVE_ZSTD) {
#if DM_HAVE_ZSTD
        r->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (r->fd < 0) {
            int saved = errno;
            dm_free(r);
            return dm_error_set(err, DBMGMT_ERR_IO, "cannot open '%s': %s", path,
                                strerror(saved));
        }
        r->z = ZSTD_createDCtx();
        r->in = dm_malloc(CHUNK);
        if (!r->z || !r->in) {
            dm_arch_reader_close(r);
            return dm_error_set(err, DBMGMT_ERR_NOMEM, "cannot start zstd on '%s'", path);
        }
        r->inb.src = r->in;
#else
        dm_free(r);
        return dm_error_set(err, DBMGMT_ERR_UNSUPPORTED,
                            "'%s': zstd is not built in (-Dzstd)", path);
#endif
    } else {
        r->gz = gzopen(path, "rb");
        if (!r->gz) {
            int saved = errno;
            dm_free(r);
            return dm_error_set(err, DBMGMT_ERR_IO, "cannot open '%s': %s", path,
                                saved ? strerror(saved) : "out of memory");
        }
    }
    *out = r;
    return DBMGMT_OK;
}

void dm_arch_reader_close(dm_arch_reader *r)
{
    if (!r)
        return;
    if (r->gz)
        gzclose(r->gz);
#if DM_HAVE_ZSTD
    if (r->z) {
        ZSTD_freeDCtx(r->z);
        close(r->fd);
    }
    dm_free(r->in);
#endif
    dm_arch_line_free(&r->header);
    dm_buf_free(&r->record);
    dm_buf_free(&r->buf);
    dm_free(r);
}

#if DM_HAVE_ZSTD
/* Up to cap decompressed bytes into dst; 0 at the end of the file. */
static ssize_t zstd_read(dm_arch_reader *r, char *dst, size_t cap, const char **why)
{
    ZSTD_outBuffer zout = {dst, cap, 0};
    while (zout.pos == 0) {
        if (r->inb.pos == r->inb.size) {
            if (r->in_eof)
                return 0;
            ssize_t got = read(r->fd, r->in, CHUNK);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0) {
                *why = strerror(errno);
                return -1;
            }
            r->inb.size = (size_t)got;
            r->inb.pos = 0;
            r->in_eof = got == 0;
            if (got == 0)
                return 0;
        }
        size_t rc = ZSTD_decompressStream(r->z, &zout, &r->inb);
        if (ZSTD_isError(rc)) {
            *why = ZSTD_getErrorName(rc);
            return -1;
        }
    }
    return (ssize_t)zout.pos;
}
#endif

/* Keep the unread tail at the start of the buffer and read more. */
static int reader_fill(dm_arch_reader *r, dm_error *err)
{
    size_t keep = r->buf.len - r->at;
    if (r->at > 0) {
        memmove(r->buf.data, r->buf.data + r->at, keep);
        r->buf.len = keep;
        r->at = 0;
    }
    if (dm_buf_reserve(&r->buf, CHUNK) != DBMGMT_OK)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading '%s'", r->path);
    ssize_t got;
    const char *why = "";
#if DM_HAVE_ZSTD
    if (r->z)
        got = zstd_read(r, r->buf.data + r->buf.len, CHUNK, &why);
    else
#endif
    {
        int zerr = 0;
        got = gzread(r->gz, r->buf.data + r->buf.len, CHUNK);
        if (got < 0)
            why = gzerror(r->gz, &zerr);
    }
    if (got < 0)
        return dm_error_set(err, DBMGMT_ERR_IO, "cannot read '%s': %s", r->path, why);
    if (got == 0)
        r->eof = 1;
    r->buf.len += (size_t)got;
    r->buf.data[r->buf.len] = '\0';
    return DBMGMT_OK;
}

int dm_arch_reader_next(dm_arch_reader *r, const char **line, size_t *len, dm_error *err)
{
    for (;;) {
        char *start = r->buf.data ? r->buf.data + r->at : NULL;
        size_t avail = r->buf.len - r->at;
        char *nl = start ? memchr(start, '\n', avail) : NULL;
        if (nl || (r->eof && avail > 0)) {
            size_t n = nl ? (size_t)(nl - start) : avail;
            *line = start;
            *len = n;
            r->at += nl ? n + 1 : n;
            r->lineno++;
            return 1;
        }
        if (r->eof)
            return 0;
        int rc = reader_fill(r, err);
        if (rc != DBMGMT_OK)
            return rc;
    }
}

/* CSV: the next record's text (its lines joined while a quote is open)
 * into r->record, without the line end. 1, 0 at the end, < 0 error. */
static int csv_record_text(dm_arch_reader *r, int64_t *first_line, dm_error *err)
{
    dm_buf_clear(&r->record);
    int quoted = 0, any = 0;
    const char *text;
    size_t len;
    int rc;
    while ((rc = dm_arch_reader_next(r, &text, &len, err)) == 1) {
        if (!any)
            *first_line = r->lineno;
        if (any)
            dm_buf_putc(&r->record, '\n');
        any = 1;
        for (size_t i = 0; i < len; i++)
            quoted ^= text[i] == '"';
        dm_buf_append(&r->record, text, len);
        if (!quoted)
            break;
    }
    if (rc < 0)
        return rc;
    if (!any)
        return 0;
    if (dm_buf_failed(&r->record))
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading '%s'", r->path);
    if (quoted)
        return dm_error_set(err, DBMGMT_ERR_PARSE, "'%s' line %lld: a quoted field never ends",
                            r->path, (long long)*first_line);
    if (r->record.len > 0 && r->record.data[r->record.len - 1] == '\r')
        r->record.data[--r->record.len] = '\0'; /* a CRLF file */
    return 1;
}

int dm_arch_reader_row(dm_arch_reader *r, dm_arch_line *row, int64_t *lineno, dm_error *err)
{
    int rc;
    if (r->format == DBMGMT_ARCHIVE_JSONL) {
        const char *text;
        size_t len;
        if ((rc = dm_arch_reader_next(r, &text, &len, err)) != 1)
            return rc;
        *lineno = r->lineno;
        rc = dm_arch_line_parse(row, text, len, err, r->path, r->lineno);
        return rc == DBMGMT_OK ? 1 : rc;
    }
    if (r->header.count == 0) { /* the first record: the names */
        if ((rc = csv_record_text(r, lineno, err)) != 1)
            return rc;
        rc = dm_arch_csv_parse(&r->header, NULL, r->record.data, r->record.len, err, r->path,
                               *lineno);
        if (rc != DBMGMT_OK)
            return rc;
    }
    if ((rc = csv_record_text(r, lineno, err)) != 1)
        return rc;
    rc = dm_arch_csv_parse(row, &r->header, r->record.data, r->record.len, err, r->path,
                           *lineno);
    return rc == DBMGMT_OK ? 1 : rc;
}
