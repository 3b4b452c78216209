/*
 * Loading migration folders: every layout, version order, checksums, and a
 * table of malformed folders with the exact error each gets (no database).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "migrate/source.h"
#include "support/files.h"

static char dir[256];

static int make_dir(void **state)
{
    (void)state;
    return support_scratch_dir(dir, sizeof dir, "dbmgmt-src");
}

static int remove_dir(void **state)
{
    (void)state;
    return support_remove_tree(dir);
}

static void empty_dir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -f '%s'/*", dir);
    assert_int_equal(system(cmd), 0);
}

static void write_file(const char *name, const char *text)
{
    support_write_file(dir, name, text);
}

static void test_versions_compare_numerically(void **state)
{
    (void)state;
    assert_true(dm_version_compare("2", "10") < 0);
    assert_true(dm_version_compare("001", "1") == 0);
    assert_true(dm_version_compare("1.9", "1.10") < 0);
    assert_true(dm_version_compare("1.0", "1") == 0);
    assert_true(dm_version_compare("1.2.3", "1.2") > 0);
    assert_true(dm_version_compare("20260101000000", "20251231235959") > 0);
    assert_true(dm_version_compare("20260101000000", "999") > 0);
    assert_true(dm_version_valid("1.2.3"));
    assert_false(dm_version_valid("1..2"));
    assert_false(dm_version_valid("v1"));
    assert_false(dm_version_valid("1."));
}

static void test_checksum_ignores_crlf_and_bom(void **state)
{
    (void)state;
    char a[65], b[65], c[65], d[65];
    dm_checksum_normalised("SELECT 1;\nSELECT 2;\n", 20, a);
    dm_checksum_normalised("SELECT 1;\r\nSELECT 2;\r\n", 22, b);
    dm_checksum_normalised("\xEF\xBB\xBFSELECT 1;\r\nSELECT 2;\n", 24, c);
    dm_checksum_normalised("SELECT 1;\nSELECT 3;\n", 20, d);
    assert_string_equal(a, b);
    assert_string_equal(a, c);
    assert_string_not_equal(a, d);
}

static void test_native_layout_sections_options_and_lines(void **state)
{
    (void)state;
    empty_dir();
    write_file("20260130191544_add_user_roles.sql",
               "-- a comment before the marker\n"
               "-- migrate:up transaction:false\n"
               "CREATE INDEX CONCURRENTLY i ON t (a);\n"
               "\n"
               "-- migrate:down\n"
               "DROP INDEX i;\n");
    write_file("README.md", "not a migration");
    dm_source src = {0};
    dm_error err;
    assert_int_equal(dm_source_add_dir(&src, dir, &err), DBMGMT_OK);
    assert_int_equal(src.count, 1);
    const dm_migration *m = &src.items[0];
    assert_string_equal(m->version, "20260130191544");
    assert_string_equal(m->name, "add_user_roles");
    assert_int_equal(m->no_transaction, 1);
    assert_string_equal(m->up.sql, "CREATE INDEX CONCURRENTLY i ON t (a);\n\n");
    assert_int_equal(m->up.line, 3);
    assert_string_equal(m->down.sql, "DROP INDEX i;\n");
    assert_int_equal(m->down.line, 6);
    dm_source_clear(&src);
}

static void test_goose_blocks_stay_whole_and_keep_their_lines(void **state)
{
    (void)state;
    empty_dir();
    write_file("00002_fn.sql",
               "-- +goose Up\n"
               "CREATE TABLE t (id INTEGER);\n"
               "-- +goose StatementBegin\n"
               "CREATE FUNCTION f() RETURNS trigger AS 'BEGIN; RETURN NEW; END' LANGUAGE plpgsql;\n"
               "SELECT 'still the same statement';\n"
               "-- +goose StatementEnd\n"
               "INSERT INTO t VALUES (1);\n"
               "-- +goose Down\n"
               "DROP TABLE t;\n"
               "-- +goose NO TRANSACTION\n");
    dm_source src = {0};
    dm_error err;
    assert_int_equal(dm_source_add_dir(&src, dir, &err), DBMGMT_OK);
    const dm_migration *m = &src.items[0];
    assert_int_equal(m->layout, DM_LAYOUT_GOOSE);
    assert_int_equal(m->no_transaction, 1);
    dm_mig_statements list;
    assert_int_equal(dm_section_statements(&m->up, DBMGMT_ENGINE_POSTGRES, &list, &err), DBMGMT_OK);
    assert_int_equal(list.count, 3);
    assert_string_equal(list.items[0].sql, "CREATE TABLE t (id INTEGER)");
    assert_int_equal(list.items[0].line, 2);
    assert_non_null(strstr(list.items[1].sql, "SELECT 'still the same statement';"));
    assert_int_equal(list.items[1].line, 4);
    assert_string_equal(list.items[2].sql, "INSERT INTO t VALUES (1)");
    assert_int_equal(list.items[2].line, 7);
    dm_mig_statements_free(&list);
    dm_source_clear(&src);
}

static void test_every_layout_loads_up_and_down(void **state)
{
    (void)state;
    static const struct {
        const char *files[4][2];
        dm_layout layout;
        const char *version;
    } cases[] = {
        {{{"001_a.sql", "-- migrate:up\nU;\n-- migrate:down\nD;\n"}}, DM_LAYOUT_NATIVE, "001"},
        {{{"001_a.sql", "U;\n"}, {"001_a_rollback.sql", "D;\n"}}, DM_LAYOUT_COMPANION, "001"},
        {{{"001_a.up.sql", "U;\n"}, {"001_a.down.sql", "D;\n"}}, DM_LAYOUT_GOLANG, "001"},
        {{{"V1_2__a.sql", "U;\n"}, {"U1_2__a.sql", "D;\n"}}, DM_LAYOUT_FLYWAY, "1.2"},
        {{{"001_a.sql", "-- +goose Up\nU;\n-- +goose Down\nD;\n"}}, DM_LAYOUT_GOOSE, "001"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        empty_dir();
        for (int f = 0; f < 4 && cases[i].files[f][0]; f++)
            write_file(cases[i].files[f][0], cases[i].files[f][1]);
        dm_source src = {0};
        dm_error err;
        if (dm_source_add_dir(&src, dir, &err) != DBMGMT_OK)
            fail_msg("case %zu: %s", i, err.msg);
        assert_int_equal(src.count, 1);
        assert_int_equal(src.items[0].layout, cases[i].layout);
        assert_string_equal(src.items[0].version, cases[i].version);
        assert_string_equal(src.items[0].name, "a");
        assert_string_equal(src.items[0].up.sql, "U;\n");
        assert_string_equal(src.items[0].down.sql, "D;\n");
        dm_source_clear(&src);
    }
}

/* message with every "%s" replaced by the folder. */
static void with_dir(char *out, size_t cap, const char *message)
{
    size_t o = 0;
    for (const char *p = message; *p && o + 1 < cap;) {
        if (p[0] == '%' && p[1] == 's') {
            o += (size_t)snprintf(out + o, cap - o, "%s", dir);
            p += 2;
        } else {
            out[o++] = *p++;
        }
    }
    out[o < cap ? o : cap - 1] = '\0';
}

/* Malformed folders and the exact error each gets ("%s" is the folder). */
static void test_malformed_folders_get_errors_naming_the_file(void **state)
{
    (void)state;
    static const struct {
        const char *files[3][2];
        int code;
        const char *message;
    } cases[] = {
        {{{"001_a.sql", "-- migrate:up\nA;\n"}, {"002_b.up.sql", "B;\n"}, {"002_b.down.sql", "B;\n"}},
         DBMGMT_ERR_PARSE,
         "mixed layouts in one folder: %s/002_b.up.sql is golang-migrate (.up.sql/.down.sql) but "
         "%s/001_a.sql is native (-- migrate:up/down)"},
        {{{"001_a.sql", "A;\n"}, {"1_b.sql", "B;\n"}},
         DBMGMT_ERR_PARSE, "%s/1_b.sql: version 1 is already used by %s/001_a.sql"},
        {{{"init.sql", "A;\n"}},
         DBMGMT_ERR_PARSE,
         "%s/init.sql: not a valid migration file name: a migration file is named "
         "<version>_<description>.sql, V<version>__<description>.sql or "
         "<version>_<description>.up.sql"},
        {{{"001_a.txt", "A;\n"}},
         DBMGMT_ERR_PARSE,
         "%s/001_a.txt: not a valid migration file name: a file that looks like a migration must "
         "end in .sql"},
        {{{"001_.sql", "A;\n"}},
         DBMGMT_ERR_PARSE,
         "%s/001_.sql: not a valid migration file name: the description after the version is "
         "empty or too long"},
        {{{"V1_a.sql", "A;\n"}},
         DBMGMT_ERR_PARSE,
         "%s/V1_a.sql: not a valid migration file name: a Flyway file is named "
         "V<version>__<description>.sql"},
        {{{"001_a.sql", "-- migrate:down\nDROP TABLE t;\n"}},
         DBMGMT_ERR_PARSE, "%s/001_a.sql: no '-- migrate:up' section (a native migration needs one)"},
        {{{"001_a.sql", "-- +goose Down\nDROP TABLE t;\n"}},
         DBMGMT_ERR_PARSE, "%s/001_a.sql: no '-- +goose Up' section"},
        {{{"001_a.sql", "\n-- migrate:up transaction:maybe\nA;\n"}},
         DBMGMT_ERR_PARSE,
         "%s/001_a.sql:2: unknown option 'transaction:maybe' on the marker line (known: "
         "transaction:false)"},
        {{{"001_a.sql", "-- migrate:down\nD;\n-- migrate:up\nU;\n"}},
         DBMGMT_ERR_PARSE, "%s/001_a.sql:1: '-- migrate:down' comes before '-- migrate:up'"},
        {{{"003_c.down.sql", "D;\n"}},
         DBMGMT_ERR_PARSE, "%s/003_c.down.sql: a down migration for version 003, which has no up file"},
        {{{"001_a.sql", "U;\n"}, {"001_a_rollback.sql", "D;\n"}, {"001_a.down.sql", "D;\n"}},
         DBMGMT_ERR_PARSE,
         "%s/001_a.down.sql: mixed layouts: this is golang-migrate (.up.sql/.down.sql) but "
         "%s/001_a.sql is plain up file (+ _rollback.sql)"},
        {{{"V1__a.sql", "U;\n"}, {"V1.0__b.sql", "U;\n"}},
         DBMGMT_ERR_PARSE, "%s/V1__a.sql: version 1 is already used by %s/V1.0__b.sql"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        empty_dir();
        for (int f = 0; f < 3 && cases[i].files[f][0]; f++)
            write_file(cases[i].files[f][0], cases[i].files[f][1]);
        dm_source src = {0};
        dm_error err;
        char expected[1024];
        with_dir(expected, sizeof expected, cases[i].message);
        int rc = dm_source_add_dir(&src, dir, &err);
        if (rc != cases[i].code || strcmp(err.msg, expected) != 0)
            fail_msg("case %zu: got %d '%s'\n expected %d '%s'", i, rc, err.msg, cases[i].code,
                     expected);
        assert_int_equal(src.count, 0); /* nothing loaded on error */
        assert_null(src.items);
    }
    dm_source src = {0};
    dm_error err;
    assert_int_equal(dm_source_add_dir(&src, "/nonexistent/migrations", &err), DBMGMT_ERR_IO);
    assert_string_equal(err.msg, "/nonexistent/migrations: cannot open the migrations folder: No such file or directory");
}

/* ---- one folder read by two threads (the boot read, dm_dir_load) ------------ */

#define SHARED_FILES 300

/* SHARED_FILES native migrations with up and down sections of their own;
 * the files named in broken (slots, in name order) get a down section
 * before their up section, an error naming the file and line. */
static void write_shared_folder(const int *broken, size_t nbroken)
{
    empty_dir();
    for (int i = 0; i < SHARED_FILES; i++) {
        char name[64], text[256];
        int bad = 0;
        for (size_t b = 0; b < nbroken; b++)
            bad |= broken[b] == i;
        snprintf(name, sizeof name, "%05d_step_%d.sql", i + 1, i);
        if (bad)
            snprintf(text, sizeof text, "-- migrate:down\nDROP TABLE t%d;\n-- migrate:up\n", i);
        else
            snprintf(text, sizeof text, "-- migrate:up\nCREATE TABLE t%d (id INT);\n%.*s"
                     "-- migrate:down\nDROP TABLE t%d;\n", i, i % 7 * 3, "\n\n\n\n\n\n\n\n\n\n\n"
                     "\n\n\n\n\n\n\n\n\n", i);
        write_file(name, text);
    }
}

static void assert_same_source(const dm_source *a, const dm_source *b)
{
    assert_int_equal(a->count, b->count);
    assert_int_equal(a->from_dir, b->from_dir);
    for (size_t i = 0; i < a->count; i++) {
        const dm_migration *x = &a->items[i], *y = &b->items[i];
        assert_string_equal(x->version, y->version);
        assert_string_equal(x->name, y->name);
        assert_string_equal(x->checksum, y->checksum);
        assert_string_equal(x->up.file, y->up.file);
        assert_string_equal(x->up.sql, y->up.sql);
        assert_string_equal(x->down.sql, y->down.sql);
        assert_int_equal(x->up.line, y->up.line);
        assert_int_equal(x->down.line, y->down.line);
        assert_int_equal(x->layout, y->layout);
    }
}

static void *read_as_reader_0(void *arg)
{
    dm_dir_load_read(arg, 0);
    return NULL;
}

/* Reader 1 on this thread first and then reader 0 (deterministic: reader 1
 * reads every file), or both at once (round > 0), each reading what it can
 * claim; either way the result must be dm_source_add_dir()'s. */
static int shared_read(int round, dm_source *src, dm_error *err)
{
    dm_dir_load *dl = dm_dir_load_new(dir);
    assert_non_null(dl);
    dm_dir_load_list(dl);
    if (round == 0) {
        dm_dir_load_read(dl, 1);
        dm_dir_load_read(dl, 0);
    } else {
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, read_as_reader_0, dl), 0);
        dm_dir_load_read(dl, 1);
        pthread_join(t, NULL);
    }
    int rc = dm_dir_load_finish(dl, src, err);
    dm_dir_load_free(dl);
    return rc;
}

static void test_two_readers_load_what_one_reader_loads(void **state)
{
    (void)state;
    write_shared_folder(NULL, 0);
    dm_source one = {0};
    dm_error err;
    assert_int_equal(dm_source_add_dir(&one, dir, &err), DBMGMT_OK);
    assert_int_equal(one.count, SHARED_FILES);
    for (int round = 0; round < 25; round++) {
        dm_source two = {0};
        assert_int_equal(shared_read(round, &two, &err), DBMGMT_OK);
        assert_same_source(&one, &two);
        dm_source_clear(&two);
    }
    dm_source_clear(&one);
}

/* Files 40 and 260 are broken: whichever reader meets which, the error is
 * the one a single reader meets first (file 40), every time. */
static void test_two_readers_report_the_first_error_of_the_folder(void **state)
{
    (void)state;
    static const int broken[] = {40, 260};
    write_shared_folder(broken, 2);
    dm_source one = {0};
    dm_error first;
    assert_int_equal(dm_source_add_dir(&one, dir, &first), DBMGMT_ERR_PARSE);
    assert_non_null(strstr(first.msg, "/00041_step_40.sql:1: '-- migrate:down' comes before"));
    for (int round = 0; round < 25; round++) {
        dm_source two = {0};
        dm_error err;
        assert_int_equal(shared_read(round, &two, &err), DBMGMT_ERR_PARSE);
        assert_string_equal(err.msg, first.msg);
        assert_int_equal(two.count, 0);
        assert_null(two.items);
    }
    /* only the later one broken: that is the error */
    static const int later[] = {260};
    write_shared_folder(later, 1);
    dm_error err;
    assert_int_equal(shared_read(1, &one, &err), DBMGMT_ERR_PARSE);
    assert_non_null(strstr(err.msg, "/00261_step_260.sql:1: '-- migrate:down' comes before"));
    assert_int_equal(one.count, 0);
}

static void test_split_error_in_a_section_names_file_line_and_column(void **state)
{
    (void)state;
    empty_dir();
    write_file("001_a.sql", "-- migrate:up\nSELECT 1;\nSELECT 'never closed;\n");
    dm_source src = {0};
    dm_error err;
    assert_int_equal(dm_source_add_dir(&src, dir, &err), DBMGMT_OK);
    dm_mig_statements list;
    assert_int_equal(dm_section_statements(&src.items[0].up, DBMGMT_ENGINE_SQLITE, &list, &err),
                     DBMGMT_ERR_PARSE);
    char expected[400];
    snprintf(expected, sizeof expected, "%s/001_a.sql:3:8:", dir);
    if (strncmp(err.msg, expected, strlen(expected)) != 0)
        fail_msg("got '%s', expected it to start with '%s'", err.msg, expected);
    dm_source_clear(&src);
}

/* Files are read into a reused buffer: one that fills it exactly (32767
 * bytes: the first buffer is 32768 with its NUL), one bigger than it, and one
 * reached through a symlink (read to the end) all load whole. */
static void test_large_and_symlinked_files_load_whole(void **state)
{
    (void)state;
    empty_dir();
    size_t sizes[] = {32767, 200000, 300};
    char *texts[3];
    for (int k = 0; k < 3; k++) {
        size_t n = sizes[k];
        texts[k] = malloc(n + 1);
        assert_non_null(texts[k]);
        for (size_t i = 0; i < n; i++) /* comment lines of varying length */
            texts[k][i] = (i % 61 == 60) ? '\n' : (char)('a' + (i * 7 + (size_t)k) % 26);
        memcpy(texts[k], "--", 2);
        texts[k][n] = '\0';
    }
    write_file("001_buffer_sized.sql", texts[0]);
    write_file("002_big.sql", texts[1]);
    write_file("target-of-a-link", texts[2]); /* not a migration name: ignored itself */
    char target[512], link_path[512];
    snprintf(target, sizeof target, "%s/target-of-a-link", dir);
    snprintf(link_path, sizeof link_path, "%s/003_linked.sql", dir);
    assert_int_equal(symlink(target, link_path), 0);
    dm_source src = {0};
    dm_error err;
    assert_int_equal(dm_source_add_dir(&src, dir, &err), DBMGMT_OK);
    assert_int_equal(src.count, 3);
    for (int k = 0; k < 3; k++) {
        const dm_migration *m = &src.items[k];
        assert_int_equal(m->up.len, sizes[k]);
        assert_memory_equal(m->up.sql, texts[k], sizes[k]);
        assert_int_equal(m->up.sql[sizes[k]], '\0');
        char hex[65];
        dm_checksum_normalised(texts[k], sizes[k], hex);
        assert_string_equal(m->checksum, hex);
        free(texts[k]);
    }
    dm_source_clear(&src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_versions_compare_numerically),
        cmocka_unit_test(test_checksum_ignores_crlf_and_bom),
        cmocka_unit_test(test_native_layout_sections_options_and_lines),
        cmocka_unit_test(test_goose_blocks_stay_whole_and_keep_their_lines),
        cmocka_unit_test(test_every_layout_loads_up_and_down),
        cmocka_unit_test(test_malformed_folders_get_errors_naming_the_file),
        cmocka_unit_test(test_two_readers_load_what_one_reader_loads),
        cmocka_unit_test(test_two_readers_report_the_first_error_of_the_folder),
        cmocka_unit_test(test_split_error_in_a_section_names_file_line_and_column),
        cmocka_unit_test(test_large_and_symlinked_files_load_whole),
    };
    return cmocka_run_group_tests_name("migrate/source", tests, make_dir, remove_dir);
}
