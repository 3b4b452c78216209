/* Which drivers this build has. */
#include "driver.h"
#include "dm_config.h"

static const dm_driver *driver_lookup(dbmgmt_engine engine)
{
    switch (engine) {
    case DBMGMT_ENGINE_SQLITE:
        return &dm_sqlite_driver;
#if DM_HAVE_POSTGRES
    case DBMGMT_ENGINE_POSTGRES:
        return &dm_postgres_driver;
#endif
#if DM_HAVE_MYSQL
    case DBMGMT_ENGINE_MYSQL:
        return &dm_mysql_driver;
#endif
    default:
        return NULL;
    }
}

const dm_driver *dm_driver_for(dbmgmt_engine engine, dm_error *err)
{
    const dm_driver *drv = driver_lookup(engine);
    if (drv)
        return drv;
    switch (engine) {
    case DBMGMT_ENGINE_POSTGRES:
        dm_error_set(err, DBMGMT_ERR_UNSUPPORTED,
                     "this libdbmgmt was built without the PostgreSQL driver: rebuild with "
                     "meson setup -Dpostgres=enabled (needs libpq-dev)");
        break;
    case DBMGMT_ENGINE_MYSQL:
        dm_error_set(err, DBMGMT_ERR_UNSUPPORTED,
                     "this libdbmgmt was built without the MySQL/MariaDB driver: rebuild with "
                     "meson setup -Dmysql=enabled (needs libmariadb-dev or libmysqlclient-dev)");
        break;
    default:
        dm_error_set(err, DBMGMT_ERR_INVALID, "unknown engine %d", (int)engine);
    }
    return NULL;
}

DBMGMT_API int dbmgmt_engine_available(dbmgmt_engine engine)
{
    return driver_lookup(engine) != NULL;
}
