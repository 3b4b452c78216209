/*
 * core-alloc (test_alloc.c, test_alloc_backup.c): the harness the scenario
 * files share.
 */
#ifndef DBMGMT_TESTS_UNIT_TEST_ALLOC_H
#define DBMGMT_TESTS_UNIT_TEST_ALLOC_H

/* The scratch folder of the whole run (on a tmpfs where there is one). */
extern char work[128];

/* Write a file under dir (failing the test otherwise). */
void write_file(const char *dir, const char *name, const char *text);
/* rm -rf work/a (and work/b when b is set). */
void remove_under_work(const char *a, const char *b);
/* Record an error that is not NOMEM on the thread. */
void forget_nomem(void);

typedef int (*scenario_fn)(void);
/* Run scenario once, then once per allocation with that one failing: each
 * gives DBMGMT_ERR_NOMEM, leaks nothing, and recover() (may be NULL)
 * succeeds afterwards; reset() (may be NULL) before each run. */
void fail_each_allocation(const char *what, scenario_fn scenario, void (*reset)(void),
                          scenario_fn recover, int pool_rules);

/* test_alloc_backup.c */
void test_schedules_and_retention_survive_every_failing_allocation(void **state);
void test_backups_survive_every_failing_allocation(void **state);
void test_offsite_copies_survive_every_failing_allocation(void **state);
void test_encryption_survives_every_failing_allocation(void **state);

#endif
