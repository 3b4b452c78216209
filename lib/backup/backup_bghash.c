/*
 * A file's size and SHA-256 on a library thread, while the calling thread
 * does the other pass over the same data (issue 21's encryption benchmark,
 * docs/backup.md "Performance"): encrypting a backup hashes its plaintext
 * here while the caller encrypts it, and verifying an encrypted backup
 * hashes its ciphertext here while the caller decrypts and authenticates it.
 * The verify right after a backup authenticates the ciphertext here too
 * (dm_bk_bg_auth), while the caller runs the engine's check; and a SQLite
 * backup is encrypted here (dm_bk_bg_encrypt) while the caller counts its
 * rows in the same plaintext copy.
 * On a machine of two cores that takes one SHA-256 pass off each (SHA-256
 * was a fifth of the whole encrypted backup's time, perf). The file must not
 * change meanwhile: both uses read a file of the backup's own, 0600, that
 * nothing writes any more. When no thread can be started the hash is taken
 * at dm_bk_bg_hash_join, on the caller's thread: the result is the same.
 */
#include "backup_impl.h"

#include <string.h>

static void *bg_hash_main(void *arg)
{
    dm_bk_bg_hash *h = arg;
    h->rc = dm_bk_hash_file(h->path, &h->size, h->hex, &h->err);
    return NULL;
}

void dm_bk_bg_hash_start(dm_bk_bg_hash *h, const char *path)
{
    memset(h, 0, sizeof *h);
    h->path = path;
    h->started = dm_thread_create(&h->thread, NULL, &h->start, bg_hash_main, h) == 0;
}

int dm_bk_bg_hash_join(dm_bk_bg_hash *h)
{
    if (h->started)
        pthread_join(h->thread, NULL);
    else
        bg_hash_main(h);
    h->started = 0;
    return h->rc;
}

static void *bg_auth_main(void *arg)
{
    dm_bk_bg_auth *a = arg;
    a->rc = dm_bk_authenticate(a->key, a->e, a->path, &a->err);
    return NULL;
}

void dm_bk_bg_auth_start(dm_bk_bg_auth *a, const dm_bk_key *key, const dm_bk_entry *e,
                         const char *path)
{
    memset(a, 0, sizeof *a);
    a->key = key;
    a->e = e;
    a->path = path;
    a->started = dm_thread_create(&a->thread, NULL, &a->start, bg_auth_main, a) == 0;
}

int dm_bk_bg_auth_join(dm_bk_bg_auth *a)
{
    if (a->started)
        pthread_join(a->thread, NULL);
    else
        bg_auth_main(a);
    a->started = 0;
    return a->rc;
}

static void *bg_encrypt_main(void *arg)
{
    dm_bk_bg_encrypt *x = arg;
    x->rc = dm_bk_encrypt_file_with(x->key, x->plain, x->cipher, x->attrs, &x->err);
    return NULL;
}

void dm_bk_bg_encrypt_start(dm_bk_bg_encrypt *x, const dm_bk_key *key, const char *plain,
                            const char *cipher, dm_bk_attrs *attrs)
{
    memset(x, 0, sizeof *x);
    x->key = key;
    x->plain = plain;
    x->cipher = cipher;
    x->attrs = attrs;
    x->started = dm_thread_create(&x->thread, NULL, &x->start, bg_encrypt_main, x) == 0;
}

int dm_bk_bg_encrypt_join(dm_bk_bg_encrypt *x)
{
    if (x->started)
        pthread_join(x->thread, NULL);
    else
        bg_encrypt_main(x);
    x->started = 0;
    return x->rc;
}

