/* Run-time version and engine names. */
#include "dbmgmt/common.h"
#include "dm_config.h"

DBMGMT_API const char *dbmgmt_version(void)
{
    return DM_VERSION;
}

DBMGMT_API int32_t dbmgmt_version_number(void)
{
    return DBMGMT_VERSION_MAJOR * 10000 + DBMGMT_VERSION_MINOR * 100 + DBMGMT_VERSION_PATCH;
}

DBMGMT_API const char *dbmgmt_engine_name(dbmgmt_engine engine)
{
    switch (engine) {
    case DBMGMT_ENGINE_SQLITE: return "sqlite";
    case DBMGMT_ENGINE_POSTGRES: return "postgres";
    case DBMGMT_ENGINE_MYSQL: return "mysql";
    default: return NULL;
    }
}
