/* The migration conformance suites' scratch databases (migrate_scratch.h). */
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

#include "dbmgmt.h"
#include "migrate_scratch.h"
#include "support/engine.h"
#include "support/files.h"

const char *base_dsn;
dbmgmt_engine engine;

int scratch_setup(void **state)
{
    scratch *s = calloc(1, sizeof *s);
    if (support_scratch_dir(s->dir, sizeof s->dir, "dbmgmt-mig") != 0)
        return -1;
    support_scratch_db_create(&s->db, base_dsn, "dbmgmt_mig", s->dir);
    char mdir[300];
    snprintf(mdir, sizeof mdir, "%s/migrations", s->dir);
    mkdir(mdir, 0700);
    strcat(s->dir, "/migrations");
    if (dbmgmt_conn_open(&s->conn, s->db.dsn) != DBMGMT_OK)
        return -1;
    if (dbmgmt_migrator_new(&s->m, s->conn) != DBMGMT_OK)
        return -1;
    *state = s;
    return 0;
}

int scratch_teardown(void **state)
{
    scratch *s = *state;
    dbmgmt_migrator_free(s->m);
    dbmgmt_conn_close(s->conn);
    support_scratch_db_drop(&s->db, base_dsn);
    s->dir[strlen(s->dir) - strlen("/migrations")] = '\0';
    int rc = support_remove_tree(s->dir);
    free(s);
    return rc == 0 ? 0 : -1;
}

/* A fresh migrator over the same connection, reading the folder again. */
dbmgmt_migrator *reload(scratch *s)
{
    dbmgmt_migrator_free(s->m);
    assert_int_equal(dbmgmt_migrator_new(&s->m, s->conn), DBMGMT_OK);
    int rc = dbmgmt_migrator_add_dir(s->m, s->dir);
    if (rc != DBMGMT_OK)
        fail_msg("add_dir: %s", dbmgmt_migrator_errmsg(s->m));
    return s->m;
}

int64_t count_rows(scratch *s, const char *sql)
{
    dbmgmt_result *r = NULL;
    if (dbmgmt_conn_query(s->conn, &r, sql, 0, NULL) != DBMGMT_OK)
        return -1;
    int64_t v = dbmgmt_result_next(r) == 1 ? dbmgmt_result_int64(r, 0) : -1;
    dbmgmt_result_free(r);
    return v;
}

int table_exists(scratch *s, const char *table)
{
    char *json = NULL;
    assert_int_equal(dbmgmt_conn_schema_json(s->conn, &json), DBMGMT_OK);
    char needle[128];
    snprintf(needle, sizeof needle, "{\"name\":\"%s\",", table);
    int found = strstr(json, needle) != NULL;
    dbmgmt_free(json);
    return found;
}

int64_t applied_count(scratch *s)
{
    return count_rows(s, "SELECT COUNT(*) FROM dbmgmt_schema_history WHERE success = 1 AND installed_rank > 0");
}

void up_ok(scratch *s)
{
    int rc = dbmgmt_migrator_up(s->m);
    if (rc != DBMGMT_OK)
        fail_msg("up: %s: %s", dbmgmt_status_name(rc), dbmgmt_migrator_errmsg(s->m));
}

int scratch_engine_init(void)
{
    base_dsn = getenv("DBMGMT_TEST_DSN");
    if (!base_dsn || !*base_dsn) {
        fprintf(stderr, "DBMGMT_TEST_DSN is not set\n");
        return -1;
    }
    dbmgmt_conn *probe = NULL;
    if (dbmgmt_conn_open(&probe, base_dsn) != DBMGMT_OK) {
        fprintf(stderr, "cannot open DBMGMT_TEST_DSN: %s\n", dbmgmt_errmsg());
        return -1;
    }
    engine = dbmgmt_conn_engine(probe);
    dbmgmt_conn_close(probe);
    return 0;
}
