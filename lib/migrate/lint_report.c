/* Standalone lint of migration folders and files (dbmgmt lint): the
 * folders are read as the migrator reads them, each migration's up section
 * is linted (lib/lint), and the findings are kept in a report. */
#include <string.h>

#include "core/alloc.h"
#include "lint/lint.h"

struct dbmgmt_lint_report {
    dbmgmt_engine engine;
    dm_source *sources; /* one per folder */
    size_t nsources;
    size_t migrations;
    dm_lint_findings findings;
};

static int lint_migration_up(dm_linter *lt, dbmgmt_lint_report *r, const dm_migration *mig)
{
    dm_error err;
    int transactional = r->engine != DBMGMT_ENGINE_MYSQL && !mig->no_transaction;
    int rc = dm_lint_migration(lt, mig, DBMGMT_UP, transactional, r->migrations, &r->findings,
                               &err);
    if (rc != DBMGMT_OK)
        return dm_error_copy(NULL, &err);
    r->migrations++;
    return DBMGMT_OK;
}

static int report_new(dbmgmt_lint_report **out, dbmgmt_engine engine, uint32_t flags,
                      const char *fn)
{
    if (!out)
        return dm_error_invalid(fn, "out is NULL");
    *out = NULL;
    if (!dm_sql_dialect_valid(engine))
        return dm_error_invalid(fn, "unknown engine");
    const uint32_t known = DBMGMT_LINT_GALERA | DBMGMT_LINT_SEEDS;
    if (flags & ~known)
        return dm_error_set(NULL, DBMGMT_ERR_INVALID,
                            "%s: unknown lint flags 0x%x (the known ones are DBMGMT_LINT_GALERA, "
                            "0x1, and DBMGMT_LINT_SEEDS, 0x2)", fn, (unsigned)(flags & ~known));
    if ((flags & DBMGMT_LINT_GALERA) && engine != DBMGMT_ENGINE_MYSQL)
        return dm_error_set(NULL, DBMGMT_ERR_INVALID,
                            "%s: DBMGMT_LINT_GALERA needs the MySQL/MariaDB dialect "
                            "(DBMGMT_ENGINE_MYSQL); Galera is not a %s cluster",
                            fn, dbmgmt_engine_name(engine));
    dbmgmt_lint_report *r = dm_calloc(1, sizeof *r);
    if (!r)
        return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory linting");
    r->engine = engine;
    *out = r;
    return DBMGMT_OK;
}

/* Load a folder as one more source of the report. */
static dm_source *report_add_source(dbmgmt_lint_report *r, const char *dir, int *rc)
{
    dm_source *grown = dm_realloc(r->sources, (r->nsources + 1) * sizeof *grown);
    if (!grown) {
        *rc = dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory linting %s", dir);
        return NULL;
    }
    r->sources = grown;
    dm_source *src = &r->sources[r->nsources];
    memset(src, 0, sizeof *src);
    dm_error err;
    *rc = dm_source_add_dir(src, dir, &err);
    if (*rc != DBMGMT_OK) {
        dm_error_copy(NULL, &err);
        dm_source_clear(src);
        return NULL;
    }
    r->nsources++;
    return src;
}

static void linter_init_with(dm_linter *lt, dbmgmt_engine engine, uint32_t flags)
{
    dm_linter_init(lt, engine);
    lt->galera = (flags & DBMGMT_LINT_GALERA) != 0;
    lt->seeds = (flags & DBMGMT_LINT_SEEDS) != 0;
}

static int lint_dir_with(dbmgmt_lint_report **out, dbmgmt_engine engine, const char *dir,
                         uint32_t flags, const char *fn)
{
    if (!dir)
        return dm_error_invalid(fn, "dir is NULL");
    int rc = report_new(out, engine, flags, fn);
    if (rc != DBMGMT_OK)
        return rc;
    dbmgmt_lint_report *r = *out;
    dm_source *src = report_add_source(r, dir, &rc);
    dm_linter lt;
    linter_init_with(&lt, engine, flags);
    for (size_t i = 0; src && i < src->count && rc == DBMGMT_OK; i++)
        rc = lint_migration_up(&lt, r, &src->items[i]);
    dm_linter_clear(&lt);
    if (rc != DBMGMT_OK) {
        dbmgmt_lint_report_free(r);
        *out = NULL;
        return rc;
    }
    dm_lint_findings_sort(&r->findings);
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_lint_dir(dbmgmt_lint_report **out, dbmgmt_engine engine, const char *dir)
{
    return lint_dir_with(out, engine, dir, 0, "dbmgmt_lint_dir");
}

DBMGMT_API int dbmgmt_lint_dir_with(dbmgmt_lint_report **out, dbmgmt_engine engine,
                                    const char *dir, uint32_t flags)
{
    return lint_dir_with(out, engine, dir, flags, "dbmgmt_lint_dir_with");
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int same_base(const char *a, const char *b)
{
    return a && b && strcmp(base_name(a), base_name(b)) == 0;
}

/* The folder of file, as a new string ("." for a bare name). */
static char *dir_of(const char *file)
{
    const char *slash = strrchr(file, '/');
    if (!slash)
        return dm_strdup(".");
    if (slash == file)
        return dm_strdup("/");
    return dm_strndup(file, (size_t)(slash - file));
}

/* The source already loaded for dir (by position: dirs[i] is sources[i]). */
static dm_source *source_for(dbmgmt_lint_report *r, char **dirs, const char *dir, int *rc)
{
    for (size_t i = 0; i < r->nsources; i++)
        if (strcmp(dirs[i], dir) == 0)
            return &r->sources[i];
    return report_add_source(r, dir, rc);
}

static const dm_migration *migration_of_file(const dm_source *src, const char *file)
{
    for (size_t i = 0; i < src->count; i++)
        if (same_base(src->items[i].up.file, file) || same_base(src->items[i].down.file, file))
            return &src->items[i];
    return NULL;
}

static int lint_files_with(dbmgmt_lint_report **out, dbmgmt_engine engine,
                           const char *const *files, size_t nfiles, uint32_t flags,
                           const char *fn)
{
    if (!files && nfiles)
        return dm_error_invalid(fn, "files is NULL");
    int rc = report_new(out, engine, flags, fn);
    if (rc != DBMGMT_OK)
        return rc;
    dbmgmt_lint_report *r = *out;
    char **dirs = nfiles ? dm_calloc(nfiles, sizeof *dirs) : NULL;
    const dm_migration **done = nfiles ? dm_calloc(nfiles, sizeof *done) : NULL;
    if (nfiles && (!dirs || !done))
        rc = dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory linting");
    dm_linter lt;
    linter_init_with(&lt, engine, flags);
    for (size_t i = 0; i < nfiles && rc == DBMGMT_OK; i++) {
        if (!files[i]) {
            rc = dm_error_invalid(fn, "a file name is NULL");
            break;
        }
        char *dir = dir_of(files[i]);
        size_t before = r->nsources;
        dm_source *src = dir ? source_for(r, dirs, dir, &rc) : NULL;
        if (!dir)
            rc = dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory linting");
        if (r->nsources > before)
            dirs[before] = dir;
        else
            dm_free(dir);
        const dm_migration *mig = src ? migration_of_file(src, files[i]) : NULL;
        if (src && !mig)
            rc = dm_error_set(NULL, DBMGMT_ERR_NOTFOUND,
                              "%s: not a migration file of its folder (see docs/migrations.md "
                              "for the file names)", files[i]);
        int seen = 0;
        for (size_t k = 0; k < i && mig; k++)
            seen |= done[k] == mig;
        if (mig && !seen) {
            done[i] = mig;
            rc = lint_migration_up(&lt, r, mig);
        }
    }
    dm_linter_clear(&lt);
    for (size_t i = 0; i < r->nsources; i++)
        dm_free(dirs[i]);
    dm_free(dirs);
    dm_free(done);
    if (rc != DBMGMT_OK) {
        dbmgmt_lint_report_free(r);
        *out = NULL;
        return rc;
    }
    dm_lint_findings_sort(&r->findings);
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_lint_files(dbmgmt_lint_report **out, dbmgmt_engine engine,
                                 const char *const *files, size_t nfiles)
{
    return lint_files_with(out, engine, files, nfiles, 0, "dbmgmt_lint_files");
}

DBMGMT_API int dbmgmt_lint_files_with(dbmgmt_lint_report **out, dbmgmt_engine engine,
                                      const char *const *files, size_t nfiles, uint32_t flags)
{
    return lint_files_with(out, engine, files, nfiles, flags, "dbmgmt_lint_files_with");
}

DBMGMT_API void dbmgmt_lint_report_free(dbmgmt_lint_report *r)
{
    if (!r)
        return;
    dm_lint_findings_clear(&r->findings);
    for (size_t i = 0; i < r->nsources; i++)
        dm_source_clear(&r->sources[i]);
    dm_free(r->sources);
    dm_free(r);
}

DBMGMT_API size_t dbmgmt_lint_report_migration_count(const dbmgmt_lint_report *r)
{
    return r ? r->migrations : 0;
}

DBMGMT_API size_t dbmgmt_lint_report_count_severity(const dbmgmt_lint_report *r, int32_t severity)
{
    return r ? dm_lint_findings_count_severity(&r->findings, severity) : 0;
}

static const dm_lint_findings *report_findings(const dbmgmt_lint_report *r)
{
    return r ? &r->findings : NULL;
}

/* dbmgmt_lint_report_count, _rule, _severity, _file, _line, _message, _advice */
DM_LINT_FINDING_READERS(dbmgmt_lint_report, dbmgmt_lint_report, report_findings)

DBMGMT_API const char *dbmgmt_lint_report_version(const dbmgmt_lint_report *r, size_t k)
{
    return dm_lint_finding_version(report_findings(r), k);
}

static void report_json_members(dm_json *j, const void *owner)
{
    const dbmgmt_lint_report *r = owner;
    dm_findings_json_text(j, "engine", dbmgmt_engine_name(r->engine));
    dm_findings_json_int(j, "migrations", (int64_t)r->migrations);
    dm_findings_json_int(j, "errors",
                         (int64_t)dbmgmt_lint_report_count_severity(r, DBMGMT_LINT_ERROR));
    dm_findings_json_int(j, "warnings",
                         (int64_t)dbmgmt_lint_report_count_severity(r, DBMGMT_LINT_WARNING));
    dm_findings_json_int(j, "infos",
                         (int64_t)dbmgmt_lint_report_count_severity(r, DBMGMT_LINT_INFO));
    dm_lint_findings_json(j, "findings", &r->findings, 0);
}

DBMGMT_API char *dbmgmt_lint_report_to_json(const dbmgmt_lint_report *r)
{
    return dm_findings_document(r, "dbmgmt_lint_report_to_json", "report is NULL", "a lint report",
                                report_json_members);
}
