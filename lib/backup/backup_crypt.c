/*
 * Encryption at rest of the backups the library writes itself (issue 21,
 * docs/backup-encryption.md): libsodium's
 * crypto_secretstream_xchacha20poly1305, with the key the host gives
 * (dbmgmt_backup_set_key, dbmgmt_backup_set_key_file), kept in
 * sodium_malloc-ed memory and wiped when freed or replaced.
 *
 * File format, version 1 (all integers big-endian):
 *   0   8  magic "DBMGMTEN"
 *   8   1  format version (1)
 *   9   3  reserved, zero
 *   12  4  plaintext bytes per chunk (65536)
 *   16  16 key id: BLAKE2b-128 keyed by the key over "libdbmgmt backup key id"
 *   32  24 the secretstream header
 *   56  .. chunks: each the ciphertext of 65536 plaintext bytes (the last
 *          fewer, possibly none) plus 17 bytes of tag and MAC; the last
 *          carries TAG_FINAL. The first 32 bytes are the additional data of
 *          every chunk, so a changed header fails authentication too.
 * A stream without a FINAL chunk is truncated; bytes after it are refused.
 *
 * Plaintext only ever exists in a 0600 temporary file in the backup folder
 * named like a partial file (".NAME.plain.partial-PID.N": a scheduler started
 * after a crash removes it), unlinked on every path.
 */
#include "backup_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/sha256.h"
#include "dm_config.h"

#if DM_HAVE_SODIUM
#include <sodium.h>
#endif

char *dm_bk_plain_temp(const dbmgmt_backup *b, const char *name)
{
    /* A sequence number after the pid: two schedulers of one process on one
     * folder may verify the same backup at once (the cleanup of dead
     * processes' files reads only the pid). */
    static atomic_ulong seq;
    char tmp[400];
    if ((size_t)snprintf(tmp, sizeof tmp, ".%s.plain%s%ld.%lu", name, DM_BACKUP_PARTIAL,
                         (long)getpid(), atomic_fetch_add(&seq, 1)) >= sizeof tmp)
        return NULL;
    return dm_bk_path(b->dir, tmp);
}

int dm_bk_create_private(const char *path, dm_error *err)
{
    unlink(path); /* a leftover of this process's own, never another's */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return dm_error_set(err, DBMGMT_ERR_IO, "cannot create '%s': %s", path,
                            strerror(errno));
    return fd;
}

int dm_bk_is_encrypted(const dm_bk_entry *e)
{
    return dm_bk_attrs_get(&e->attrs, "encryption") != NULL;
}

#if DM_HAVE_SODIUM

#define CHUNK 65536
/* The ciphertext is sent to disk every this many bytes as it is written
 * (dm_bk_start_writeback): the fsync after it then waits for the tail, not
 * the whole file (0.6 s a GB here). */
#define WRITEBACK_STEP ((int64_t)16 << 20)
#define ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define FIXED_LEN 32
#define HEADER_LEN (FIXED_LEN + crypto_secretstream_xchacha20poly1305_HEADERBYTES)
#define KEY_ID_LEN 16

static const unsigned char magic[8] = {'D', 'B', 'M', 'G', 'M', 'T', 'E', 'N'};
static const char key_id_context[] = "libdbmgmt backup key id";

struct dm_bk_key {
    unsigned char key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
    unsigned char id[KEY_ID_LEN];
    char id_hex[2 * KEY_ID_LEN + 1];
};

void dm_bk_key_free(dm_bk_key *k)
{
    if (k)
        sodium_free(k); /* zeroes the memory first */
}

static int set_key_locked(dbmgmt_backup *b, const unsigned char *key, size_t len)
{
    if (!key && len == 0) {
        dm_bk_key_free(b->key);
        b->key = NULL;
        return DBMGMT_OK;
    }
    if (!key || len != crypto_secretstream_xchacha20poly1305_KEYBYTES)
        return dm_error_set(&b->err, DBMGMT_ERR_INVALID,
                            "dbmgmt_backup_set_key: a key is %d bytes, not %zu (or NULL and 0 "
                            "to turn encryption off)",
                            (int)crypto_secretstream_xchacha20poly1305_KEYBYTES, len);
    if (sodium_init() < 0)
        return dm_error_set(&b->err, DBMGMT_ERR_INTERNAL, "libsodium failed to initialise");
    dm_bk_key *k = sodium_malloc(sizeof *k);
    if (!k)
        return dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory for the backup key");
    memcpy(k->key, key, sizeof k->key);
    crypto_generichash(k->id, sizeof k->id, (const unsigned char *)key_id_context,
                       strlen(key_id_context), k->key, sizeof k->key);
    sodium_bin2hex(k->id_hex, sizeof k->id_hex, k->id, sizeof k->id);
    dm_bk_key_free(b->key);
    b->key = k;
    return DBMGMT_OK;
}

int dm_bk_key_passphrase(const dm_bk_key *k, const char *context, char out[65])
{
    unsigned char pass[32];
    crypto_generichash(pass, sizeof pass, (const unsigned char *)context, strlen(context), k->key,
                       sizeof k->key);
    sodium_bin2hex(out, 65, pass, sizeof pass);
    sodium_memzero(pass, sizeof pass);
    return DBMGMT_OK;
}

/* pgBackRest fixes a repository's cipher when the stanza is created. */
static int key_after_engine(dbmgmt_backup *b)
{
    if (b->engine_id != DM_BK_ENGINE_PGBACKREST)
        return DBMGMT_OK;
    return dm_error_set(&b->err, DBMGMT_ERR_POLICY,
                        "dbmgmt_backup_set_key: set the key before "
                        "dbmgmt_backup_set_engine(\"pgbackrest\"): pgBackRest fixes its "
                        "repository's cipher when the stanza is created");
}

DBMGMT_API int dbmgmt_backup_set_key(dbmgmt_backup *b, const unsigned char *key, size_t len)
{
    if (!b)
        return dm_error_invalid("dbmgmt_backup_set_key", "b is NULL");
    dm_bk_lock(b);
    dm_error_reset(&b->err);
    int rc = key_after_engine(b);
    if (rc == DBMGMT_OK)
        rc = set_key_locked(b, key, len);
    dm_bk_unlock(b);
    return rc;
}

/* 32 raw bytes, or 64 hex characters and an optional newline. */
static int parse_key_file(const unsigned char *buf, size_t n, unsigned char key[32])
{
    if (n == 32) {
        memcpy(key, buf, 32);
        return 0;
    }
    if (n != 64 && !(n == 65 && buf[64] == '\n'))
        return -1;
    size_t bin_len = 0;
    const char *end = NULL;
    if (sodium_hex2bin(key, 32, (const char *)buf, 64, NULL, &bin_len, &end) != 0 ||
        bin_len != 32 || end != (const char *)buf + 64)
        return -1;
    return 0;
}

static int read_key_file(dbmgmt_backup *b, const char *path, unsigned char key[32])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dm_error_set(&b->err, errno == ENOENT ? DBMGMT_ERR_NOTFOUND : DBMGMT_ERR_IO,
                            "cannot open the key file '%s': %s", path, strerror(errno));
    struct stat st;
    int rc = DBMGMT_OK;
    if (fstat(fd, &st) != 0)
        rc = dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot stat the key file '%s': %s", path,
                          strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = dm_error_set(&b->err, DBMGMT_ERR_INVALID, "the key file '%s' is not a regular file",
                          path);
    else if (st.st_mode & 077)
        rc = dm_error_set(&b->err, DBMGMT_ERR_POLICY,
                          "the key file '%s' is accessible by group or others (mode %03o): "
                          "make it private (chmod 600)",
                          path, (unsigned)(st.st_mode & 0777));
    unsigned char buf[80];
    size_t n = 0;
    while (rc == DBMGMT_OK && n < sizeof buf) {
        ssize_t got = read(fd, buf + n, sizeof buf - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            rc = dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot read the key file '%s': %s", path,
                              strerror(errno));
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    if (rc == DBMGMT_OK && parse_key_file(buf, n, key) != 0)
        rc = dm_error_set(&b->err, DBMGMT_ERR_PARSE,
                          "the key file '%s' must hold exactly 32 raw bytes or 64 hex "
                          "characters and an optional newline (it has %zu%s bytes)",
                          path, n, n == sizeof buf ? " or more" : "");
    sodium_memzero(buf, sizeof buf);
    return rc;
}

DBMGMT_API int dbmgmt_backup_set_key_file(dbmgmt_backup *b, const char *path)
{
    if (!b || !path)
        return dm_error_invalid("dbmgmt_backup_set_key_file", "b or path is NULL");
    if (sodium_init() < 0)
        return dm_error_set(NULL, DBMGMT_ERR_INTERNAL, "libsodium failed to initialise");
    dm_bk_lock(b);
    dm_error_reset(&b->err);
    unsigned char *key = sodium_malloc(32);
    int rc = key_after_engine(b);
    if (rc == DBMGMT_OK)
        rc = key ? read_key_file(b, path, key)
                 : dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory for the backup key");
    if (rc == DBMGMT_OK)
        rc = set_key_locked(b, key, 32);
    if (key)
        sodium_free(key);
    dm_bk_unlock(b);
    return rc;
}

/* ---- streams ------------------------------------------------------------------------- */

/* Up to n bytes (fewer only at the end of the file); -1 on error. */
static ssize_t read_full(int fd, unsigned char *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

typedef struct stream_bufs {
    unsigned char *plain;  /* CHUNK */
    unsigned char *cipher; /* CHUNK + ABYTES + 1 */
} stream_bufs;

static int bufs_alloc(stream_bufs *s, dm_error *err)
{
    s->plain = dm_malloc(CHUNK);
    s->cipher = dm_malloc(CHUNK + ABYTES + 1);
    if (s->plain && s->cipher)
        return DBMGMT_OK;
    dm_free(s->plain);
    dm_free(s->cipher);
    s->plain = s->cipher = NULL; /* bufs_free after a failure frees nothing twice */
    return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory encrypting a backup");
}

static void bufs_free(stream_bufs *s)
{
    if (s->plain)
        sodium_memzero(s->plain, CHUNK);
    dm_free(s->plain);
    dm_free(s->cipher);
}

/* Encrypt the open plaintext in (size bytes) to out, publishing to sums
 * how much is written (its thread hashes the file behind this one). */
static int encrypt_stream(const dm_bk_key *k, int in, int64_t size, int out,
                          dm_bk_bg_sums *sums, const char *plain_path, const char *cipher_path,
                          dm_error *err)
{
    unsigned char header[HEADER_LEN];
    memset(header, 0, sizeof header);
    memcpy(header, magic, sizeof magic);
    header[8] = 1;
    put_be32(header + 12, CHUNK);
    memcpy(header + 16, k->id, KEY_ID_LEN);
    crypto_secretstream_xchacha20poly1305_state st;
    crypto_secretstream_xchacha20poly1305_init_push(&st, header + FIXED_LEN, k->key);
    stream_bufs s;
    int rc = bufs_alloc(&s, err);
    if (rc != DBMGMT_OK)
        return rc;
    if (dm_bk_write_all(out, header, sizeof header) != 0)
        rc = dm_error_set(err, DBMGMT_ERR_IO, "cannot write '%s': %s", cipher_path,
                          strerror(errno));
    int64_t written = (int64_t)sizeof header, flushed = 0;
    int64_t left = size;
    do {
        if (rc != DBMGMT_OK)
            break;
        size_t len = left > CHUNK ? CHUNK : (size_t)left;
        ssize_t got = read_full(in, s.plain, len);
        if (got != (ssize_t)len) {
            rc = dm_error_set(err, DBMGMT_ERR_IO, "cannot read '%s': %s", plain_path,
                              got < 0 ? strerror(errno) : "it shrank while being encrypted");
            break;
        }
        left -= (int64_t)len;
        unsigned char tag = left == 0 ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0;
        unsigned long long clen = 0;
        crypto_secretstream_xchacha20poly1305_push(&st, s.cipher, &clen, s.plain, len, header,
                                                   FIXED_LEN, tag);
        if (dm_bk_write_all(out, s.cipher, (size_t)clen) != 0)
            rc = dm_error_set(err, DBMGMT_ERR_IO, "cannot write '%s': %s", cipher_path,
                              strerror(errno));
        written += (int64_t)clen;
        dm_bk_bg_sums_wrote(sums, written, 0);
        if (written - flushed >= WRITEBACK_STEP || left == 0) {
            dm_bk_start_writeback(out, flushed, written);
            flushed = written;
        }
    } while (left > 0);
    if (rc == DBMGMT_OK && read_full(in, s.plain, 1) != 0)
        rc = dm_error_set(err, DBMGMT_ERR_IO, "'%s' grew while being encrypted", plain_path);
    sodium_memzero(&st, sizeof st);
    bufs_free(&s);
    return rc;
}

int dm_bk_encrypt_file_with(const dm_bk_key *key, const char *plain_path,
                            const char *cipher_path, dm_bk_attrs *attrs,
                            dm_bk_sum *cipher_sum, dm_error *err)
{
    if (!key)
        return dm_error_set(err, DBMGMT_ERR_INTERNAL, "no backup key to encrypt with");
    int in = open(plain_path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return dm_error_set(err, DBMGMT_ERR_IO, "cannot open '%s': %s", plain_path,
                            strerror(errno));
    struct stat st;
    if (fstat(in, &st) != 0) {
        int rc = dm_error_set(err, DBMGMT_ERR_IO, "cannot stat '%s': %s", plain_path,
                              strerror(errno));
        close(in);
        return rc;
    }
    int out = open(cipher_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        int rc = dm_error_set(err, DBMGMT_ERR_IO, "cannot create '%s': %s", cipher_path,
                              strerror(errno));
        close(in);
        return rc;
    }
    /* The plaintext's SHA-256, then the ciphertext's, on a thread of its
     * own while this one encrypts: the plaintext from its file (private,
     * written by nobody any more), the ciphertext from its file behind this
     * thread's writes (backup_bghash.c). Two passes less on this thread. */
    dm_bk_bg_sums h;
    dm_bk_bg_sums_start(&h, plain_path, cipher_path);
    int rc = encrypt_stream(key, in, (int64_t)st.st_size, out, &h, plain_path, cipher_path,
                            err);
    dm_bk_bg_sums_wrote(&h, h.written, 1);
    close(in);
    if (close(out) != 0 && rc == DBMGMT_OK)
        rc = dm_error_set(err, DBMGMT_ERR_IO, "cannot write '%s': %s", cipher_path,
                          strerror(errno));
    int hash_rc = dm_bk_bg_sums_join(&h);
    if (rc != DBMGMT_OK)
        return rc;
    if (hash_rc != DBMGMT_OK)
        return dm_error_set(err, hash_rc, "%s", h.task.err.msg);
    if (h.plain_sum.size != (int64_t)st.st_size)
        return dm_error_set(err, DBMGMT_ERR_IO, "'%s' changed while being encrypted",
                            plain_path);
    *cipher_sum = h.cipher_sum;
    char size[32];
    const char *hex = h.plain_sum.hex;
    snprintf(size, sizeof size, "%lld", (long long)st.st_size);
    if (dm_bk_attrs_set(attrs, "encryption", DM_BK_ENCRYPTION) != DBMGMT_OK ||
        dm_bk_attrs_set(attrs, "plain_size", size) != DBMGMT_OK ||
        dm_bk_attrs_set(attrs, "plain_sha256", hex) != DBMGMT_OK ||
        dm_bk_attrs_set(attrs, "key_id", key->id_hex) != DBMGMT_OK)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory");
    return DBMGMT_OK;
}

int dm_bk_encrypt_file(dbmgmt_backup *b, const char *plain_path, const char *cipher_path,
                       dm_bk_attrs *attrs, dm_bk_sum *cipher_sum)
{
    return dm_bk_encrypt_file_with(b->key, plain_path, cipher_path, attrs, cipher_sum,
                                   &b->err);
}

/* The header of e's file: format, and the key id against the catalog's. */
static int check_header(const dm_bk_key *key, const dm_bk_entry *e, const unsigned char *h,
                        ssize_t got, dm_error *err)
{
    if (got < (ssize_t)HEADER_LEN) /* ssize_t is int on 32-bit ARM: compare signed */
        return dm_error_set(err, DBMGMT_ERR_CHECKSUM,
                            "backup %s: truncated (%zd bytes, shorter than the %d-byte header)",
                            e->id, got, (int)HEADER_LEN);
    if (memcmp(h, magic, sizeof magic) != 0)
        return dm_error_set(err, DBMGMT_ERR_CHECKSUM,
                            "backup %s: '%s' is not an encrypted backup (bad magic)", e->id,
                            e->file);
    if (h[8] != 1)
        return dm_error_set(err, DBMGMT_ERR_CHECKSUM,
                            "backup %s: unknown encryption format version %d", e->id, h[8]);
    if (h[9] || h[10] || h[11] || get_be32(h + 12) != CHUNK)
        return dm_error_set(err, DBMGMT_ERR_CHECKSUM,
                            "backup %s: the encryption header was altered", e->id);
    char hex[2 * KEY_ID_LEN + 1];
    sodium_bin2hex(hex, sizeof hex, h + 16, KEY_ID_LEN);
    if (strcmp(hex, key->id_hex) != 0)
        return dm_error_set(err, DBMGMT_ERR_CHECKSUM,
                            "backup %s: the key id in its header (%s) is not the catalog's: "
                            "the file was altered", e->id, hex);
    return DBMGMT_OK;
}

/* The next len bytes of the plaintext file cmp are exactly p (cmp_buf: a
 * CHUNK-sized buffer). */
static int same_as_file(int cmp, unsigned char *cmp_buf, const unsigned char *p, size_t len)
{
    return read_full(cmp, cmp_buf, len) == (ssize_t)len && memcmp(cmp_buf, p, len) == 0;
}

/* Decrypt in (past the header) to out, authenticating every chunk, and
 * hash the plaintext into sha unless it is NULL. out < 0: write nothing;
 * cmp >= 0: the plaintext must be exactly the file cmp's content. */
static int decrypt_stream(const dm_bk_key *key, const dm_bk_entry *e, int in, int out, int cmp,
                          const unsigned char *header, int64_t *total, dm_sha256 *sha,
                          const char *plain_path, dm_error *err)
{
    crypto_secretstream_xchacha20poly1305_state st;
    if (crypto_secretstream_xchacha20poly1305_init_pull(&st, header + FIXED_LEN,
                                                        key->key) != 0)
        return dm_error_set(err, DBMGMT_ERR_CHECKSUM,
                            "backup %s: invalid secretstream header", e->id);
    stream_bufs s;
    int rc = bufs_alloc(&s, err);
    unsigned char *cmp_buf = NULL;
    if (rc == DBMGMT_OK && cmp >= 0 && !(cmp_buf = dm_malloc(CHUNK)))
        rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory checking a backup");
    for (long chunk = 1; rc == DBMGMT_OK; chunk++) {
        ssize_t got = read_full(in, s.cipher, CHUNK + ABYTES);
        if (got < 0) {
            rc = dm_error_set(err, DBMGMT_ERR_IO, "backup %s: cannot read '%s': %s", e->id,
                              e->file, strerror(errno));
            break;
        }
        if (got < (ssize_t)ABYTES) {
            rc = dm_error_set(err, DBMGMT_ERR_CHECKSUM,
                              "backup %s: truncated: no final chunk (%ld chunks read)", e->id,
                              chunk - 1);
            break;
        }
        unsigned long long plen = 0;
        unsigned char tag = 0;
        if (crypto_secretstream_xchacha20poly1305_pull(&st, s.plain, &plen, &tag, s.cipher,
                                                       (unsigned long long)got, header,
                                                       FIXED_LEN) != 0) {
            rc = dm_error_set(err, DBMGMT_ERR_CHECKSUM,
                              "backup %s: authentication failed at chunk %ld (the file was "
                              "altered or truncated)", e->id, chunk);
            break;
        }
        if (sha)
            dm_sha256_update(sha, s.plain, (size_t)plen);
        if (cmp >= 0 && !same_as_file(cmp, cmp_buf, s.plain, (size_t)plen)) {
            rc = dm_error_set(err, DBMGMT_ERR_CHECKSUM,
                              "backup %s: chunk %ld does not decrypt to the plaintext it was "
                              "encrypted from", e->id, chunk);
            break;
        }
        *total += (int64_t)plen;
        if (out >= 0 && dm_bk_write_all(out, s.plain, (size_t)plen) != 0) {
            rc = dm_error_set(err, DBMGMT_ERR_IO, "cannot write '%s': %s", plain_path,
                              strerror(errno));
            break;
        }
        if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
            if (read_full(in, s.cipher, 1) != 0)
                rc = dm_error_set(err, DBMGMT_ERR_CHECKSUM,
                                  "backup %s: data after the final chunk (%ld)", e->id, chunk);
            else if (cmp >= 0 && read_full(cmp, cmp_buf, 1) != 0)
                rc = dm_error_set(err, DBMGMT_ERR_CHECKSUM,
                                  "backup %s: it decrypts to less than the plaintext it was "
                                  "encrypted from", e->id);
            break;
        }
    }
    sodium_memzero(&st, sizeof st);
    bufs_free(&s);
    if (cmp_buf)
        sodium_memzero(cmp_buf, CHUNK);
    dm_free(cmp_buf);
    return rc;
}

/* The plaintext's size and SHA-256 against the catalog's. */
static int check_plain(const dm_bk_entry *e, int64_t total, dm_sha256 *sha, dm_error *err)
{
    char hex[65];
    dm_sha256_final_hex(sha, hex);
    return dm_bk_plain_sum_ok(e, total, hex, err);
}

static int no_key_or_wrong_key(dbmgmt_backup *b, const dm_bk_entry *e)
{
    const char *scheme = dm_bk_attrs_get(&e->attrs, "encryption");
    if (strcmp(scheme, DM_BK_ENCRYPTION) != 0)
        return dm_error_set(&b->err, DBMGMT_ERR_UNSUPPORTED,
                            "backup %s is encrypted with an unknown scheme '%s'", e->id, scheme);
    if (!b->key)
        return dm_error_set(&b->err, DBMGMT_ERR_INVALID,
                            "backup %s is encrypted: no key is set (dbmgmt_backup_set_key or "
                            "dbmgmt_backup_set_key_file)", e->id);
    const char *id = dm_bk_attrs_get(&e->attrs, "key_id");
    if (!id || strcmp(id, b->key->id_hex) != 0)
        return dm_error_set(&b->err, DBMGMT_ERR_INVALID,
                            "backup %s was encrypted with another key (key id %s; the key set "
                            "has id %s)", e->id, id ? id : "unknown", b->key->id_hex);
    return DBMGMT_OK;
}

/* check: the plaintext's size and SHA-256 against the catalog's, else
 * only its size into *total (the caller checks the sum). */
static int decrypt_temp(dbmgmt_backup *b, const dm_bk_entry *e, const char *path,
                        char **plain_path, int64_t *plain_size, int check)
{
    *plain_path = NULL;
    int rc = no_key_or_wrong_key(b, e);
    if (rc != DBMGMT_OK)
        return rc;
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return dm_error_set(&b->err, DBMGMT_ERR_IO, "backup %s: cannot open '%s': %s", e->id,
                            path, strerror(errno));
    unsigned char header[HEADER_LEN];
    rc = check_header(b->key, e, header, read_full(in, header, sizeof header), &b->err);
    char *tmp = rc == DBMGMT_OK ? dm_bk_plain_temp(b, e->file) : NULL;
    if (rc == DBMGMT_OK && !tmp)
        rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    int out = rc == DBMGMT_OK ? dm_bk_create_private(tmp, &b->err) : -1;
    if (out < 0 && rc == DBMGMT_OK)
        rc = out;
    int64_t total = 0;
    dm_sha256 sha;
    dm_sha256_init(&sha);
    if (rc == DBMGMT_OK)
        rc = decrypt_stream(b->key, e, in, out, -1, header, &total, check ? &sha : NULL, tmp,
                            &b->err);
    close(in);
    if (out >= 0 && close(out) != 0 && rc == DBMGMT_OK)
        rc = dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    if (rc == DBMGMT_OK && check)
        rc = check_plain(e, total, &sha, &b->err);
    *plain_size = total;
    if (rc != DBMGMT_OK) {
        if (tmp)
            unlink(tmp);
        dm_free(tmp);
        return rc;
    }
    *plain_path = tmp;
    return DBMGMT_OK;
}

int dm_bk_decrypt_to_temp(dbmgmt_backup *b, const dm_bk_entry *e, const char *path,
                          char **plain_path)
{
    int64_t total = 0;
    return decrypt_temp(b, e, path, plain_path, &total, 1);
}

int dm_bk_decrypt_to_temp_unchecked(dbmgmt_backup *b, const dm_bk_entry *e, const char *path,
                                    char **plain_path, int64_t *plain_size)
{
    return decrypt_temp(b, e, path, plain_path, plain_size, 0);
}

int dm_bk_authenticate(const dm_bk_key *key, const dm_bk_entry *e, const char *path,
                       const char *plain, dm_error *err)
{
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return dm_error_set(err, DBMGMT_ERR_IO, "backup %s: cannot open '%s': %s", e->id, path,
                            strerror(errno));
    int cmp = open(plain, O_RDONLY | O_CLOEXEC);
    if (cmp < 0) {
        close(in);
        return dm_error_set(err, DBMGMT_ERR_IO, "backup %s: cannot open '%s': %s", e->id,
                            plain, strerror(errno));
    }
    unsigned char header[HEADER_LEN];
    int rc = check_header(key, e, header, read_full(in, header, sizeof header), err);
    int64_t total = 0;
    if (rc == DBMGMT_OK)
        rc = decrypt_stream(key, e, in, -1, cmp, header, &total, NULL, NULL, err);
    close(in);
    close(cmp);
    return rc;
}

#else /* !DM_HAVE_SODIUM */

#define NO_SODIUM "libdbmgmt was built without libsodium: backups cannot be encrypted"

void dm_bk_key_free(dm_bk_key *k)
{
    (void)k;
}

int dm_bk_key_passphrase(const dm_bk_key *k, const char *context, char out[65])
{
    (void)k;
    (void)context;
    out[0] = '\0';
    return DBMGMT_ERR_UNSUPPORTED; /* no key can be set without libsodium */
}

DBMGMT_API int dbmgmt_backup_set_key(dbmgmt_backup *b, const unsigned char *key, size_t len)
{
    if (!b)
        return dm_error_invalid("dbmgmt_backup_set_key", "b is NULL");
    if (!key && len == 0)
        return DBMGMT_OK; /* encryption off: it is */
    dm_bk_lock(b);
    int rc = dm_error_set(&b->err, DBMGMT_ERR_UNSUPPORTED, "dbmgmt_backup_set_key: " NO_SODIUM);
    dm_bk_unlock(b);
    return rc;
}

DBMGMT_API int dbmgmt_backup_set_key_file(dbmgmt_backup *b, const char *path)
{
    if (!b || !path)
        return dm_error_invalid("dbmgmt_backup_set_key_file", "b or path is NULL");
    dm_bk_lock(b);
    int rc = dm_error_set(&b->err, DBMGMT_ERR_UNSUPPORTED,
                          "dbmgmt_backup_set_key_file('%s'): " NO_SODIUM, path);
    dm_bk_unlock(b);
    return rc;
}

int dm_bk_encrypt_file_with(const dm_bk_key *key, const char *plain_path,
                            const char *cipher_path, dm_bk_attrs *attrs,
                            dm_bk_sum *cipher_sum, dm_error *err)
{
    (void)key, (void)plain_path, (void)cipher_path, (void)attrs, (void)cipher_sum;
    return dm_error_set(err, DBMGMT_ERR_UNSUPPORTED, NO_SODIUM);
}

int dm_bk_encrypt_file(dbmgmt_backup *b, const char *plain_path, const char *cipher_path,
                       dm_bk_attrs *attrs, dm_bk_sum *cipher_sum)
{
    return dm_bk_encrypt_file_with(b->key, plain_path, cipher_path, attrs, cipher_sum,
                                   &b->err);
}

int dm_bk_decrypt_to_temp(dbmgmt_backup *b, const dm_bk_entry *e, const char *path,
                          char **plain_path)
{
    (void)path;
    *plain_path = NULL;
    return dm_error_set(&b->err, DBMGMT_ERR_UNSUPPORTED,
                        "backup %s is encrypted, and libdbmgmt was built without libsodium",
                        e->id);
}

int dm_bk_decrypt_to_temp_unchecked(dbmgmt_backup *b, const dm_bk_entry *e, const char *path,
                                    char **plain_path, int64_t *plain_size)
{
    *plain_size = 0;
    return dm_bk_decrypt_to_temp(b, e, path, plain_path);
}

int dm_bk_authenticate(const dm_bk_key *key, const dm_bk_entry *e, const char *path,
                       const char *plain, dm_error *err)
{
    (void)key, (void)path, (void)plain;
    return dm_error_set(err, DBMGMT_ERR_UNSUPPORTED,
                        "backup %s is encrypted, and libdbmgmt was built without libsodium",
                        e->id);
}

#endif

int dm_bk_check_plain_sum(dbmgmt_backup *b, const dm_bk_entry *e, int64_t size, const char *hex)
{
    return dm_bk_plain_sum_ok(e, size, hex, &b->err);
}

int dm_bk_plain_sum_ok(const dm_bk_entry *e, int64_t size, const char *hex, dm_error *err)
{
    const char *want_size = dm_bk_attrs_get(&e->attrs, "plain_size");
    const char *want_sha = dm_bk_attrs_get(&e->attrs, "plain_sha256");
    if (!want_size || !want_sha || strtoll(want_size, NULL, 10) != size ||
        strcmp(want_sha, hex) != 0)
        return dm_error_set(err, DBMGMT_ERR_CHECKSUM,
                            "backup %s: the decrypted content's checksum differs from the "
                            "catalog's (SHA-256 %s, %lld bytes; recorded %s, %s bytes)",
                            e->id, hex, (long long)size, want_sha ? want_sha : "none",
                            want_size ? want_size : "no");
    return DBMGMT_OK;
}
