/* MySQL/MariaDB splitting: table of cases and malformed inputs. */
#include "split_test.h"

#include "sql/split.h"

#include "cases_mysql.inc"
#include "errors_mysql.inc"

static void test_split_mysql_records_delimiter_in_force(void **state)
{
    (void)state;
    static const char sql[] = "SELECT 1;\nDELIMITER $$\nSELECT 2$$\nDELIMITER ;\nSELECT 3";
    dbmgmt_statements *list = NULL;
    assert_int_equal(dm_sql_split(DBMGMT_ENGINE_MYSQL, sql, sizeof sql - 1, NULL, &list, NULL),
                     DBMGMT_OK);
    assert_int_equal(dbmgmt_statements_count(list), 3);
    assert_string_equal(dm_sql_statement_at(list, 0)->delimiter, ";");
    assert_string_equal(dm_sql_statement_at(list, 1)->delimiter, "$$");
    assert_string_equal(dm_sql_statement_at(list, 2)->delimiter, ";");
    dbmgmt_statements_free(list);
}

static void test_split_mysql_initial_delimiter_option(void **state)
{
    (void)state;
    static const char sql[] = "SELECT 1; SELECT 2//SELECT 3";
    dbmgmt_statements *list = NULL;
    assert_int_equal(dm_sql_split(DBMGMT_ENGINE_MYSQL, sql, sizeof sql - 1, "//", &list, NULL),
                     DBMGMT_OK);
    assert_int_equal(dbmgmt_statements_count(list), 2);
    assert_string_equal(dbmgmt_statements_sql(list, 0, NULL), "SELECT 1; SELECT 2");
    dbmgmt_statements_free(list);
}

int main(void)
{
    static const struct CMUnitTest extra[] = {
        cmocka_unit_test(test_split_mysql_records_delimiter_in_force),
        cmocka_unit_test(test_split_mysql_initial_delimiter_option),
    };
    return run_dialect_tables("split-mysql", DBMGMT_ENGINE_MYSQL, mysql_cases,
                              COUNT_OF(mysql_cases), mysql_errors, COUNT_OF(mysql_errors), extra,
                              COUNT_OF(extra));
}
