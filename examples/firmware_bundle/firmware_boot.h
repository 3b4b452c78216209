/*
 * firmware_boot: what the device does at power-on, as a function so that
 * the example's main() and the power-loss test (tests/firmware/) run the
 * same code. The schema is a table compiled into the firmware by
 * `dbmgmt embed` (see meson.build here); nothing is read from disk.
 */
#ifndef FIRMWARE_BOOT_H
#define FIRMWARE_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include <dbmgmt.h>

/* Brings the database at dsn to the newest version of schema, then reads
 * back how many migrations the history holds and the newest version (into
 * version, cap bytes, "" when none). Starts no thread and allocates only
 * through the allocator given to dbmgmt_set_allocator(). Returns DBMGMT_OK
 * or the failing call's status (detail in dbmgmt_errmsg()). */
int firmware_boot(const char *dsn, const dbmgmt_migration_def *schema, int64_t *applied,
                  char *version, size_t cap);

#endif
