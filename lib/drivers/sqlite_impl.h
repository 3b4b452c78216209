/* What the SQLite driver's files share: sqlite.c (connections,
 * statements, the vtable) and sqlite_health.c (the health op, issue 20). */
#ifndef DM_DRIVERS_SQLITE_IMPL_H
#define DM_DRIVERS_SQLITE_IMPL_H

#include <sqlite3.h>

#include "driver.h"

/* Record SQLite's error for code (with db's message when db is given),
 * prefixed by context; returns the dbmgmt status it maps to. */
int dm_sqlite_fail(sqlite3 *db, int code, dm_error *err, const char *context);

/* sqlite_health.c */
struct dbmgmt_health;
int dm_sqlite_health(dm_dconn *c, struct dbmgmt_health *h, dm_error *err);

#endif
