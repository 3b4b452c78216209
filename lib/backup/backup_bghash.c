/*
 * Passes of a backup's work on library threads (issue 21's encryption
 * benchmark, docs/backup.md "Performance"), each while the calling thread
 * does another pass over the same data: a file's size and SHA-256 (the
 * plaintext while it is encrypted, the ciphertext while it is decrypted,
 * the decrypted plaintext while the engine checks it); the authentication
 * of an encrypted backup while the engine checks the plaintext it was made
 * from (the verify right after a backup); a SQLite backup's encryption while
 * the caller counts the rows of the same plaintext copy. On a machine of two
 * cores that takes a pass off the caller (SHA-256 alone was a fifth of the
 * whole encrypted backup's time, perf). The files must not change meanwhile:
 * every use reads files of the backup's own, 0600, that nothing writes any
 * more. When no thread can be started the task runs at dm_bk_task_join, on
 * the caller's thread: the result is the same.
 */
#include "backup_impl.h"

#include <string.h>

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

static int encrypt_task(dm_bk_task *t)
{
    dm_bk_bg_encrypt *x = (dm_bk_bg_encrypt *)t;
    return dm_bk_encrypt_file_with(x->key, x->plain, x->cipher, x->attrs, &x->cipher_sum,
                                   &t->err);
}

void dm_bk_bg_encrypt_start(dm_bk_bg_encrypt *x, const dm_bk_key *key, const char *plain,
                            const char *cipher, dm_bk_attrs *attrs)
{
    memset(x, 0, sizeof *x);
    x->key = key;
    x->plain = plain;
    x->cipher = cipher;
    x->attrs = attrs;
    task_start(&x->task, encrypt_task);
}
