/*
 * Helpers of the point-in-time tests (tests/pitr), which each start a
 * scratch server of their own: a free port, a shell command, catalog
 * attributes read from the list JSON, a tick that must not fail.
 */
#ifndef DBMGMT_TESTS_SUPPORT_PITR_H
#define DBMGMT_TESTS_SUPPORT_PITR_H

#include <stddef.h>
#include <stdint.h>

#include <dbmgmt.h>

/* A free TCP port on 127.0.0.1, or -1. */
int support_free_port(void);
/* system() of the formatted command. */
int support_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Exit 77 (skip), or 1 under CI=true, when missing names what the test
 * lacks; nothing when it is NULL. */
void support_require(const char *missing);
/* A new folder /tmp/<prefix>XXXXXX, mode 0711 (a server's user walks through it). */
int support_scratch_top(char *top, size_t cap, const char *prefix);
/* A random password of len letters and digits (out holds len + 1). */
void support_random_password(char *out, size_t len);

/* The value of attribute key of the nth backup (from 0) of kind, from the
 * list JSON ("" when absent); as a number (-1 when absent). */
void support_backup_attr(dbmgmt_backup *b, const char *kind, int nth, const char *key, char *out,
                         size_t cap);
int64_t support_backup_attr_int(dbmgmt_backup *b, const char *kind, int nth, const char *key);
/* dbmgmt_backup_tick(b, now), failing the test on an error or a failure counted. */
int32_t support_tick_ok(dbmgmt_backup *b, int64_t now);

#endif
