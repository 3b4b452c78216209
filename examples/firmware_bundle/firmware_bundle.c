/*
 * firmware_bundle: a device whose schema is compiled into its binary. The
 * table `firmware_migrations` is generated at build time from
 * firmware_bundle/migrations/ by `dbmgmt embed` (see meson.build here);
 * nothing is read from disk at run time, and running twice changes nothing.
 * The boot itself is firmware_boot() (firmware_boot.c), which the
 * power-loss test of tests/firmware/ kills at random points.
 *
 *   firmware_bundle [DSN]     (default: sqlite:device.db)
 */
#include <dbmgmt.h>
#include <stdio.h>

#include "firmware_boot.h"

extern const dbmgmt_migration_def firmware_migrations[];

int main(int argc, char **argv)
{
    const char *dsn = argc > 1 ? argv[1] : "sqlite:device.db";
    int64_t applied = 0;
    char version[64];
    int rc = firmware_boot(dsn, firmware_migrations, &applied, version, sizeof version);
    if (rc != DBMGMT_OK) {
        fprintf(stderr, "firmware: schema migration refused: %s\n", dbmgmt_errmsg());
        return 1;
    }
    printf("device schema: %lld migrations applied, version %s\n", (long long)applied, version);
    return 0;
}
