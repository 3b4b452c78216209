/*
 * Shared by the encryption tests (test_backup_encrypt*.c, issue 21): the
 * test key, the captured log, the secret grep, a catalog altered along
 * with its file (to reach decryption past the SHA-256 check), file bytes.
 */
#ifndef DBMGMT_TESTS_BACKUP_ENCRYPT_COMMON_H
#define DBMGMT_TESTS_BACKUP_ENCRYPT_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <dbmgmt.h>

extern unsigned char enc_key[32];
extern char enc_key_hex[65], enc_key_HEX[65];

/* A random key (and its hex), and the logger capturing every line. When
 * the library was built without libsodium, checks what set_key says and
 * returns 77 (1 under CI=true); else 0. */
int enc_init(void);
/* fn(message, arg) for every line logged from now on, on the logging
 * thread, before it is captured; NULL: none. */
void enc_on_log(void (*fn)(const char *message, void *arg), void *arg);
/* Everything logged so far (the buffer is the test's own; a copy). */
const char *enc_log(void);
/* 1 when data holds the key, raw or as hex in either case. */
int enc_has_secret(const void *data, size_t n);
/* The same for a file's bytes (a missing file holds nothing). */
int enc_file_has_secret(const char *path);
/* A file's bytes (malloc-ed, *n its size); fails the test when unreadable. */
unsigned char *enc_read_file(const char *path, size_t *n);
void enc_write_file(const char *path, const unsigned char *data, size_t n);
/* SHA-256 hex of a file's bytes. */
void enc_sha256_file(const char *path, char hex[65]);
/* Record path's current size and SHA-256 for backup id in dir/catalog.db,
 * as an attacker who can write the folder would. */
void enc_catalog_follow_file(const char *dir, const char *id, const char *path);
/* Fails the test when dir holds a plaintext temporary or partial file. */
void enc_assert_no_leftovers(const char *dir);
/* The path of backup id's file in dir (from the list JSON's "file"). */
void enc_backup_path(dbmgmt_backup *b, const char *dir, const char *id, char *out, size_t cap);

#endif
