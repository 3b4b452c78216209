/*
 * Issue 24, guarantees (a) and (b), on whatever machine runs the test (under
 * qemu-aarch64 in the cross build): every allocation the library makes goes
 * through the allocator given to dbmgmt_set_allocator(), and the firmware
 * path (dbmgmt_migrate_on_boot() with embedded migrations on SQLite) starts
 * no thread.
 *
 * The program is linked with -Wl,--wrap for the C library's allocator, for
 * the functions that allocate inside the C library and for pthread_create
 * (libc_guard.h): a call the library makes to any of them is counted. The
 * host allocator is also SQLite's (SQLITE_CONFIG_MALLOC, the recipe of
 * docs/embedded.md), so a firmware's whole heap is the host's; whether or
 * not SQLite is linked statically, its calls never reach the guard.
 *
 * Argument: the folder of tests/firmware/migrations (the source of the
 * embedded table, for the folder paths).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "dbmgmt.h"
#include "firmware_boot.h"
#include "libc_guard.h"
#include "support/files.h"

extern const dbmgmt_migration_def firmware_test_migrations[];

static const char *migrations_dir;
static char work[128];
static char dsn[256];

/* ---- the host's allocator: counts, and knows each block's size (SQLite's xSize) ---- */

typedef struct host_heap {
    atomic_long calls; /* malloc + realloc */
    atomic_long live;  /* blocks */
} host_heap;

static host_heap dbmgmt_heap, sqlite_heap;

#define HEADER 16 /* keeps the block 16-byte aligned */

static void *heap_malloc(host_heap *h, size_t size)
{
    unsigned char *p = guard_real_malloc(size + HEADER);
    if (!p)
        return NULL;
    memcpy(p, &size, sizeof size);
    atomic_fetch_add(&h->calls, 1);
    atomic_fetch_add(&h->live, 1);
    return p + HEADER;
}

static void heap_free(host_heap *h, void *ptr)
{
    if (!ptr)
        return;
    atomic_fetch_sub(&h->live, 1);
    guard_real_free((unsigned char *)ptr - HEADER);
}

static void *heap_realloc(host_heap *h, void *ptr, size_t size)
{
    if (!ptr)
        return heap_malloc(h, size);
    unsigned char *p = guard_real_realloc((unsigned char *)ptr - HEADER, size + HEADER);
    if (!p)
        return NULL;
    memcpy(p, &size, sizeof size);
    atomic_fetch_add(&h->calls, 1);
    return p + HEADER;
}

static void *host_malloc(size_t size) { return heap_malloc(&dbmgmt_heap, size); }
static void *host_realloc(void *ptr, size_t size) { return heap_realloc(&dbmgmt_heap, ptr, size); }
static void host_free(void *ptr) { heap_free(&dbmgmt_heap, ptr); }

static void *sqlite_malloc(int size) { return heap_malloc(&sqlite_heap, (size_t)size); }
static void sqlite_free(void *ptr) { heap_free(&sqlite_heap, ptr); }
static void *sqlite_realloc(void *ptr, int size)
{
    return heap_realloc(&sqlite_heap, ptr, (size_t)size);
}
static int sqlite_size(void *ptr)
{
    size_t size;
    memcpy(&size, (unsigned char *)ptr - HEADER, sizeof size);
    return (int)size;
}
static int sqlite_roundup(int size) { return (size + 7) & ~7; }
static int sqlite_init(void *unused) { (void)unused; return SQLITE_OK; }
static void sqlite_shutdown(void *unused) { (void)unused; }

/* ---- what one guarded run saw ---------------------------------------------- */

typedef struct guarded_run {
    long host_calls, sqlite_calls;
    long libc_allocator, allocates_inside, threads_started;
    int tasks_before, tasks_after;
    char allocator_names[256], inside_names[256];
} guarded_run;

static void guarded_begin(guarded_run *r)
{
    memset(r, 0, sizeof *r);
    r->tasks_before = guard_thread_count();
    r->host_calls = atomic_load(&dbmgmt_heap.calls);
    r->sqlite_calls = atomic_load(&sqlite_heap.calls);
    guard_arm();
}

static void guarded_end(guarded_run *r, const char *what)
{
    guard_disarm();
    r->tasks_after = guard_thread_count();
    r->host_calls = atomic_load(&dbmgmt_heap.calls) - r->host_calls;
    r->sqlite_calls = atomic_load(&sqlite_heap.calls) - r->sqlite_calls;
    r->libc_allocator = guard_calls(GUARD_LIBC_ALLOCATOR);
    r->allocates_inside = guard_calls(GUARD_ALLOCATES_INSIDE);
    r->threads_started = guard_calls(GUARD_THREAD);
    guard_names(GUARD_LIBC_ALLOCATOR, r->allocator_names, sizeof r->allocator_names);
    guard_names(GUARD_ALLOCATES_INSIDE, r->inside_names, sizeof r->inside_names);
    print_message("%s: %ld allocations through the hook, %ld of SQLite's; C library's "
                  "allocator: %ld [%s]; allocating C library calls: [%s]; threads started: %ld; "
                  "/proc/self/task %d -> %d\n",
                  what, r->host_calls, r->sqlite_calls, r->libc_allocator, r->allocator_names,
                  r->inside_names, r->threads_started, r->tasks_before, r->tasks_after);
}

/* Every run: the library used the hook and never the C library's allocator,
 * and left no thread running. */
static void assert_heap_is_the_hosts(const guarded_run *r)
{
    assert_true(r->host_calls > 0);
    if (r->libc_allocator != 0)
        fail_msg("the library called the C library's allocator: %s", r->allocator_names);
    assert_int_not_equal(r->tasks_before, -1);
    assert_int_equal(r->tasks_after, r->tasks_before);
}

static void fresh_database(const char *name)
{
    assert_int_equal(support_remove_in(work, name), 0);
    snprintf(dsn, sizeof dsn, "sqlite://%s/%s", work, name);
}

/* ---- the scenarios ------------------------------------------------------------ */

static void test_firmware_boot_allocates_only_through_the_hook_and_starts_no_thread(void **s)
{
    (void)s;
    fresh_database("boot.db");
    for (int run = 0; run < 2; run++) { /* a new database, then one already at the newest */
        guarded_run r;
        int64_t applied = -1;
        char version[32];
        guarded_begin(&r);
        int rc = firmware_boot(dsn, firmware_test_migrations, &applied, version, sizeof version);
        guarded_end(&r, run == 0 ? "firmware boot, new database" : "firmware boot, again");
        if (rc != DBMGMT_OK)
            fail_msg("firmware_boot: %s", dbmgmt_errmsg());
        assert_int_equal(applied, 6);
        assert_string_equal(version, "006");
        assert_heap_is_the_hosts(&r);
        assert_true(r.sqlite_calls > 0); /* SQLite's heap is the host's too */
        if (r.allocates_inside != 0)
            fail_msg("the firmware path called C library functions that allocate: %s",
                     r.inside_names);
        assert_int_equal(r.threads_started, 0);
    }
    /* SQLite's own worker threads (large sorts) are off unless asked for:
     * threads SQLite starts would not pass through the guard. */
    dbmgmt_conn *c = NULL;
    dbmgmt_result *res = NULL;
    assert_int_equal(dbmgmt_conn_open(&c, dsn), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_query(c, &res, "PRAGMA threads", 0, NULL), DBMGMT_OK);
    assert_int_equal(dbmgmt_result_next(res), 1);
    assert_int_equal(dbmgmt_result_int64(res, 0), 0);
    dbmgmt_result_free(res);
    dbmgmt_conn_close(c);
}

static void test_conn_query_and_statement_allocate_only_through_the_hook(void **s)
{
    (void)s;
    fresh_database("conn.db");
    guarded_run r;
    dbmgmt_conn *c = NULL;
    dbmgmt_stmt *st = NULL;
    dbmgmt_result *res = NULL;
    guarded_begin(&r);
    int rc = dbmgmt_conn_open(&c, dsn);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_conn_exec(c, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);"
                                 "INSERT INTO t (name) VALUES ('a'), ('b');");
    if (rc == DBMGMT_OK)
        rc = dbmgmt_conn_prepare(c, &st, "INSERT INTO t (name) VALUES (?)");
    if (rc == DBMGMT_OK)
        rc = dbmgmt_stmt_bind_text(st, 1, "c");
    if (rc == DBMGMT_OK)
        rc = dbmgmt_stmt_execute(st, NULL);
    const char *params[] = {"a"};
    if (rc == DBMGMT_OK)
        rc = dbmgmt_conn_query(c, &res, "SELECT COUNT(*) FROM t WHERE name > ?", 1, params);
    int64_t count = rc == DBMGMT_OK && dbmgmt_result_next(res) == 1
                        ? dbmgmt_result_int64(res, 0) : -1;
    dbmgmt_result_free(res);
    dbmgmt_stmt_free(st);
    dbmgmt_conn_close(c);
    guarded_end(&r, "conn, exec, prepare, query");
    if (rc != DBMGMT_OK)
        fail_msg("%s", dbmgmt_errmsg());
    assert_int_equal(count, 2);
    assert_heap_is_the_hosts(&r);
    assert_int_equal(r.threads_started, 0);
}

static void test_lint_of_a_folder_allocates_only_through_the_hook(void **s)
{
    (void)s;
    guarded_run r;
    dbmgmt_lint_report *report = NULL;
    guarded_begin(&r);
    int rc = dbmgmt_lint_dir(&report, DBMGMT_ENGINE_SQLITE, migrations_dir);
    size_t migrations = rc == DBMGMT_OK ? dbmgmt_lint_report_migration_count(report) : 0;
    dbmgmt_lint_report_free(report);
    guarded_end(&r, "lint of a folder");
    if (rc != DBMGMT_OK)
        fail_msg("%s", dbmgmt_errmsg());
    assert_int_equal(migrations, 6);
    assert_heap_is_the_hosts(&r);
    assert_int_equal(r.threads_started, 0);
}

static void test_backup_of_a_sqlite_file_allocates_only_through_the_hook(void **s)
{
    (void)s;
    fresh_database("backed-up.db");
    int64_t applied = 0;
    char version[32];
    assert_int_equal(firmware_boot(dsn, firmware_test_migrations, &applied, version,
                                   sizeof version), DBMGMT_OK);
    char dir[256];
    snprintf(dir, sizeof dir, "%s/backups", work);
    guarded_run r;
    dbmgmt_backup *b = NULL;
    char *id = NULL;
    guarded_begin(&r);
    int rc = dbmgmt_backup_new(&b, dsn, dir);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_run_now(b, &id);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_verify(b, id);
    dbmgmt_free(id);
    dbmgmt_backup_free(b);
    guarded_end(&r, "backup of a SQLite file, verified");
    if (rc != DBMGMT_OK)
        fail_msg("%s", dbmgmt_errmsg());
    assert_heap_is_the_hosts(&r);
    assert_int_equal(r.threads_started, 0);
}

/* With a folder, dbmgmt_migrate_on_boot() reads it on one thread of its own
 * beside SQLite's schema load (docs/embedded.md), joined before it returns. */
static void test_boot_from_a_folder_joins_its_one_reader_thread(void **s)
{
    (void)s;
    fresh_database("folder.db");
    guarded_run r;
    guarded_begin(&r);
    int rc = dbmgmt_migrate_on_boot(dsn, migrations_dir, NULL, "device");
    guarded_end(&r, "migrate on boot from a folder");
    if (rc != DBMGMT_OK)
        fail_msg("%s", dbmgmt_errmsg());
    assert_heap_is_the_hosts(&r);
    assert_int_equal(r.threads_started, 1);
}

/* A device that reads its migrations from a folder and wants no thread
 * calls the migrator itself (docs/embedded.md). */
static void test_migrator_with_a_folder_starts_no_thread(void **s)
{
    (void)s;
    fresh_database("folder-nothread.db");
    guarded_run r;
    dbmgmt_conn *c = NULL;
    dbmgmt_migrator *m = NULL;
    guarded_begin(&r);
    int rc = dbmgmt_conn_open(&c, dsn);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_migrator_new(&m, c);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_migrator_add_dir(m, migrations_dir);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_migrator_up(m);
    dbmgmt_migrator_free(m);
    dbmgmt_conn_close(c);
    guarded_end(&r, "migrator over a folder");
    if (rc != DBMGMT_OK)
        fail_msg("%s", dbmgmt_errmsg());
    assert_heap_is_the_hosts(&r);
    assert_int_equal(r.threads_started, 0);
}

static int setup(void **s)
{
    (void)s;
    return support_scratch_dir_on_tmpfs(work, sizeof work, "dbmgmt-firmware-heap");
}

static int teardown(void **s)
{
    (void)s;
    return support_remove_tree(work);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s MIGRATIONS_DIR\n", argv[0]);
        return 2;
    }
    migrations_dir = argv[1];
    /* Both before anything else: SQLite's allocator can only be set before
     * sqlite3_initialize(), libdbmgmt's before its first allocation. */
    static const sqlite3_mem_methods methods = {
        sqlite_malloc, sqlite_free, sqlite_realloc, sqlite_size, sqlite_roundup,
        sqlite_init, sqlite_shutdown, NULL};
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &methods) != SQLITE_OK ||
        dbmgmt_set_allocator(host_malloc, host_realloc, host_free) != DBMGMT_OK) {
        fprintf(stderr, "cannot install the host allocator\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_firmware_boot_allocates_only_through_the_hook_and_starts_no_thread),
        cmocka_unit_test(test_conn_query_and_statement_allocate_only_through_the_hook),
        cmocka_unit_test(test_lint_of_a_folder_allocates_only_through_the_hook),
        cmocka_unit_test(test_backup_of_a_sqlite_file_allocates_only_through_the_hook),
        cmocka_unit_test(test_boot_from_a_folder_joins_its_one_reader_thread),
        cmocka_unit_test(test_migrator_with_a_folder_starts_no_thread),
    };
    int failed = cmocka_run_group_tests_name("firmware/heap-threads", tests, setup, teardown);
    /* Everything the library allocated through the hook is freed. */
    if (atomic_load(&dbmgmt_heap.live) != 0) {
        fprintf(stderr, "%ld blocks of the hook still live\n", atomic_load(&dbmgmt_heap.live));
        return 1;
    }
    return failed;
}
