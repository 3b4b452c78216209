/* Plans: what bringing the database to a target would do, and every reason
 * to refuse it, computed without changing anything. */
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "migrator.h"

static int plan_add_problem(dbmgmt_plan *p, int status, const char *fmt, ...) DM_PRINTF(3, 4);

static int plan_add_problem(dbmgmt_plan *p, int status, const char *fmt, ...)
{
    dm_buf b = DM_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    dm_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    char *msg = dm_buf_detach(&b);
    dm_plan_problem *grown = msg ? dm_realloc(p->problems, (p->nproblems + 1) * sizeof *grown) : NULL;
    if (!grown) {
        dm_free(msg);
        return DBMGMT_ERR_NOMEM;
    }
    p->problems = grown;
    p->problems[p->nproblems].status = status;
    p->problems[p->nproblems].message = msg;
    p->nproblems++;
    return DBMGMT_OK;
}

static int plan_add_step(dbmgmt_plan *p, const dm_migration *mig, int32_t direction,
                         int transactional)
{
    dm_plan_step *grown = dm_realloc(p->steps, (p->count + 1) * sizeof *grown);
    if (!grown)
        return DBMGMT_ERR_NOMEM;
    p->steps = grown;
    p->steps[p->count].mig = mig;
    p->steps[p->count].direction = direction;
    p->steps[p->count].transactional = transactional;
    p->steps[p->count].statement_count = 0;
    p->count++;
    return DBMGMT_OK;
}

int dm_database_has_tables(dbmgmt_migrator *m, int *has_tables)
{
    dm_catalog cat;
    memset(&cat, 0, sizeof cat);
    int rc = m->conn->drv->catalog(m->conn->dc, &cat, &m->conn->err);
    if (rc != DBMGMT_OK) {
        dm_error_copy(&m->err, &m->conn->err);
        dm_catalog_clear(&cat);
        return rc;
    }
    size_t others = 0;
    for (size_t i = 0; i < cat.ntables; i++)
        others += strcmp(cat.tables[i].name, m->table) != 0;
    dm_catalog_clear(&cat);
    *has_tables = others > 0;
    return DBMGMT_OK;
}

int dm_migrator_in_production(const dbmgmt_migrator *m, const dm_history *h)
{
    const char *env = m->environment ? m->environment : h->environment;
    return env && strcmp(env, "production") == 0;
}

/* Problems that refuse any plan: dirty, environment, edited or missing. */
static int check_history(dbmgmt_migrator *m, const dm_history *h, dbmgmt_plan *p)
{
    int rc = DBMGMT_OK;
    if (h->dirty) {
        const dm_migration *mig = dm_source_find(&m->source, h->dirty->version);
        rc = plan_add_problem(p, DBMGMT_ERR_DIRTY,
                              "the database is dirty: migration %s (%s) failed at statement %d "
                              "and was left half-applied: %s. Fix the cause, then run `dbmgmt "
                              "resume` to continue it from that statement, or undo its partial "
                              "work by hand and run `dbmgmt repair`",
                              h->dirty->version, mig ? mig->up.file : h->dirty->script,
                              (int)h->dirty->statements_applied + 1,
                              h->dirty->error ? h->dirty->error : "(no message: the process died)");
    }
    if (rc == DBMGMT_OK && m->environment && h->environment &&
        strcmp(m->environment, h->environment) != 0)
        rc = plan_add_problem(p, DBMGMT_ERR_POLICY,
                              "the database belongs to environment '%s' but this migrator is for "
                              "'%s'", h->environment, m->environment);
    for (size_t i = 0; i < h->count && rc == DBMGMT_OK; i++) {
        const dm_history_row *row = &h->rows[i];
        if (!row->success || (h->baseline && row->version == h->baseline))
            continue;
        const dm_migration *mig = dm_source_find(&m->source, row->version);
        if (!mig && !(m->allow & DBMGMT_ALLOW_MISSING_APPLIED))
            rc = plan_add_problem(p, DBMGMT_ERR_NOTFOUND,
                                  "version %s (%s) is applied but missing from the source; "
                                  "restore it, or allow missing applied versions",
                                  row->version, row->script ? row->script : "?");
        else if (mig && row->checksum && strcmp(row->checksum, mig->checksum) != 0)
            rc = plan_add_problem(p, DBMGMT_ERR_CHECKSUM,
                                  "migration %s (%s) was edited after it was applied: its checksum "
                                  "is %.12s..., the history has %.12s...; restore the file and "
                                  "put the change in a new migration", row->version, mig->up.file,
                                  mig->checksum, row->checksum);
    }
    return rc;
}

static int step_transactional(const dbmgmt_migrator *m, const dm_migration *mig)
{
    return m->conn->drv->ddl_transactional && !mig->no_transaction;
}

static int plan_up(dbmgmt_migrator *m, const dm_history *h, const char *target, dbmgmt_plan *p)
{
    int rc = DBMGMT_OK;
    if (!h->newest && !h->baseline && !h->dirty) { /* no history: the database must be empty */
        int has_tables = 0;
        rc = dm_database_has_tables(m, &has_tables);
        if (rc != DBMGMT_OK)
            return rc;
        m->plan_db_empty = !has_tables;
        if (has_tables)
            rc = plan_add_problem(p, DBMGMT_ERR_POLICY,
                                  "the database is not empty but has no migration history: "
                                  "adopt it with `dbmgmt baseline VERSION` (the version its "
                                  "schema matches) before migrating");
    }
    /* read through the digest, the first prefix_count versions are applied */
    size_t first = h->prefix_mode ? h->prefix_count : 0;
    for (size_t i = first; i < m->source.count && rc == DBMGMT_OK; i++) {
        const dm_migration *mig = &m->source.items[i];
        if (target && dm_version_compare(mig->version, target) > 0)
            break;
        if ((h->baseline && dm_version_compare(mig->version, h->baseline) <= 0) ||
            dm_history_has(h, mig->version))
            continue;
        if (h->newest && dm_version_compare(mig->version, h->newest) < 0 &&
            !(m->allow & DBMGMT_ALLOW_OUT_OF_ORDER))
            rc = plan_add_problem(p, DBMGMT_ERR_POLICY,
                                  "migration %s (%s) is pending but older than the newest applied "
                                  "version %s (out of order); renumber it, or allow out-of-order "
                                  "migrations", mig->version, mig->up.file, h->newest);
        if (rc == DBMGMT_OK)
            rc = plan_add_step(p, mig, DBMGMT_UP, step_transactional(m, mig));
    }
    return rc;
}

static int plan_down(dbmgmt_migrator *m, const dm_history *h, const char *target, dbmgmt_plan *p)
{
    int rc = DBMGMT_OK;
    if (dm_migrator_in_production(m, h) && !(m->allow & DBMGMT_ALLOW_DOWN_IN_PRODUCTION))
        rc = plan_add_problem(p, DBMGMT_ERR_POLICY,
                              "environment 'production' is forward-only: down migrations are "
                              "refused (write a new migration that undoes the change, or allow "
                              "down in production explicitly)");
    for (size_t i = h->count; i > 0 && rc == DBMGMT_OK; i--) {
        const dm_history_row *row = &h->rows[i - 1];
        if (!row->success || dm_version_compare(row->version, target) <= 0)
            continue;
        if (h->baseline && row->version == h->baseline) {
            rc = plan_add_problem(p, DBMGMT_ERR_POLICY,
                                  "cannot go below the baseline version %s", row->version);
            break;
        }
        const dm_migration *mig = dm_source_find(&m->source, row->version);
        if (!mig)
            rc = plan_add_problem(p, DBMGMT_ERR_NOTFOUND,
                                  "cannot revert version %s: it is missing from the source",
                                  row->version);
        else if (!mig->down.sql)
            rc = plan_add_problem(p, DBMGMT_ERR_NOTFOUND,
                                  "cannot revert migration %s (%s): it has no down section",
                                  mig->version, mig->up.file);
        else
            rc = plan_add_step(p, mig, DBMGMT_DOWN, step_transactional(m, mig));
    }
    return rc;
}

/* Count each step's statements; a script the lexer cannot split is a
 * problem of the plan, with FILE:LINE:COLUMN. */
static int count_statements(dbmgmt_migrator *m, dbmgmt_plan *p)
{
    for (size_t i = 0; i < p->count; i++) {
        const dm_plan_step *st = &p->steps[i];
        const dm_section *s = st->direction == DBMGMT_UP ? &st->mig->up : &st->mig->down;
        dm_mig_statements list;
        dm_error err;
        int rc = dm_section_statements(s, m->conn->drv->engine, &list, &err);
        if (rc == DBMGMT_ERR_NOMEM)
            return rc;
        if (rc != DBMGMT_OK) {
            rc = plan_add_problem(p, rc, "%s", err.msg);
            if (rc != DBMGMT_OK)
                return rc;
            continue;
        }
        p->steps[i].statement_count = (int32_t)list.count;
        dm_mig_statements_free(&list);
    }
    return DBMGMT_OK;
}

/* Lint every step for the connection's engine. A section that cannot be
 * split is left to count_statements (and to the run) to report. */
/* For the linter: does the table exist in the database the plan is for? */
static int live_table_exists(void *ctx, const char *name)
{
    dbmgmt_migrator *m = ctx;
    if (m->plan_db_empty && strcmp(name, m->table) != 0)
        return 0; /* read in this plan's computation: no table but the history */
    dm_error ignored;
    return m->conn->drv->table_exists(m->conn->dc, NULL, name, &ignored);
}

/* Whether the steps are linted with the Galera rules: as set, or (AUTO)
 * whether the server is a Galera node. Asked only when there is something
 * to lint, so a boot with nothing to do makes no extra round trip. */
static int lint_galera(dbmgmt_migrator *m, const dbmgmt_plan *p, int *galera)
{
    const dm_driver *drv = m->conn->drv;
    *galera = m->galera == DBMGMT_GALERA_ON;
    if (m->galera != DBMGMT_GALERA_AUTO || p->count == 0 || !drv->galera_node)
        return DBMGMT_OK;
    dm_error err;
    dm_error_reset(&err);
    int rc = drv->galera_node(m->conn->dc, &err);
    if (rc < 0)
        return dm_migrator_fail(m, rc,
                                "cannot tell whether the server is a Galera node, for the lint's "
                                "Galera rules (set them on or off with "
                                "dbmgmt_migrator_set_galera): %s", err.msg);
    *galera = rc == 1;
    return DBMGMT_OK;
}

static int lint_steps(dbmgmt_migrator *m, dbmgmt_plan *p)
{
    int galera;
    int rc = lint_galera(m, p, &galera);
    if (rc != DBMGMT_OK)
        return rc;
    dm_linter lt;
    dm_linter_init(&lt, m->conn->drv->engine);
    dm_linter_follow_plan(&lt, live_table_exists, m);
    lt.galera = galera;
    for (size_t i = 0; i < p->count && rc == DBMGMT_OK; i++) {
        const dm_plan_step *st = &p->steps[i];
        dm_error err;
        rc = dm_lint_migration(&lt, st->mig, st->direction, st->transactional, i, &p->lint, &err);
        if (rc != DBMGMT_ERR_NOMEM)
            rc = DBMGMT_OK;
    }
    dm_linter_clear(&lt);
    dm_lint_findings_sort(&p->lint);
    return rc;
}

/* Error findings refuse a plan in production (unless allowed); elsewhere a
 * plan about to run logs them as warnings. */
static int lint_policy(dbmgmt_migrator *m, const dm_history *h, dbmgmt_plan *p, int about_to_run)
{
    int production = dm_migrator_in_production(m, h);
    int refuse = production && !(m->allow & DBMGMT_ALLOW_LINT_ERRORS);
    int rc = DBMGMT_OK;
    for (size_t i = 0; i < p->lint.count && rc == DBMGMT_OK; i++) {
        const dm_lint_finding *f = dm_lint_finding_at(&p->lint, i);
        if (f->severity != DBMGMT_LINT_ERROR)
            continue;
        const char *id = dm_lint_rule_id(f->rule);
        if (refuse)
            rc = plan_add_problem(p, DBMGMT_ERR_POLICY,
                                  "lint: %s:%d: error %s in migration %s: %s. Safe: %s. In "
                                  "production this is refused: make the change safe, or silence "
                                  "it in the file with `-- dbmgmt:allow %s <reason>`",
                                  f->file ? f->file : "(table)", (int)f->line, id,
                                  f->version, f->message, dm_lint_rule_advice(f->rule), id);
        else if (about_to_run)
            dm_log(DBMGMT_LOG_WARN, "lint: %s:%d: error %s in migration %s: %s",
                   f->file ? f->file : "(table)", (int)f->line, id, f->version, f->message);
    }
    return rc;
}

int dm_plan_compute(dbmgmt_migrator *m, const dm_history *h, int32_t direction,
                    const char *target, int count, dbmgmt_plan **out)
{
    *out = NULL;
    dbmgmt_plan *p = dm_calloc(1, sizeof *p);
    if (!p)
        return dm_migrator_fail(m, DBMGMT_ERR_NOMEM, "out of memory planning");
    p->direction = direction;
    p->target = target ? dm_strdup(target) : NULL;
    p->current = h->newest ? dm_strdup(h->newest) : NULL;
    int rc = (target && !p->target) || (h->newest && !p->current) ? DBMGMT_ERR_NOMEM : DBMGMT_OK;
    if (rc == DBMGMT_OK && target && !dm_source_find(&m->source, target) &&
        !dm_history_find(h, target) && !(direction == DBMGMT_DOWN && strcmp(target, "0") == 0))
        rc = plan_add_problem(p, DBMGMT_ERR_NOTFOUND,
                              "target version %s is neither in the source nor applied", target);
    m->plan_db_empty = 0; /* plan_up may see it empty again, now */
    if (rc == DBMGMT_OK)
        rc = check_history(m, h, p);
    if (rc == DBMGMT_OK)
        rc = direction == DBMGMT_UP ? plan_up(m, h, target, p) : plan_down(m, h, target, p);
    if (rc == DBMGMT_OK && count)
        rc = count_statements(m, p);
    if (rc == DBMGMT_OK)
        rc = lint_steps(m, p);
    if (rc == DBMGMT_OK)
        rc = lint_policy(m, h, p, !count);
    m->plan_db_empty = 0;
    if (rc != DBMGMT_OK) {
        if (rc == DBMGMT_ERR_NOMEM)
            dm_migrator_fail(m, rc, "out of memory planning");
        dbmgmt_plan_free(p);
        return rc;
    }
    *out = p;
    return DBMGMT_OK;
}

/* ---- public plan accessors ---------------------------------------------------- */

DBMGMT_API void dbmgmt_plan_free(dbmgmt_plan *plan)
{
    if (!plan)
        return;
    for (size_t i = 0; i < plan->nproblems; i++)
        dm_free(plan->problems[i].message);
    dm_free(plan->problems);
    dm_lint_findings_clear(&plan->lint);
    dm_free(plan->steps);
    dm_free(plan->target);
    dm_free(plan->current);
    dm_free(plan);
}

DBMGMT_API int dbmgmt_plan_status(const dbmgmt_plan *plan)
{
    if (!plan)
        return dm_error_invalid("dbmgmt_plan_status", "plan is NULL");
    return plan->nproblems ? plan->problems[0].status : DBMGMT_OK;
}

DBMGMT_API size_t dbmgmt_plan_problem_count(const dbmgmt_plan *plan)
{
    return plan ? plan->nproblems : 0;
}

DBMGMT_API const char *dbmgmt_plan_problem_at(const dbmgmt_plan *plan, size_t i)
{
    return plan && i < plan->nproblems ? plan->problems[i].message : NULL;
}

DBMGMT_API int dbmgmt_plan_problem_status(const dbmgmt_plan *plan, size_t i)
{
    if (!plan || i >= plan->nproblems)
        return dm_error_invalid("dbmgmt_plan_problem_status", "no such problem");
    return plan->problems[i].status;
}

DBMGMT_API size_t dbmgmt_plan_count(const dbmgmt_plan *plan)
{
    return plan ? plan->count : 0;
}

static const dm_plan_step *plan_step(const dbmgmt_plan *plan, size_t i)
{
    return plan && i < plan->count ? &plan->steps[i] : NULL;
}

DBMGMT_API const char *dbmgmt_plan_step_version(const dbmgmt_plan *plan, size_t i)
{
    const dm_plan_step *s = plan_step(plan, i);
    return s ? s->mig->version : NULL;
}

DBMGMT_API const char *dbmgmt_plan_step_name(const dbmgmt_plan *plan, size_t i)
{
    const dm_plan_step *s = plan_step(plan, i);
    return s ? s->mig->name : NULL;
}

DBMGMT_API const char *dbmgmt_plan_step_source(const dbmgmt_plan *plan, size_t i)
{
    const dm_plan_step *s = plan_step(plan, i);
    if (!s)
        return NULL;
    return s->direction == DBMGMT_DOWN && s->mig->down.file ? s->mig->down.file : s->mig->up.file;
}

DBMGMT_API int32_t dbmgmt_plan_step_direction(const dbmgmt_plan *plan, size_t i)
{
    const dm_plan_step *s = plan_step(plan, i);
    return s ? s->direction : 0;
}

DBMGMT_API int32_t dbmgmt_plan_step_transactional(const dbmgmt_plan *plan, size_t i)
{
    const dm_plan_step *s = plan_step(plan, i);
    return s ? s->transactional : 0;
}

DBMGMT_API int32_t dbmgmt_plan_step_statement_count(const dbmgmt_plan *plan, size_t i)
{
    const dm_plan_step *s = plan_step(plan, i);
    return s ? s->statement_count : 0;
}

static const char *direction_name(int32_t direction)
{
    return direction == DBMGMT_UP ? "up" : "down";
}

static void step_json(dm_json *j, const dbmgmt_plan *plan, size_t i)
{
    dm_json_object_begin(j);
    dm_findings_json_text(j, "version", dbmgmt_plan_step_version(plan, i));
    dm_findings_json_text(j, "name", dbmgmt_plan_step_name(plan, i));
    dm_findings_json_text(j, "source", dbmgmt_plan_step_source(plan, i));
    dm_findings_json_text(j, "direction", direction_name(plan->steps[i].direction));
    dm_findings_json_bool(j, "transactional", plan->steps[i].transactional);
    dm_findings_json_int(j, "statements", plan->steps[i].statement_count);
    dm_json_object_end(j);
}

static void problem_json(dm_json *j, const dm_plan_problem *problem)
{
    dm_json_object_begin(j);
    dm_findings_json_text(j, "status", dbmgmt_status_name(problem->status));
    dm_findings_json_text(j, "message", problem->message);
    dm_json_object_end(j);
}

static void plan_json_members(dm_json *j, const void *owner)
{
    const dbmgmt_plan *plan = owner;
    dm_findings_json_text(j, "status", dbmgmt_status_name(dbmgmt_plan_status(plan)));
    dm_findings_json_text(j, "direction", direction_name(plan->direction));
    dm_findings_json_text(j, "current", plan->current);
    dm_findings_json_text(j, "target", plan->target);
    dm_json_key(j, "steps");
    dm_json_array_begin(j);
    for (size_t i = 0; i < plan->count; i++)
        step_json(j, plan, i);
    dm_json_array_end(j);
    dm_json_key(j, "problems");
    dm_json_array_begin(j);
    for (size_t i = 0; i < plan->nproblems; i++)
        problem_json(j, &plan->problems[i]);
    dm_json_array_end(j);
    dm_lint_findings_json(j, "findings", &plan->lint, 1);
}

DBMGMT_API char *dbmgmt_plan_to_json(const dbmgmt_plan *plan)
{
    return dm_findings_document(plan, "dbmgmt_plan_to_json", "plan is NULL", "a plan",
                                plan_json_members);
}

/* ---- lint findings ---------------------------------------------------------------- */

static const dm_lint_findings *plan_findings(const dbmgmt_plan *plan)
{
    return plan ? &plan->lint : NULL;
}

/* dbmgmt_plan_finding_count, _rule, _severity, _file, _line, _message, _advice */
DM_LINT_FINDING_READERS(dbmgmt_plan_finding, dbmgmt_plan, plan_findings)

DBMGMT_API size_t dbmgmt_plan_finding_step(const dbmgmt_plan *plan, size_t k)
{
    return dm_lint_finding_step(plan_findings(plan), k);
}
