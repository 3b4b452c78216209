/* SQLite splitting: table of cases and malformed inputs. */
#include "split_test.h"

#include "cases_sqlite.inc"
#include "errors_sqlite.inc"

int main(void)
{
    return run_dialect_tables("split-sqlite", DBMGMT_ENGINE_SQLITE, sqlite_cases,
                              COUNT_OF(sqlite_cases), sqlite_errors, COUNT_OF(sqlite_errors),
                              NULL, 0);
}
