/*
 * Table-driven split tests shared by the per-dialect suites: every row is
 * one cmocka test that splits its input (copied into an exact-sized heap
 * buffer, so ASan catches any read past it) and checks the exact text,
 * line, column and offset of every statement, or the exact error message.
 */
#ifndef TEST_SQL_SPLIT_TEST_H
#define TEST_SQL_SPLIT_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dbmgmt.h>

#define SPLIT_MAX_STATEMENTS 48

typedef struct expect_stmt {
    const char *sql;
    size_t len;
    int32_t line, column;
    size_t offset;
} expect_stmt;

typedef struct split_case {
    const char *name;
    const char *sql;
    size_t len;
    size_t count;
    expect_stmt out[SPLIT_MAX_STATEMENTS];
} split_case;

typedef struct error_case {
    const char *name;
    const char *sql;
    size_t len;
    const char *message; /* exact dbmgmt_errmsg() */
} error_case;

typedef struct dialect_run {
    dbmgmt_engine engine;
    const void *row;
} dialect_run;

static char *exact_copy(const char *sql, size_t len)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, sql, len);
    return copy;
}

static void run_split_case(void **state)
{
    const dialect_run *run = *state;
    const split_case *c = run->row;
    char *input = exact_copy(c->sql, c->len);
    dbmgmt_statements *list = NULL;
    int rc = dbmgmt_split(run->engine, input, c->len, &list);
    if (rc != DBMGMT_OK)
        fail_msg("%s: split failed: %s", c->name, dbmgmt_errmsg());
    size_t n = dbmgmt_statements_count(list);
    if (n != c->count) {
        for (size_t i = 0; i < n; i++)
            print_error("  got [%zu] %s\n", i, dbmgmt_statements_sql(list, i, NULL));
        fail_msg("%s: %zu statements, expected %zu", c->name, n, c->count);
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *sql = dbmgmt_statements_sql(list, i, &len);
        const expect_stmt *e = &c->out[i];
        if (len != e->len || memcmp(sql, e->sql, len) != 0 || sql[len] != '\0')
            fail_msg("%s: statement %zu is [%s], expected [%s]", c->name, i, sql, e->sql);
        if (dbmgmt_statements_line(list, i) != e->line ||
            dbmgmt_statements_column(list, i) != e->column ||
            dbmgmt_statements_offset(list, i) != e->offset)
            fail_msg("%s: statement %zu at %d:%d offset %zu, expected %d:%d offset %zu", c->name,
                     i, (int)dbmgmt_statements_line(list, i),
                     (int)dbmgmt_statements_column(list, i), dbmgmt_statements_offset(list, i),
                     (int)e->line, (int)e->column, e->offset);
    }
    dbmgmt_statements_free(list);
    free(input);
}

static void run_error_case(void **state)
{
    const dialect_run *run = *state;
    const error_case *c = run->row;
    char *input = exact_copy(c->sql, c->len);
    dbmgmt_statements *list = (dbmgmt_statements *)input; /* must be reset to NULL */
    int rc = dbmgmt_split(run->engine, input, c->len, &list);
    if (rc != DBMGMT_ERR_PARSE)
        fail_msg("%s: status %d, expected DBMGMT_ERR_PARSE", c->name, rc);
    assert_null(list);
    assert_int_equal(dbmgmt_errcode(), DBMGMT_ERR_PARSE);
    if (strcmp(dbmgmt_errmsg(), c->message) != 0)
        fail_msg("%s: message [%s], expected [%s]", c->name, dbmgmt_errmsg(), c->message);
    free(input);
}

/* Runs every row of both tables as its own test; returns the failure count. */
static int run_dialect_tables(const char *group, dbmgmt_engine engine, const split_case *cases,
                              size_t ncases, const error_case *errors, size_t nerrors,
                              const struct CMUnitTest *extra, size_t nextra)
{
    size_t total = ncases + nerrors + nextra;
    struct CMUnitTest *tests = calloc(total, sizeof *tests);
    dialect_run *runs = calloc(ncases + nerrors, sizeof *runs);
    char (*names)[160] = calloc(ncases + nerrors, sizeof *names);
    assert_non_null(tests);
    for (size_t i = 0; i < ncases + nerrors; i++) {
        int is_case = i < ncases;
        runs[i].engine = engine;
        runs[i].row = is_case ? (const void *)&cases[i] : (const void *)&errors[i - ncases];
        snprintf(names[i], sizeof names[i], "%s_%s", is_case ? "test_split" : "test_split_error",
                 is_case ? cases[i].name : errors[i - ncases].name);
        tests[i].name = names[i];
        tests[i].test_func = is_case ? run_split_case : run_error_case;
        tests[i].initial_state = &runs[i];
    }
    for (size_t i = 0; i < nextra; i++)
        tests[ncases + nerrors + i] = extra[i];
    int failed = _cmocka_run_group_tests(group, tests, total, NULL, NULL);
    free(names);
    free(runs);
    free(tests);
    return failed;
}

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

#endif
