/*
 * Private to lib/backup: what the scheduler (backup.c) needs from a
 * retention policy beyond the public API.
 */
#ifndef DM_BACKUP_RETENTION_H
#define DM_BACKUP_RETENTION_H

#include "dbmgmt/backup.h"

/* A new policy with src's rules (not its last results). */
int dm_retention_copy(dbmgmt_retention **out, const dbmgmt_retention *src);
/* 1 if any rule is set; with none, apply keeps everything ("no policy"). */
int dm_retention_has_policy(const dbmgmt_retention *r);

#endif
