/*
 * libdbmgmt — embeddable database management: migrate on boot, pooled
 * connections, backup scheduling and index advice for SQLite, PostgreSQL
 * and MySQL/MariaDB. This umbrella header includes the whole public API.
 */
#ifndef DBMGMT_H
#define DBMGMT_H

#include "dbmgmt/advise.h"
#include "dbmgmt/archive.h"
#include "dbmgmt/backup.h"
#include "dbmgmt/common.h"
#include "dbmgmt/conn.h"
#include "dbmgmt/health.h"
#include "dbmgmt/migrate.h"
#include "dbmgmt/pool.h"
#include "dbmgmt/snapshot.h"
#include "dbmgmt/sql.h"

#endif /* DBMGMT_H */
