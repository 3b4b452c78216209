/*
 * Applying plans under the engine's lock (DESIGN §5.3):
 * - PostgreSQL, MySQL: the lock is held on a connection of its own for the
 *   whole run: the driver's migration lock where it has one (PostgreSQL: a
 *   transaction-level advisory lock that holds through PgBouncer in
 *   transaction mode, docs/postgres-cluster.md), else its session lock;
 * - SQLite: the lock is the write transaction itself, taken per step, with
 *   the history read again inside it.
 * Under the lock the plan is computed again, so a process that waited finds
 * the work done. A transactional step commits with its history row; a
 * non-transactional one writes its row first (success = 0) and counts the
 * statements it has applied, so a failure or a crash leaves a dirty mark
 * naming the statement.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "migrator.h"

static int from_conn(dbmgmt_migrator *m, dbmgmt_conn *c, int rc)
{
    if (rc < 0)
        dm_error_copy(&m->err, &c->err);
    return rc;
}

static const dm_section *step_section(const dm_plan_step *st)
{
    return st->direction == DBMGMT_UP ? &st->mig->up : &st->mig->down;
}

/* The progress hook before a step: non-zero cancels. */
static int progress_before(dbmgmt_migrator *m, const dm_plan_step *st)
{
    if (m->progress &&
        m->progress(m->progress_userdata, st->mig->version, st->mig->name, st->direction, 0, 0))
        return dm_migrator_fail(m, DBMGMT_ERR_POLICY,
                                "stopped by the progress callback before migration %s",
                                st->mig->version);
    return DBMGMT_OK;
}

static void progress_after(dbmgmt_migrator *m, const dm_plan_step *st, int64_t elapsed)
{
    if (m->progress)
        m->progress(m->progress_userdata, st->mig->version, st->mig->name, st->direction, 1,
                    elapsed);
    dm_log(DBMGMT_LOG_INFO, "migration %s %s (%s) %s in %lld ms", st->mig->version,
           st->mig->name, step_section(st)->file, st->direction == DBMGMT_UP ? "applied" : "reverted",
           (long long)elapsed);
}

/* Run statements [from, count) of a section; on failure the migrator's
 * error names the migration, FILE:LINE and the server's message, and
 * *failed_at is the index of the failing statement. */
static int run_statements(dbmgmt_migrator *m, const dm_plan_step *st,
                          const dm_mig_statements *list, size_t from, int dirty_protocol,
                          size_t *failed_at)
{
    const dm_section *s = step_section(st);
    int marks = dirty_protocol && st->direction == DBMGMT_UP;
    for (size_t i = from; i < list->count; i++) {
        const dm_mig_statement *item = &list->items[i];
        char *mark = NULL;
        int rc = DBMGMT_OK;
        if (marks && dm_stmt_can_carry_mark(item)) {
            rc = dm_history_mark_sql(m, st->mig->version, 0, (int32_t)(i + 1), 0, NULL, &mark);
            if (rc == DBMGMT_ERR_INVALID)
                rc = DBMGMT_OK; /* not text-safe: marked on its own below */
            else if (rc != DBMGMT_OK)
                return rc;
        }
        int carried = mark != NULL;
        if (carried) { /* the statement and its progress mark in one round trip */
            /* either failure stops here: the dirty mark says i */
            rc = dm_conn_exec_followed(m->conn, item->split, mark);
            dm_free(mark);
        } else if (item->split) {
            rc = dm_conn_exec_split(m->conn, item->split);
        } else { /* a goose block goes as one statement, as in a run without marks */
            rc = dm_conn_exec_followed_end(m->conn);
            if (rc == DBMGMT_OK)
                rc = dm_conn_exec_statement(m->conn, item->sql);
        }
        if (!carried && rc == DBMGMT_OK && marks)
            rc = dm_history_mark(m, st->mig->version, 0, (int32_t)(i + 1), NULL, 0, NULL);
        if (rc != DBMGMT_OK) {
            *failed_at = i;
            char server[DM_ERRMSG_MAX];
            snprintf(server, sizeof server, "%s", dbmgmt_conn_errmsg(m->conn));
            return dm_error_set_sql(&m->err, rc, dbmgmt_conn_sqlstate(m->conn),
                                    "migration %s (%s) failed at statement %zu of %zu, %s:%d: %s",
                                    st->mig->version, st->direction == DBMGMT_UP ? "up" : "down",
                                    i + 1, list->count, s->file, (int)list->items[i].line, server);
        }
    }
    return DBMGMT_OK;
}

/* After a run that may have sent statements with their marks: multi-statement
 * queries off again (MySQL). Returns rc, or that call's failure. */
static int end_followed(dbmgmt_migrator *m, int rc)
{
    int ended = dm_conn_exec_followed_end(m->conn);
    return rc == DBMGMT_OK && ended != DBMGMT_OK ? from_conn(m, m->conn, ended) : rc;
}

/* Whether a statement of the list may have changed the session: only then
 * is it put back after the migration (a round trip or two saved per
 * migration on the network engines; stmt_kind.c says what counts). */
static int may_change_session(const dm_mig_statements *list)
{
    for (size_t i = 0; i < list->count; i++)
        if (dm_stmt_may_change_session(&list->items[i]))
            return 1;
    return 0;
}

/* DESIGN §5.4: in production, the run that is about to change the schema
 * first takes the required backup; without it nothing is changed. Called
 * under the lock, before the first step. */
static int backup_before_changes(dbmgmt_migrator *m, const dm_history *h)
{
    if (!m->backup_before || !dm_migrator_in_production(m, h))
        return DBMGMT_OK;
    char *id = NULL;
    int64_t start = dm_monotonic_ms();
    int rc = dbmgmt_backup_run_now(m->backup_before, &id); /* id even when it failed */
    if (rc != DBMGMT_OK) {
        dbmgmt_free(id);
        return dm_error_set(&m->err, DBMGMT_ERR_POLICY,
                            "environment 'production' requires a backup before migrating, and "
                            "it failed (%s): %s; nothing was applied",
                            dbmgmt_status_name(rc), dbmgmt_backup_errmsg(m->backup_before));
    }
    dm_log(DBMGMT_LOG_INFO, "backup %s taken before migrating, in %lld ms", id,
           (long long)(dm_monotonic_ms() - start));
    dbmgmt_free(id);
    return DBMGMT_OK;
}

/* Where SET is transactional (PostgreSQL), the session is put back inside
 * the step's own transaction, before COMMIT: through a transaction-mode
 * pooler the transaction is all that is sure to run on one server
 * connection, so nothing the migration set outlives it there, where the
 * next client (another migrator reading its current schema) would find it.
 * Returns rc, or the restore's failure naming the version. */
static int restore_before_commit(dbmgmt_migrator *m, const dm_plan_step *st,
                                 const dm_mig_statements *list, int rc)
{
    if (rc != DBMGMT_OK || !m->conn->drv->settings_transactional || !may_change_session(list))
        return rc;
    return dm_migrator_session_restore(m, st->mig->version, rc);
}

/* A step in one transaction with its history row. in_transaction: the
 * caller's lock transaction is already open (SQLite). */
static int run_transactional_step(dbmgmt_migrator *m, const dm_plan_step *st, int64_t rank,
                                  int in_transaction)
{
    dm_mig_statements list;
    int rc = dm_section_statements(step_section(st), m->conn->drv->engine, &list, &m->err);
    if (rc != DBMGMT_OK)
        return rc;
    int64_t start = dm_monotonic_ms();
    rc = dm_migrator_session_full(m); /* what to put back, before anything changes it */
    if (rc == DBMGMT_OK && !in_transaction)
        rc = from_conn(m, m->conn, dbmgmt_conn_begin(m->conn));
    size_t failed_at = 0;
    if (rc == DBMGMT_OK)
        rc = run_statements(m, st, &list, 0, 0, &failed_at);
    if (rc == DBMGMT_OK)
        rc = st->direction == DBMGMT_UP
                 ? dm_history_insert(m, rank, st->mig, 1, (int32_t)list.count, dm_monotonic_ms() - start)
                 : dm_history_delete(m, st->mig->version);
    if (!in_transaction) {
        rc = restore_before_commit(m, st, &list, rc);
        if (rc == DBMGMT_OK)
            rc = from_conn(m, m->conn, dbmgmt_conn_commit(m->conn));
        else
            dbmgmt_conn_rollback(m->conn);
        /* after a commit that carried the restore there is nothing to undo
         * (a rollback undid the migration's SET, but restore anyway: a
         * migration may have committed on its own) */
        if (rc != DBMGMT_OK ||
            (!m->conn->drv->settings_transactional && may_change_session(&list)))
            rc = dm_migrator_session_restore(m, st->mig->version, rc);
    }
    dm_mig_statements_free(&list);
    if (rc == DBMGMT_OK)
        progress_after(m, st, dm_monotonic_ms() - start);
    return rc;
}

/* The history row of a step could not be written, so none of its
 * statements ran. The failure must not mark the version dirty: a row of
 * that version that exists is another migrator's (one that read the
 * history at the same time, when the lock did not exclude it - GET_LOCK on
 * two Galera nodes), and marking it would turn its applied migration into
 * a failed one that every later boot refuses. */
static int history_row_refused(dbmgmt_migrator *m, const dm_plan_step *st, int rc)
{
    dm_error failure = m->err;
    return dm_error_set_sql(&m->err, rc, failure.sqlstate,
                            "migration %s: its history row could not be written, so none of "
                            "its statements ran: %s",
                            st->mig->version, failure.msg);
}

/* A step outside a transaction: the history row is written first and
 * counts the statements done, so a failure leaves a dirty mark. */
static int run_dirty_protocol_step(dbmgmt_migrator *m, const dm_plan_step *st, int64_t rank,
                                   size_t from, int row_exists)
{
    dm_mig_statements list;
    int rc = dm_section_statements(step_section(st), m->conn->drv->engine, &list, &m->err);
    if (rc != DBMGMT_OK)
        return rc;
    int64_t start = dm_monotonic_ms();
    rc = dm_migrator_session_full(m); /* what to put back, before anything changes it */
    if (rc != DBMGMT_OK) {
        dm_mig_statements_free(&list);
        return rc;
    }
    if (st->direction == DBMGMT_UP && !row_exists)
        rc = dm_history_insert(m, rank, st->mig, 0, 0, 0);
    if (rc != DBMGMT_OK) /* no row of ours: nothing may be marked (see below) */
        rc = history_row_refused(m, st, rc);
    size_t failed_at = list.count; /* set by run_statements when a statement fails */
    if (rc == DBMGMT_OK)
        rc = run_statements(m, st, &list, from, 1, &failed_at);
    if (rc != DBMGMT_OK && failed_at < list.count) {
        dm_error failure = m->err;
        char note[DM_ERRMSG_MAX];
        snprintf(note, sizeof note, "statement %zu, %s:%d: %s", failed_at + 1,
                 step_section(st)->file, (int)list.items[failed_at].line,
                 dbmgmt_conn_errmsg(m->conn));
        if (st->direction == DBMGMT_UP)
            dm_history_mark(m, st->mig->version, 0, (int32_t)failed_at, note, 0, NULL);
        else
            dm_history_mark(m, st->mig->version, 0, 0, note, 0, NULL);
        dm_error_set_sql(&m->err, failure.code, failure.sqlstate,
                         "%s; the database is now marked dirty", failure.msg);
    } else if (rc == DBMGMT_OK) {
        rc = st->direction == DBMGMT_UP
                 ? dm_history_mark(m, st->mig->version, 1, (int32_t)list.count, NULL,
                                   dm_monotonic_ms() - start, st->mig->checksum)
                 : dm_history_delete(m, st->mig->version);
    }
    if (rc != DBMGMT_OK || may_change_session(&list))
        rc = dm_migrator_session_restore(m, st->mig->version, rc);
    dm_mig_statements_free(&list);
    if (rc == DBMGMT_OK)
        progress_after(m, st, dm_monotonic_ms() - start);
    return rc;
}

/* Stamp the environment on a database that has none. */
static int stamp_environment(dbmgmt_migrator *m, const dm_history *h)
{
    if (!m->environment || h->environment)
        return DBMGMT_OK;
    return dm_history_insert_raw(m, 0, DM_ENV_ROW_VERSION, m->environment, "(environment)", "");
}

/* What a run is asked to do: a direction and target, and optionally the
 * plan the caller made before the lock (only its steps may run). */
typedef struct run_request {
    int32_t direction;
    const char *target;
    const dbmgmt_plan *asked; /* NULL: whatever the plan made under the lock holds */
} run_request;

/* Is the step one the caller asked for? */
static int plan_has_step(const run_request *req, const dm_plan_step *st)
{
    if (!req->asked)
        return 1;
    for (size_t i = 0; i < req->asked->count; i++)
        if (req->asked->steps[i].mig == st->mig && req->asked->steps[i].direction == st->direction)
            return 1;
    return 0;
}

static int refuse_with_plan(dbmgmt_migrator *m, const dbmgmt_plan *p)
{
    return dm_error_set(&m->err, p->problems[0].status, "%s", p->problems[0].message);
}

/* Read the history and plan again, under the lock. Nothing is written
 * unless the plan may run: a refused database keeps no history table. */
static int replan_locked(dbmgmt_migrator *m, const run_request *req, dm_history *h,
                         dbmgmt_plan **fresh)
{
    int rc = req->direction == DBMGMT_UP ? dm_history_read_fast(m, h) : dm_history_read(m, h);
    if (rc == DBMGMT_OK)
        rc = dm_plan_compute(m, h, req->direction, req->target, 0, fresh);
    if (rc == DBMGMT_OK && (*fresh)->nproblems)
        return refuse_with_plan(m, *fresh);
    if (rc == DBMGMT_OK && (*fresh)->count > 0 && !h->table_exists)
        rc = dm_history_ensure_table(m);
    if (rc == DBMGMT_OK && (*fresh)->count > 0)
        rc = stamp_environment(m, h);
    return rc;
}

/* Whether the applied set after a run can be described by the metadata row:
 * exactly the source's versions up to newest, nothing else recorded. */
static int meta_allowed(const dbmgmt_migrator *m, const dm_history *h)
{
    return !(m->allow & (DBMGMT_ALLOW_MISSING_APPLIED | DBMGMT_ALLOW_OUT_OF_ORDER)) &&
           !h->baseline && !h->dirty;
}

/* After an up run applied steps: rows are the history's rows (rank > 0)
 * now, newest the newest applied version. Writes the metadata row when the
 * two agree with the source; otherwise leaves it absent (full reads). */
static int meta_after_up_run(dbmgmt_migrator *m, const dm_history *h, const char *newest,
                             int64_t rows, int64_t max_rank)
{
    if (!newest || !meta_allowed(m, h))
        return DBMGMT_OK;
    const dm_migration *mig = dm_source_find(&m->source, newest);
    if (!mig || (int64_t)(mig - m->source.items) + 1 != rows)
        return DBMGMT_OK;
    return dm_history_meta_write(m, newest, (size_t)rows, max_rank);
}

/* Before the first write, refuse a server that accepts none (a standby),
 * naming it and what to give instead, rather than fail at the first
 * statement with the engine's "read-only transaction" error. Nothing is
 * asked where the driver cannot tell (NULL op). */
static int refuse_read_only_server(dbmgmt_migrator *m, dbmgmt_conn *c)
{
    if (!c->drv->standby_reason)
        return DBMGMT_OK;
    char reason[512];
    reason[0] = '\0';
    dm_error_reset(&c->err);
    int rc = c->drv->standby_reason(c->dc, reason, sizeof reason, &c->err);
    if (rc <= 0)
        return from_conn(m, c, rc);
    char *shown = dm_dsn_render_redacted(c->dsn);
    rc = dm_error_set(&m->err, DBMGMT_ERR_READ_ONLY, "cannot migrate %s: %s; nothing was applied",
                      shown ? shown : c->drv->name, reason);
    dm_free(shown);
    return rc;
}

/* Open the lock session and take the lock for a run: the driver's migration
 * lock, else its session lock. Both servers are checked first: the lock only
 * excludes other migrators if it is taken on the primary they write to. */
int dm_lock_session_open(dbmgmt_migrator *m, const char *lock_name, dbmgmt_conn **out)
{
    *out = NULL;
    int rc = refuse_read_only_server(m, m->conn);
    if (rc != DBMGMT_OK)
        return rc;
    dbmgmt_conn *c = NULL;
    rc = dbmgmt_conn_open(&c, m->conn->dsn->raw);
    if (rc != DBMGMT_OK)
        return dm_error_set(&m->err, rc, "opening the lock session: %s", dbmgmt_errmsg());
    rc = refuse_read_only_server(m, c);
    if (rc == DBMGMT_OK && c->drv->migration_lock) {
        dm_error_reset(&c->err);
        rc = from_conn(m, c, c->drv->migration_lock(c->dc, lock_name, m->lock_timeout_ms, &c->err));
    } else if (rc == DBMGMT_OK) {
        rc = from_conn(m, c, dbmgmt_conn_lock(c, lock_name, m->lock_timeout_ms));
    }
    if (rc != DBMGMT_OK) {
        dbmgmt_conn_close(c);
        return rc;
    }
    *out = c;
    return DBMGMT_OK;
}

void dm_lock_name(const dbmgmt_migrator *m, char out[DM_LOCK_NAME_MAX])
{
    snprintf(out, DM_LOCK_NAME_MAX, "dbmgmt:%s", m->table);
}

/* Release the lock and close its session (closing alone would release it). */
void dm_lock_session_close(dbmgmt_conn *c, const char *lock_name)
{
    if (c->drv->migration_unlock)
        (void)c->drv->migration_unlock(c->dc, lock_name, &c->err);
    else
        (void)dbmgmt_conn_unlock(c, lock_name);
    dbmgmt_conn_close(c);
}

/* A lock that can be lost while its session lives (a Galera lock row whose
 * lease could not be renewed) is checked before each migration. */
static int lock_still_held(dbmgmt_migrator *m, dbmgmt_conn *lock_conn, const char *lock_name)
{
    if (!lock_conn->drv->migration_lock_check)
        return DBMGMT_OK;
    dm_error_reset(&lock_conn->err);
    return from_conn(m, lock_conn,
                     lock_conn->drv->migration_lock_check(lock_conn->dc, lock_name,
                                                          &lock_conn->err));
}

/* PostgreSQL, MySQL: one lock, on a connection of its own, for the run. */
static int apply_with_session_lock(dbmgmt_migrator *m, const run_request *req)
{
    char lock_name[DM_LOCK_NAME_MAX];
    dm_lock_name(m, lock_name);
    dbmgmt_conn *lock_conn = NULL;
    int rc = dm_lock_session_open(m, lock_name, &lock_conn);
    if (rc != DBMGMT_OK)
        return rc;
    dm_history h;
    dbmgmt_plan *fresh = NULL;
    rc = replan_locked(m, req, &h, &fresh);
    int64_t rank = h.max_rank, rows = 0, max_rank = 0;
    const char *newest = h.newest;
    int changed = 0, will_change = 0;
    for (size_t i = 0; rc == DBMGMT_OK && i < fresh->count && !will_change; i++)
        will_change = plan_has_step(req, &fresh->steps[i]);
    if (rc == DBMGMT_OK && will_change)
        rc = backup_before_changes(m, &h);
    if (rc == DBMGMT_OK && fresh->count > 0)
        rc = dm_history_meta_delete(m); /* a run that stops midway leaves no digest */
    for (size_t i = 0; rc == DBMGMT_OK && i < fresh->count; i++) {
        const dm_plan_step *st = &fresh->steps[i];
        if (!plan_has_step(req, st))
            continue;
        rc = lock_still_held(m, lock_conn, lock_name);
        if (rc == DBMGMT_OK)
            rc = progress_before(m, st);
        if (rc == DBMGMT_OK)
            rc = st->transactional ? run_transactional_step(m, st, ++rank, 0)
                                   : run_dirty_protocol_step(m, st, ++rank, 0, 0);
        if (rc == DBMGMT_OK) {
            changed = 1;
            newest = st->mig->version;
        }
    }
    if (rc == DBMGMT_OK && changed && req->direction == DBMGMT_UP)
        rc = dm_history_fingerprint(m, &rows, &max_rank);
    if (rc == DBMGMT_OK && changed && req->direction == DBMGMT_UP)
        rc = meta_after_up_run(m, &h, newest, rows, max_rank);
    rc = end_followed(m, rc);
    dbmgmt_plan_free(fresh);
    dm_history_clear(&h);
    dm_lock_session_close(lock_conn, lock_name);
    return rc;
}

/* SQLite's state between steps: the history and plan read under the lock,
 * and what the history must look like if nobody else touched it since. */
typedef struct step_loop {
    dm_history h;
    dbmgmt_plan *fresh;
    size_t next;           /* index in fresh of the next step to consider */
    int64_t rows, max_rank; /* the expected fingerprint */
    int valid;
} step_loop;

static void step_loop_reset(step_loop *l)
{
    dbmgmt_plan_free(l->fresh);
    dm_history_clear(&l->h);
    memset(l, 0, sizeof *l);
}

/* Under the lock: reuse the plan if the history is as we left it, else read
 * it and plan again. */
static int step_loop_refresh(dbmgmt_migrator *m, const run_request *req, step_loop *l)
{
    int64_t rows = 0, max_rank = 0;
    if (l->valid) {
        int rc = dm_history_fingerprint(m, &rows, &max_rank);
        if (rc != DBMGMT_OK)
            return rc;
        if (rows == l->rows && max_rank == l->max_rank)
            return DBMGMT_OK;
        step_loop_reset(l);
    }
    int rc = replan_locked(m, req, &l->h, &l->fresh);
    if (rc == DBMGMT_OK && l->fresh->count > 0)
        rc = dm_history_meta_delete(m); /* in this step's transaction */
    if (rc == DBMGMT_OK && l->fresh->count > 0 && l->h.prefix_mode) {
        l->rows = l->h.row_count; /* counted by the read itself */
        l->max_rank = l->h.max_rank;
    } else if (rc == DBMGMT_OK && l->fresh->count > 0) {
        rc = dm_history_fingerprint(m, &l->rows, &l->max_rank);
    }
    l->valid = rc == DBMGMT_OK && l->fresh->count > 0;
    return rc;
}

/* The next step of the fresh plan that the caller asked for, or NULL. */
static const dm_plan_step *step_loop_next(const run_request *req, step_loop *l)
{
    for (; l->next < l->fresh->count; l->next++)
        if (plan_has_step(req, &l->fresh->steps[l->next]))
            return &l->fresh->steps[l->next];
    return NULL;
}

/* Whether the step at l->next is the last one asked for. */
static int is_last_step(const run_request *req, const step_loop *l)
{
    for (size_t i = l->next + 1; i < l->fresh->count; i++)
        if (plan_has_step(req, &l->fresh->steps[i]))
            return 0;
    return 1;
}

/* SQLite: per step, take the write lock, check the history is still as
 * planned (reading it again only if another process changed it), run the
 * next step, commit. */
static int apply_with_transaction_lock(dbmgmt_migrator *m, const run_request *req)
{
    step_loop l;
    memset(&l, 0, sizeof l);
    int rc = DBMGMT_OK;
    int meta_done = 0, backed_up = 0;
    const char *last_up = NULL; /* the version of the last up step run */
    for (;;) {
        rc = from_conn(m, m->conn, dbmgmt_conn_lock(m->conn, "dbmgmt", m->lock_timeout_ms));
        if (rc != DBMGMT_OK)
            break;
        rc = step_loop_refresh(m, req, &l);
        const dm_plan_step *next = rc == DBMGMT_OK ? step_loop_next(req, &l) : NULL;
        if (rc == DBMGMT_OK && next && !backed_up) {
            rc = backup_before_changes(m, &l.h);
            backed_up = 1;
        }
        if (rc == DBMGMT_OK && next)
            rc = progress_before(m, next);
        int64_t rank = l.max_rank + 1;
        if (rc == DBMGMT_OK && next && next->transactional) {
            rc = run_transactional_step(m, next, rank, 1);
            if (rc == DBMGMT_OK && is_last_step(req, &l) && req->direction == DBMGMT_UP) {
                /* the digest goes in the last step's transaction */
                rc = meta_after_up_run(m, &l.h, next->mig->version, l.rows + 1, rank);
                meta_done = rc == DBMGMT_OK;
            }
        } else if (rc == DBMGMT_OK && next) { /* outside a transaction: release first */
            rc = from_conn(m, m->conn, dbmgmt_conn_unlock(m->conn, "dbmgmt"));
            if (rc == DBMGMT_OK)
                rc = run_dirty_protocol_step(m, next, rank, 0, 0);
        }
        if (dbmgmt_conn_in_transaction(m->conn) == 1) {
            if (rc == DBMGMT_OK)
                rc = from_conn(m, m->conn, dbmgmt_conn_unlock(m->conn, "dbmgmt"));
            else
                dbmgmt_conn_rollback(m->conn);
        }
        if (next && next->transactional) /* the dirty protocol restores its own */
            rc = dm_migrator_session_restore(m, next->mig->version, rc);
        if (rc != DBMGMT_OK || !next)
            break;
        /* our own change to the history, so the next round can reuse the plan */
        l.rows += next->direction == DBMGMT_UP ? 1 : -1;
        if (next->direction == DBMGMT_UP)
            l.max_rank = rank;
        last_up = next->direction == DBMGMT_UP ? next->mig->version : NULL;
        l.next++;
        if (!step_loop_next(req, &l))
            break; /* everything asked for is done */
    }
    if (rc == DBMGMT_OK && last_up && !meta_done) { /* the last step ran outside a transaction */
        rc = from_conn(m, m->conn, dbmgmt_conn_lock(m->conn, "dbmgmt", m->lock_timeout_ms));
        if (rc == DBMGMT_OK) {
            rc = meta_after_up_run(m, &l.h, last_up, l.rows, l.max_rank);
            if (rc == DBMGMT_OK)
                rc = from_conn(m, m->conn, dbmgmt_conn_unlock(m->conn, "dbmgmt"));
            else
                dbmgmt_conn_rollback(m->conn);
        }
    }
    step_loop_reset(&l);
    return rc;
}

static int run_under_lock(dbmgmt_migrator *m, const run_request *req)
{
    if (m->conn->drv->lock_is_transaction)
        return apply_with_transaction_lock(m, req);
    return apply_with_session_lock(m, req);
}

int dm_apply(dbmgmt_migrator *m, const dbmgmt_plan *plan)
{
    /* A plan made without the lock may be refused for a passing reason:
     * another process's migration in progress looks dirty from outside.
     * Only the plan made again under the lock decides. */
    if (plan->count == 0 && plan->nproblems == 0)
        return DBMGMT_OK;
    run_request req = {plan->direction, plan->target, plan};
    return run_under_lock(m, &req);
}

int dm_run(dbmgmt_migrator *m, int32_t direction, const char *target)
{
    run_request req = {direction, target, NULL};
    return run_under_lock(m, &req);
}

/* ---- operator actions: resume, repair, baseline ------------------------------ */

typedef int (*locked_action)(dbmgmt_migrator *m, dm_history *h, const void *arg);

/* Run an action with the lock held and the history read inside it. */
static int with_lock(dbmgmt_migrator *m, locked_action action, const void *arg)
{
    char lock_name[DM_LOCK_NAME_MAX];
    dm_lock_name(m, lock_name);
    dbmgmt_conn *lock_conn = m->conn;
    int own_session = !m->conn->drv->lock_is_transaction;
    int rc = own_session ? dm_lock_session_open(m, lock_name, &lock_conn)
                         : from_conn(m, lock_conn,
                                     dbmgmt_conn_lock(lock_conn, lock_name, m->lock_timeout_ms));
    if (rc == DBMGMT_OK) {
        dm_history h;
        rc = dm_history_ensure_table(m);
        if (rc == DBMGMT_OK)
            rc = dm_history_read(m, &h);
        if (rc == DBMGMT_OK) {
            rc = action(m, &h, arg);
            dm_history_clear(&h);
        }
        if (own_session)
            dm_lock_session_close(lock_conn, lock_name);
        else if (dbmgmt_conn_in_transaction(m->conn) == 1) {
            if (rc == DBMGMT_OK)
                dbmgmt_conn_unlock(lock_conn, lock_name);
            else
                dbmgmt_conn_rollback(m->conn);
        }
    }
    return rc;
}

static int resume_locked(dbmgmt_migrator *m, dm_history *h, const void *arg)
{
    (void)arg;
    if (h->dirty && dm_history_meta_delete(m) != DBMGMT_OK)
        return m->err.code;
    if (!h->dirty)
        return dm_migrator_fail(m, DBMGMT_ERR_NOTFOUND, "nothing to resume: the database is not dirty");
    const dm_migration *mig = dm_source_find(&m->source, h->dirty->version);
    if (!mig)
        return dm_migrator_fail(m, DBMGMT_ERR_NOTFOUND,
                                "cannot resume migration %s: it is missing from the source",
                                h->dirty->version);
    dm_plan_step st = {mig, DBMGMT_UP, 0, 0};
    int in_tx = dbmgmt_conn_in_transaction(m->conn) == 1;
    if (in_tx) /* SQLite: statements run outside the lock transaction */
        dbmgmt_conn_unlock(m->conn, "dbmgmt:resume");
    /* continues from the failed statement; on success the row records the
     * checksum of the file as it is now (the fix may have been in the file) */
    return end_followed(m, run_dirty_protocol_step(m, &st, h->dirty->rank,
                                                   (size_t)h->dirty->statements_applied, 1));
}

int dm_resume(dbmgmt_migrator *m)
{
    return with_lock(m, resume_locked, NULL);
}

static int repair_locked(dbmgmt_migrator *m, dm_history *h, const void *arg)
{
    (void)arg;
    if (!h->dirty)
        return DBMGMT_OK;
    dm_log(DBMGMT_LOG_WARN, "repair: forgetting failed migration %s", h->dirty->version);
    int rc = dm_history_meta_delete(m);
    return rc == DBMGMT_OK ? dm_history_delete(m, h->dirty->version) : rc;
}

int dm_repair(dbmgmt_migrator *m)
{
    return with_lock(m, repair_locked, NULL);
}

static int baseline_locked(dbmgmt_migrator *m, dm_history *h, const void *arg)
{
    const char *version = arg;
    if (h->count)
        return dm_migrator_fail(m, DBMGMT_ERR_POLICY,
                                "baseline adopts a database without migration history, and this "
                                "one has %zu history rows", h->count);
    int rc = stamp_environment(m, h);
    if (rc == DBMGMT_OK)
        rc = dm_history_meta_delete(m);
    if (rc == DBMGMT_OK)
        rc = dm_history_insert_raw(m, h->max_rank + 1, version, "<< baseline >>", "(baseline)",
                                   DM_BASELINE_CHECKSUM);
    return rc;
}

int dm_baseline(dbmgmt_migrator *m, const char *version)
{
    if (!dm_version_valid(version))
        return dm_migrator_fail(m, DBMGMT_ERR_INVALID,
                                "baseline version '%s' is not a version (digits, or 1.2.3)",
                                version);
    return with_lock(m, baseline_locked, version);
}
