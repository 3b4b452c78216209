/*
 * Passes of a backup's work on library threads (issue 21's encryption
 * benchmark, docs/backup.md "Performance"), each while the calling thread
 * does another pass over the same data: a file's size and SHA-256 (the
 * plaintext while it is encrypted, the ciphertext while it is decrypted,
 * the decrypted plaintext while the engine checks it); the authentication
 * of an encrypted backup while the engine checks the plaintext it was made
 * from (the verify right after a backup); a SQLite copy's row counts and
 * integrity check while the caller encrypts it. On a machine of two
 * cores that takes a pass off the caller (SHA-256 alone was a fifth of the
 * whole encrypted backup's time, perf). The files must not change meanwhile:
 * every use reads files of the backup's own, 0600, that nothing writes any
 * more. When no thread can be started the task runs at dm_bk_task_join, on
 * the caller's thread: the result is the same.
 */
#include "backup_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/sha256.h"

static void *task_main(void *arg)
{
    dm_bk_task *t = arg;
    t->rc = t->fn(t);
    return NULL;
}

static void task_start(dm_bk_task *t, int (*fn)(dm_bk_task *))
{
    t->fn = fn;
    t->started = dm_thread_create(&t->thread, NULL, &t->start, task_main, t) == 0;
}

int dm_bk_task_join(dm_bk_task *t)
{
    if (t->started)
        pthread_join(t->thread, NULL);
    else
        task_main(t);
    t->started = 0;
    return t->rc;
}

static int hash_task(dm_bk_task *t)
{
    dm_bk_bg_hash *h = (dm_bk_bg_hash *)t;
    return dm_bk_hash_file(h->path, &h->size, h->hex, &t->err);
}

void dm_bk_bg_hash_start(dm_bk_bg_hash *h, const char *path)
{
    memset(h, 0, sizeof *h);
    h->path = path;
    task_start(&h->task, hash_task);
}

static int auth_task(dm_bk_task *t)
{
    dm_bk_bg_auth *a = (dm_bk_bg_auth *)t;
    return dm_bk_authenticate(a->key, a->e, a->path, a->plain, &t->err);
}

void dm_bk_bg_auth_start(dm_bk_bg_auth *a, const dm_bk_key *key, const dm_bk_entry *e,
                         const char *path, const char *plain)
{
    memset(a, 0, sizeof *a);
    a->key = key;
    a->e = e;
    a->path = path;
    a->plain = plain;
    task_start(&a->task, auth_task);
}

static int sqlite_check_task(dm_bk_task *t)
{
    dm_bk_bg_sqlite_check *c = (dm_bk_bg_sqlite_check *)t;
    int rc = dm_sqlite_count(c->path, c->counts, &t->err);
    if (rc == DBMGMT_OK)
        c->check_rc = dm_sqlite_check(c->path, &c->check_err);
    return rc;
}

void dm_bk_bg_sqlite_check_start(dm_bk_bg_sqlite_check *c, const char *path,
                                 dm_bk_counts *counts)
{
    memset(c, 0, sizeof *c);
    c->path = path;
    c->counts = counts;
    task_start(&c->task, sqlite_check_task);
}

/* ---- the sums of an encryption ----------------------------------------------------- */

/* Wait until the writer has written past done or finished; what it has. */
static int64_t sums_wait(dm_bk_bg_sums *s, int64_t done, int *finished)
{
    pthread_mutex_lock(&s->mu);
    while (s->written <= done && !s->finished)
        pthread_cond_wait(&s->cv, &s->mu);
    int64_t avail = s->written;
    *finished = s->finished;
    pthread_mutex_unlock(&s->mu);
    return avail;
}

/* The ciphertext's size and SHA-256, read from its file behind the writer. */
static int follow_cipher(dm_bk_bg_sums *s, int fd, unsigned char *buf, dm_error *err)
{
    dm_sha256 sha;
    dm_sha256_init(&sha);
    int64_t done = 0;
    for (;;) {
        int finished = 0;
        int64_t avail = sums_wait(s, done, &finished);
        if (avail <= done && finished)
            break;
        while (done < avail) {
            size_t want = avail - done > (int64_t)DM_BK_IO_CHUNK ? DM_BK_IO_CHUNK
                                                                  : (size_t)(avail - done);
            ssize_t got = pread(fd, buf, want, (off_t)done);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0)
                return dm_error_set(err, DBMGMT_ERR_IO, "cannot read '%s': %s", s->cipher,
                                    got < 0 ? strerror(errno) : "it shrank while written");
            dm_sha256_update(&sha, buf, (size_t)got);
            done += got;
        }
    }
    s->cipher_sum.size = done;
    dm_sha256_final_hex(&sha, s->cipher_sum.hex);
    return DBMGMT_OK;
}

static int sums_task(dm_bk_task *t)
{
    dm_bk_bg_sums *s = (dm_bk_bg_sums *)t;
    int rc = dm_bk_hash_file(s->plain, &s->plain_sum.size, s->plain_sum.hex, &t->err);
    if (rc != DBMGMT_OK)
        return rc;
    int fd = open(s->cipher, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dm_error_set(&t->err, DBMGMT_ERR_IO, "cannot open '%s': %s", s->cipher,
                            strerror(errno));
    unsigned char *buf = dm_malloc(DM_BK_IO_CHUNK);
    rc = buf ? follow_cipher(s, fd, buf, &t->err)
             : dm_error_set(&t->err, DBMGMT_ERR_NOMEM, "out of memory hashing '%s'",
                            s->cipher);
    dm_free(buf);
    close(fd);
    return rc;
}

void dm_bk_bg_sums_start(dm_bk_bg_sums *s, const char *plain, const char *cipher)
{
    memset(s, 0, sizeof *s);
    s->plain = plain;
    s->cipher = cipher;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    task_start(&s->task, sums_task);
}

void dm_bk_bg_sums_wrote(dm_bk_bg_sums *s, int64_t total, int finished)
{
    pthread_mutex_lock(&s->mu);
    s->written = total;
    s->finished = finished;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int dm_bk_bg_sums_join(dm_bk_bg_sums *s)
{
    int rc = dm_bk_task_join(&s->task);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    return rc;
}
