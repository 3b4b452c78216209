/*
 * Private to the mariadb-backup engine (engine_mariadb.c, mariadb_binlog.c,
 * mariadb_restore.c); what the rest of lib/backup calls is in backup_impl.h.
 */
#ifndef DM_BACKUP_ENGINE_MARIADB_H
#define DM_BACKUP_ENGINE_MARIADB_H

#include "backup_impl.h"

#define DM_MDB_MAX_ARGS 40

struct dm_mdb {
    char *root;    /* <dir>/mariadb-backup: one folder per backup */
    char *binlogs; /* <dir>/binlog: the archived binlogs */
    char *datadir; /* the server's data directory */
    uid_t uid;     /* its owner: mariadb-backup runs as it when we are root */
    gid_t gid;
    int as_owner;
};

/* A child started by dm_mdb_tool and not yet waited for. */
typedef struct dm_mdb_proc {
    dm_bk_child child; /* what, secret and user, for dm_mdb_wait */
    dm_bk_proc proc;
    char *options; /* its options file, removed by dm_mdb_wait */
} dm_mdb_proc;

/* Run the MariaDB tool name (mariadb-backup, mariadb-binlog, mariadb) with
 * --defaults-extra-file (the DSN's connection, or socket) and args; as the
 * data directory's owner when as_owner (and we are root); stdin/stdout from
 * in_fd/out_fd (-1: /dev/null). With spawned, the child is left running
 * for dm_mdb_wait. TZ=UTC in its environment. */
int dm_mdb_tool(dbmgmt_backup *b, const char *name, const char *const *args, const char *socket,
                int as_owner, int in_fd, int out_fd, dm_mdb_proc *spawned);
int dm_mdb_wait(dbmgmt_backup *b, dm_mdb_proc *p);
/* <dir>/mariadb-backup/<id>; caller frees. */
char *dm_mdb_dir(const dbmgmt_backup *b, const char *id);
/* Every file of the backup's folder against its manifest. */
int dm_mdb_check_files(dbmgmt_backup *b, const dm_bk_entry *e, const char *manifest);
/* Copy the chain into scratch/0, scratch/1, ... and prepare scratch/0 with
 * each increment in turn: scratch/0 is then the prepared backup. */
int dm_mdb_prepare_chain(dbmgmt_backup *b, const dm_bk_entry *chain, size_t n,
                         const char *scratch);
/* The archived binlogs from first on, sorted (caller frees with dm_bk_strings_free). */
int dm_mdb_binlogs_from(dbmgmt_backup *b, const char *first, char ***names, size_t *n);

#endif
