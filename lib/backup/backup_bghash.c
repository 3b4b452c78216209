/*
 * A file's size and SHA-256 on a library thread, while the calling thread
 * does the other pass over the same data (issue 21's encryption benchmark,
 * docs/backup.md "Performance"): encrypting a backup hashes its plaintext
 * here while the caller encrypts it, and verifying an encrypted backup
 * hashes its ciphertext here while the caller decrypts and authenticates it.
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
