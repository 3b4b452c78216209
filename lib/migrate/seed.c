/*
 * Seed data (issue 22, docs/seeds.md): the files of a seeds/ folder beside
 * migrations/, applied after migrating, never in production. Before the
 * database is touched the folder is loaded and linted with the seed rules
 * (lib/lint/rules_seed.c); then, under the migration lock, the migration
 * history must have nothing pending and not be dirty, and each seed runs in
 * a transaction of its own with its row of the seed history table. An
 * unchanged seed (same SHA-256 as recorded) is skipped; a changed one is run
 * again, which the lint has made safe.
 *
 * SQLite: the lock is the write transaction (BEGIN IMMEDIATE), taken per
 * seed with the checks made again inside it. PostgreSQL, MySQL: the lock is
 * held on a session of its own for the run; the table is created before the
 * first transaction (DDL commits on MySQL).
 */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "migrator.h"

#define SEED_HISTORY "dbmgmt_seed_history"

int dm_is_seeds_dir(const char *dir)
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    const char *last = dir;
    for (size_t i = 0; i < len; i++)
        if (dir[i] == '/')
            last = dir + i + 1;
    return (size_t)(dir + len - last) == 5 && memcmp(last, "seeds", 5) == 0;
}

/* "seeds" beside the migrations folder (db/migrations -> db/seeds), else
 * "./seeds" (a compiled-in table, or no migrations). */
static char *default_seeds_dir(const dbmgmt_migrator *m)
{
    const char *mdir = m->migrations_dir;
    if (!mdir)
        return dm_strdup("seeds");
    size_t len = strlen(mdir);
    while (len > 1 && mdir[len - 1] == '/')
        len--;
    while (len > 0 && mdir[len - 1] != '/')
        len--;
    dm_buf b = DM_BUF_INIT;
    dm_buf_append(&b, mdir, len); /* the parent, with its slash, or nothing */
    dm_buf_puts(&b, "seeds");
    return dm_buf_detach(&b);
}

typedef struct seed_run {
    dbmgmt_migrator *m;
    const char *dir;
    dm_source seeds;
    char environment[101]; /* in force, recorded on the rows; "" when none */
} seed_run;

static int from_conn(dbmgmt_migrator *m, dbmgmt_conn *c, int rc)
{
    if (rc < 0)
        dm_error_copy(&m->err, &c->err);
    return rc;
}

static int refuse_production(seed_run *r, const char *env, const char *stamped)
{
    return dm_migrator_fail(r->m, DBMGMT_ERR_POLICY,
                            "environment '%s'%s never runs seed data: the seeds of %s are for "
                            "development and test databases; nothing was applied",
                            env, stamped, r->dir);
}

/* Seeds have an up section only, and run in a transaction. */
static int check_seed_files(seed_run *r)
{
    for (size_t i = 0; i < r->seeds.count; i++) {
        const dm_migration *s = &r->seeds.items[i];
        if (s->down.sql)
            return dm_migrator_fail(r->m, DBMGMT_ERR_PARSE,
                                    "seed %s (%s) has a down section (%s): seeds are applied "
                                    "again when they change, never reverted; remove it",
                                    s->version, s->up.file, s->down.file);
        if (s->no_transaction)
            return dm_migrator_fail(r->m, DBMGMT_ERR_PARSE,
                                    "seed %s (%s) asks for no transaction: every seed runs in a "
                                    "transaction of its own with its history row",
                                    s->version, s->up.file);
    }
    return DBMGMT_OK;
}

/* Lint every seed; an error finding refuses the run before the database is
 * read. Warnings (allow comments) are logged. */
static int lint_seeds(seed_run *r)
{
    dm_linter lt;
    dm_linter_init(&lt, r->m->conn->drv->engine);
    lt.seeds = 1;
    dm_lint_findings f = {0};
    int rc = DBMGMT_OK;
    for (size_t i = 0; i < r->seeds.count && rc == DBMGMT_OK; i++)
        rc = dm_lint_migration(&lt, &r->seeds.items[i], DBMGMT_UP, 1, i, &f, &r->m->err);
    dm_linter_clear(&lt);
    dm_lint_findings_sort(&f);
    size_t errors = rc == DBMGMT_OK ? dm_lint_findings_count_severity(&f, DBMGMT_LINT_ERROR) : 0;
    for (size_t k = 0; k < dm_findings_count(&f) && rc == DBMGMT_OK; k++) {
        const dm_lint_finding *x = dm_lint_finding_at(&f, k);
        const char *id = dm_lint_rule_id(x->rule);
        if (x->severity != DBMGMT_LINT_ERROR) {
            dm_log(DBMGMT_LOG_WARN, "seed lint: %s:%d: %s: %s", x->file, (int)x->line, id,
                   x->message);
            continue;
        }
        rc = dm_migrator_fail(r->m, DBMGMT_ERR_POLICY,
                              "seed lint: %s:%d: error %s in seed %s: %s. Safe: %s%s; no seed "
                              "was applied (`dbmgmt lint --seeds %s` lists every finding)",
                              x->file, (int)x->line, id, x->version, x->message,
                              dm_lint_rule_advice(x->rule),
                              errors > 1 ? " (and more error findings)" : "", r->dir);
    }
    dm_lint_findings_clear(&f);
    return rc;
}

/* Under the lock: not production by the database's stamp, nothing pending,
 * not dirty, no other reason the migration history refuses a plan. */
static int check_ready(seed_run *r)
{
    dbmgmt_migrator *m = r->m;
    dm_history h;
    int rc = dm_history_read(m, &h);
    if (rc != DBMGMT_OK)
        return rc;
    if (!m->environment && h.environment && strcmp(h.environment, "production") == 0)
        rc = refuse_production(r, h.environment, " (stamped on the database)");
    dbmgmt_plan *p = NULL;
    if (rc == DBMGMT_OK)
        rc = dm_plan_compute(m, &h, DBMGMT_UP, NULL, 0, &p);
    if (rc == DBMGMT_OK && p->nproblems)
        rc = dm_migrator_fail(m, p->problems[0].status,
                              "seeds run after migrating, and the migrations refuse: %s; no seed "
                              "was applied", p->problems[0].message);
    else if (rc == DBMGMT_OK && p->count)
        rc = dm_migrator_fail(m, DBMGMT_ERR_POLICY,
                              "%zu migration%s pending (the first: %s, %s): seeds run after "
                              "migrating, so run `dbmgmt up` first; no seed was applied",
                              p->count, p->count == 1 ? " is" : "s are", p->steps[0].mig->version,
                              p->steps[0].mig->up.file ? p->steps[0].mig->up.file : "(table)");
    const char *env = m->environment ? m->environment : h.environment;
    snprintf(r->environment, sizeof r->environment, "%s", env ? env : "");
    dbmgmt_plan_free(p);
    dm_history_clear(&h);
    return rc;
}

/* Run "PREFIX <schema>.dbmgmt_seed_history SUFFIX" with params; *out (when
 * not NULL) gets the result to read. */
static int seed_sql(dbmgmt_migrator *m, const char *prefix, const char *suffix, size_t n,
                    const char *const *params, dbmgmt_result **out)
{
    dm_buf b = DM_BUF_INIT;
    dm_buf_puts(&b, prefix);
    if (m->schema[0]) {
        m->conn->drv->quote_ident(&b, m->schema);
        dm_buf_putc(&b, '.');
    }
    m->conn->drv->quote_ident(&b, SEED_HISTORY);
    dm_buf_puts(&b, suffix);
    char *sql = dm_buf_detach(&b);
    if (!sql)
        return dm_migrator_fail(m, DBMGMT_ERR_NOMEM, "out of memory");
    dbmgmt_result *r = NULL;
    int rc = from_conn(m, m->conn, dbmgmt_conn_query(m->conn, &r, sql, n, params));
    dm_free(sql);
    if (out && rc == DBMGMT_OK)
        *out = r;
    else
        dbmgmt_result_free(r);
    return rc;
}

static int ensure_seed_table(dbmgmt_migrator *m)
{
    int rc = dm_migrator_session(m);
    if (rc != DBMGMT_OK)
        return rc;
    int exists = m->conn->drv->table_exists(m->conn->dc, m->schema, SEED_HISTORY, &m->conn->err);
    if (exists != 0)
        return exists < 0 ? from_conn(m, m->conn, exists) : DBMGMT_OK;
    return seed_sql(m, "CREATE TABLE IF NOT EXISTS ",
                    " (version VARCHAR(64) NOT NULL PRIMARY KEY,"
                    " name VARCHAR(255) NOT NULL,"
                    " script VARCHAR(1000) NOT NULL,"
                    " checksum VARCHAR(64) NOT NULL,"
                    " environment VARCHAR(100) NOT NULL,"
                    " applied_by VARCHAR(100) NOT NULL,"
                    " applied_on VARCHAR(32) NOT NULL,"
                    " execution_ms BIGINT NOT NULL,"
                    " applied_count INTEGER NOT NULL)",
                    0, NULL, NULL);
}

/* The recorded checksum of a seed (*checksum "" when it has no row) and how
 * many times it was applied. */
static int seed_row(dbmgmt_migrator *m, const dm_migration *s, char checksum[65], int64_t *count)
{
    const char *params[] = {s->version};
    dbmgmt_result *r = NULL;
    checksum[0] = '\0';
    *count = 0;
    int rc = seed_sql(m, "SELECT checksum, applied_count FROM ", " WHERE version = ?", 1, params,
                      &r);
    int row = rc == DBMGMT_OK ? dbmgmt_result_next(r) : 0;
    if (row == 1) {
        const char *v = dbmgmt_result_text(r, 0);
        snprintf(checksum, 65, "%s", v ? v : "");
        *count = dbmgmt_result_int64(r, 1);
    } else if (row < 0) {
        rc = from_conn(m, m->conn, row);
    }
    dbmgmt_result_free(r);
    return rc;
}

/* The seed's row, replaced (the same statements on every engine). */
static int seed_record(seed_run *run, const dm_migration *s, int64_t count, int64_t ms)
{
    char now[32], ms_s[24], count_s[24];
    dm_utc_now(now);
    snprintf(ms_s, sizeof ms_s, "%lld", (long long)ms);
    snprintf(count_s, sizeof count_s, "%lld", (long long)count);
    const char *key[] = {s->version};
    int rc = seed_sql(run->m, "DELETE FROM ", " WHERE version = ?", 1, key, NULL);
    const char *params[] = {s->version,       s->name, s->up.file ? s->up.file : "",
                            s->checksum,      run->environment,
                            dm_installed_by(), now,    ms_s,
                            count_s};
    if (rc == DBMGMT_OK)
        rc = seed_sql(run->m, "INSERT INTO ",
                      " (version, name, script, checksum, environment, applied_by, applied_on,"
                      " execution_ms, applied_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      9, params, NULL);
    return rc;
}

static int run_seed_statements(dbmgmt_migrator *m, const dm_migration *s)
{
    dm_mig_statements list;
    memset(&list, 0, sizeof list);
    int rc = dm_section_statements(&s->up, m->conn->drv->engine, &list, &m->err);
    for (size_t i = 0; rc == DBMGMT_OK && i < list.count; i++) {
        rc = list.items[i].split ? dm_conn_exec_split(m->conn, list.items[i].split)
                                 : dm_conn_exec_statement(m->conn, list.items[i].sql);
        if (rc != DBMGMT_OK) {
            char server[DM_ERRMSG_MAX];
            snprintf(server, sizeof server, "%s", dbmgmt_conn_errmsg(m->conn));
            rc = dm_error_set_sql(&m->err, rc, dbmgmt_conn_sqlstate(m->conn),
                                  "seed %s failed at statement %zu of %zu, %s:%d: %s; it was "
                                  "rolled back",
                                  s->version, i + 1, list.count, s->up.file,
                                  (int)list.items[i].line, server);
        }
    }
    if (list.items || list.owner)
        dm_mig_statements_free(&list);
    return rc;
}

/* One seed: skipped when unchanged, else run with its row in one
 * transaction (in_tx: the caller's lock transaction is that one). */
static int seed_one(seed_run *run, const dm_migration *s, int in_tx, int32_t *outcome,
                    int64_t *elapsed)
{
    dbmgmt_migrator *m = run->m;
    char recorded[65];
    int64_t count = 0;
    int64_t start = dm_monotonic_ms();
    *elapsed = 0;
    int rc = seed_row(m, s, recorded, &count);
    if (rc != DBMGMT_OK)
        return rc;
    if (strcmp(recorded, s->checksum) == 0) {
        *outcome = DBMGMT_SEED_UNCHANGED;
        return DBMGMT_OK;
    }
    *outcome = recorded[0] ? DBMGMT_SEED_REAPPLIED : DBMGMT_SEED_APPLIED;
    rc = dm_migrator_session_full(m); /* what to put back, before anything changes it */
    if (rc == DBMGMT_OK && !in_tx)
        rc = from_conn(m, m->conn, dbmgmt_conn_begin(m->conn));
    if (rc == DBMGMT_OK)
        rc = run_seed_statements(m, s);
    if (rc == DBMGMT_OK)
        rc = seed_record(run, s, count + 1, dm_monotonic_ms() - start);
    if (!in_tx && rc == DBMGMT_OK)
        rc = from_conn(m, m->conn, dbmgmt_conn_commit(m->conn));
    else if (!in_tx)
        dbmgmt_conn_rollback(m->conn);
    rc = dm_migrator_session_restore(m, s->version, rc);
    *elapsed = dm_monotonic_ms() - start;
    return rc;
}

static int report(seed_run *run, const dm_migration *s, int32_t outcome, int64_t elapsed)
{
    static const char *const said[] = {"unchanged", "applied", "re-applied"};
    dbmgmt_migrator *m = run->m;
    dm_log(DBMGMT_LOG_INFO, "seed %s %s (%s) %s in %lld ms", s->version, s->name, s->up.file,
           said[outcome], (long long)elapsed);
    if (m->seed_progress && m->seed_progress(m->seed_progress_userdata, s->version, s->name,
                                             s->up.file, outcome, elapsed))
        return dm_migrator_fail(m, DBMGMT_ERR_POLICY,
                                "stopped by the seed progress callback after seed %s",
                                s->version);
    return DBMGMT_OK;
}

/* SQLite: per seed, the write lock, the checks, the seed, commit. */
static int seed_with_transaction_lock(seed_run *run)
{
    dbmgmt_migrator *m = run->m;
    int rc = DBMGMT_OK;
    for (size_t i = 0; i < run->seeds.count && rc == DBMGMT_OK; i++) {
        const dm_migration *s = &run->seeds.items[i];
        int32_t outcome = DBMGMT_SEED_UNCHANGED;
        int64_t elapsed = 0;
        rc = from_conn(m, m->conn, dbmgmt_conn_lock(m->conn, "dbmgmt", m->lock_timeout_ms));
        if (rc != DBMGMT_OK)
            break;
        rc = check_ready(run);
        if (rc == DBMGMT_OK)
            rc = ensure_seed_table(m);
        if (rc == DBMGMT_OK)
            rc = seed_one(run, s, 1, &outcome, &elapsed);
        if (rc == DBMGMT_OK)
            rc = from_conn(m, m->conn, dbmgmt_conn_unlock(m->conn, "dbmgmt"));
        else if (dbmgmt_conn_in_transaction(m->conn) == 1)
            dbmgmt_conn_rollback(m->conn);
        if (rc == DBMGMT_OK)
            rc = report(run, s, outcome, elapsed);
    }
    return rc;
}

/* PostgreSQL, MySQL: the lock on a session of its own for the whole run. */
static int seed_with_session_lock(seed_run *run)
{
    dbmgmt_migrator *m = run->m;
    char lock_name[DM_LOCK_NAME_MAX];
    dm_lock_name(m, lock_name);
    dbmgmt_conn *lock_conn = NULL;
    int rc = dm_lock_session_open(m, lock_name, &lock_conn);
    if (rc != DBMGMT_OK)
        return rc;
    rc = check_ready(run);
    if (rc == DBMGMT_OK)
        rc = ensure_seed_table(m);
    for (size_t i = 0; i < run->seeds.count && rc == DBMGMT_OK; i++) {
        int32_t outcome = DBMGMT_SEED_UNCHANGED;
        int64_t elapsed = 0;
        rc = seed_one(run, &run->seeds.items[i], 0, &outcome, &elapsed);
        if (rc == DBMGMT_OK)
            rc = report(run, &run->seeds.items[i], outcome, elapsed);
    }
    dm_lock_session_close(lock_conn, lock_name);
    return rc;
}

DBMGMT_API int dbmgmt_migrator_set_seed_progress(dbmgmt_migrator *m, dbmgmt_seed_progress_fn fn,
                                                 void *userdata)
{
    if (!m)
        return dm_error_invalid("dbmgmt_migrator_set_seed_progress", "migrator is NULL");
    dm_error_reset(&m->err);
    m->seed_progress = fn;
    m->seed_progress_userdata = userdata;
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_migrator_seed(dbmgmt_migrator *m, const char *seeds_dir)
{
    if (!m)
        return dm_error_invalid("dbmgmt_migrator_seed", "migrator is NULL");
    dm_error_reset(&m->err);
    char *dir = seeds_dir ? dm_strdup(seeds_dir) : default_seeds_dir(m);
    if (!dir)
        return dm_migrator_fail(m, DBMGMT_ERR_NOMEM, "out of memory seeding");
    seed_run run;
    memset(&run, 0, sizeof run);
    run.m = m;
    run.dir = dir;
    int rc = DBMGMT_OK;
    if (m->environment && strcmp(m->environment, "production") == 0)
        rc = refuse_production(&run, m->environment, " (the migrator's)");
    if (rc == DBMGMT_OK)
        rc = dm_source_add_dir(&run.seeds, dir, &m->err);
    if (rc == DBMGMT_ERR_IO) { /* the loader speaks of a migrations folder */
        char was[DM_ERRMSG_MAX];
        snprintf(was, sizeof was, "%s", m->err.msg);
        dm_migrator_fail(m, rc, "reading the seeds: %s", was);
    }
    if (rc == DBMGMT_OK && run.seeds.count == 0)
        dm_log(DBMGMT_LOG_INFO, "no seed files in %s: nothing to seed", dir);
    if (rc == DBMGMT_OK && run.seeds.count > 0)
        rc = check_seed_files(&run);
    if (rc == DBMGMT_OK && run.seeds.count > 0)
        rc = lint_seeds(&run);
    if (rc == DBMGMT_OK && run.seeds.count > 0)
        rc = m->conn->drv->lock_is_transaction ? seed_with_transaction_lock(&run)
                                               : seed_with_session_lock(&run);
    if (rc != DBMGMT_OK && m->err.code == DBMGMT_OK)
        dm_migrator_fail(m, rc, "seeding from %s failed (%s)", dir, dbmgmt_status_name(rc));
    dm_source_clear(&run.seeds);
    dm_free(dir);
    return rc;
}
