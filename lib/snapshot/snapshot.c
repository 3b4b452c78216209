/*
 * Anonymised snapshots (issue 22, docs/snapshots.md): the object, its
 * setters, and a run: pick the backup, restore it with the backup
 * library's own restore into a scratch database nobody else can read yet,
 * mask it (snap_engine.c), then make it the target: SQLite a 0600 file
 * beside the target renamed over it; PostgreSQL a fresh database renamed
 * to the target; MariaDB/MySQL a scratch schema whose tables are moved
 * into the target by one RENAME TABLE. On failure the scratch is removed
 * and the target left as it was.
 */
#include "snapshot_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup/backup_impl.h"
#include "conn/conn.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/dsn.h"
#include "core/json.h"
#include "core/log.h"

#define MAX_KEY 1024

static void wipe_key(dbmgmt_snapshot *s)
{
    if (s->key) {
        volatile unsigned char *p = s->key;
        for (size_t i = 0; i < s->key_len; i++)
            p[i] = 0;
        dm_free(s->key);
    }
    s->key = NULL;
    s->key_len = 0;
}

static void clear_tables(dbmgmt_snapshot *s)
{
    for (size_t i = 0; i < s->ntables; i++)
        dm_free(s->tables[i].table);
    s->ntables = 0;
}

DBMGMT_API int dbmgmt_snapshot_new(dbmgmt_snapshot **out, const char *backup_dir)
{
    if (!out)
        return dm_error_invalid("dbmgmt_snapshot_new", "out is NULL");
    *out = NULL;
    if (!backup_dir || !*backup_dir)
        return dm_error_invalid("dbmgmt_snapshot_new", "backup_dir is NULL or empty");
    struct stat st;
    if (stat(backup_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return dm_error_set(NULL, DBMGMT_ERR_NOTFOUND, "backup folder %s: not found",
                            backup_dir);
    dbmgmt_snapshot *s = dm_calloc(1, sizeof *s);
    if (!s || !(s->dir = dm_strdup(backup_dir))) {
        dm_free(s);
        return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory creating a snapshot");
    }
    *out = s;
    return DBMGMT_OK;
}

DBMGMT_API void dbmgmt_snapshot_free(dbmgmt_snapshot *s)
{
    if (!s)
        return;
    wipe_key(s);
    clear_tables(s);
    dm_free(s->tables);
    dm_snap_rules_clear(&s->rules);
    dm_free(s->dir);
    dm_free(s->backup_id);
    dm_free(s->backup_key_file);
    dm_free(s->result_json);
    dm_free(s->pending_json);
    dm_free(s);
}

DBMGMT_API int dbmgmt_snapshot_set_backup_id(dbmgmt_snapshot *s, const char *id)
{
    if (!s)
        return dm_error_invalid("dbmgmt_snapshot_set_backup_id", "s is NULL");
    char *copy = NULL;
    if (id && !(copy = dm_strdup(id)))
        return dm_error_set(&s->err, DBMGMT_ERR_NOMEM, "out of memory");
    dm_free(s->backup_id);
    s->backup_id = copy;
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_snapshot_set_backup_key_file(dbmgmt_snapshot *s, const char *path)
{
    if (!s)
        return dm_error_invalid("dbmgmt_snapshot_set_backup_key_file", "s is NULL");
    char *copy = NULL;
    if (path && !(copy = dm_strdup(path)))
        return dm_error_set(&s->err, DBMGMT_ERR_NOMEM, "out of memory");
    dm_free(s->backup_key_file);
    s->backup_key_file = copy;
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_snapshot_set_rules_file(dbmgmt_snapshot *s, const char *path)
{
    if (!s || !path)
        return dm_error_invalid("dbmgmt_snapshot_set_rules_file", "s or path is NULL");
    dm_error_reset(&s->err);
    return dm_snap_rules_load(&s->rules, path, &s->err);
}

DBMGMT_API int dbmgmt_snapshot_set_key(dbmgmt_snapshot *s, const unsigned char *key, size_t len)
{
    if (!s || !key || len == 0 || len > MAX_KEY)
        return dm_error_invalid("dbmgmt_snapshot_set_key", "s or key is NULL, or len not 1..1024");
    unsigned char *copy = dm_malloc(len);
    if (!copy)
        return dm_error_set(&s->err, DBMGMT_ERR_NOMEM, "out of memory");
    memcpy(copy, key, len);
    wipe_key(s);
    s->key = copy;
    s->key_len = len;
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_snapshot_set_key_file(dbmgmt_snapshot *s, const char *path)
{
    if (!s || !path)
        return dm_error_invalid("dbmgmt_snapshot_set_key_file", "s or path is NULL");
    dm_error_reset(&s->err);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dm_error_set(&s->err, DBMGMT_ERR_IO, "cannot open the mask key file %s: %s", path,
                            strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return dm_error_set(&s->err, DBMGMT_ERR_IO, "the mask key file %s is not a file", path);
    }
    if (st.st_mode & 077) {
        close(fd);
        return dm_error_set(&s->err, DBMGMT_ERR_POLICY,
                            "the mask key file %s may be read by group or others (chmod 600)",
                            path);
    }
    unsigned char buf[MAX_KEY + 2];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf && (r = read(fd, buf + n, sizeof buf - n)) > 0)
        n += (size_t)r;
    close(fd);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    int rc = DBMGMT_OK;
    if (n == 0 || n > MAX_KEY)
        rc = dm_error_set(&s->err, DBMGMT_ERR_INVALID,
                          "the mask key file %s must hold 1 to 1024 bytes", path);
    else
        rc = dbmgmt_snapshot_set_key(s, buf, n);
    volatile unsigned char *p = buf;
    for (size_t i = 0; i < sizeof buf; i++)
        p[i] = 0;
    return rc;
}

DBMGMT_API int dbmgmt_snapshot_set_progress(dbmgmt_snapshot *s, dbmgmt_snapshot_progress_fn fn,
                                            void *userdata)
{
    if (!s)
        return dm_error_invalid("dbmgmt_snapshot_set_progress", "s is NULL");
    s->progress = fn;
    s->progress_userdata = userdata;
    return DBMGMT_OK;
}

DBMGMT_API const char *dbmgmt_snapshot_result_json(const dbmgmt_snapshot *s)
{
    return s && s->result_json ? s->result_json : "";
}

DBMGMT_API const char *dbmgmt_snapshot_errmsg(const dbmgmt_snapshot *s)
{
    return s ? s->err.msg : "";
}

/* ---- the run ---- */

/* The backup to take: the id set, else the newest verified one. */
static int pick_backup(dbmgmt_snapshot *s, dbmgmt_backup *b, dbmgmt_engine engine, char **id)
{
    dm_bk_entry *v = NULL;
    size_t n = 0;
    int rc = dm_bkcat_all(b->cat, &v, &n, &s->err);
    if (rc != DBMGMT_OK)
        return rc;
    const dm_bk_entry *e = NULL;
    for (size_t i = 0; i < n; i++) {
        if (s->backup_id ? !strcmp(v[i].id, s->backup_id) : v[i].verify_ok == 1)
            e = &v[i]; /* ordered by time: the last is the newest */
    }
    if (!e)
        rc = s->backup_id ? dm_error_set(&s->err, DBMGMT_ERR_NOTFOUND,
                                         "backup %s is not in the catalog of %s",
                                         s->backup_id, s->dir)
                          : dm_error_set(&s->err, DBMGMT_ERR_NOTFOUND,
                                         "no verified backup in %s", s->dir);
    else if (strcmp(e->engine, dbmgmt_engine_name(engine)) != 0)
        rc = dm_error_set(&s->err, DBMGMT_ERR_INVALID,
                          "backup %s is a %s backup: it cannot make a %s snapshot", e->id,
                          e->engine, dbmgmt_engine_name(engine));
    else if (!(*id = dm_strdup(e->id)))
        rc = dm_error_set(&s->err, DBMGMT_ERR_NOMEM, "out of memory");
    dm_bk_entries_free(v, n);
    return rc;
}


int dm_snap_prepare_result(dbmgmt_snapshot *s)
{
    const char *id = s->run_id;
    const dm_dsn *target = s->run_target;
    int64_t ms = dm_monotonic_ms() - s->run_start;
    dm_buf out = {0};
    dm_json j;
    dm_json_init(&j, &out);
    char *redacted = dm_dsn_render_redacted(target);
    int64_t rows = 0, masked = 0, cols = 0;
    dm_json_object_begin(&j);
    dm_json_key(&j, "backup_id");
    dm_json_string(&j, id);
    dm_json_key(&j, "engine");
    dm_json_string(&j, dbmgmt_engine_name(target->engine));
    dm_json_key(&j, "target");
    dm_json_string(&j, redacted ? redacted : "");
    dm_json_key(&j, "tables");
    dm_json_array_begin(&j);
    for (size_t i = 0; i < s->ntables; i++) {
        const dm_snap_table_result *t = &s->tables[i];
        dm_json_object_begin(&j);
        dm_json_key(&j, "table");
        dm_json_string(&j, t->table);
        dm_json_key(&j, "rows");
        dm_json_int(&j, t->rows);
        dm_json_key(&j, "masked_rows");
        dm_json_int(&j, t->masked_rows);
        dm_json_key(&j, "masked_columns");
        dm_json_int(&j, t->columns);
        dm_json_object_end(&j);
        rows += t->rows;
        masked += t->masked_rows;
        cols += t->columns;
    }
    dm_json_array_end(&j);
    dm_json_key(&j, "total_rows");
    dm_json_int(&j, rows);
    dm_json_key(&j, "total_masked_rows");
    dm_json_int(&j, masked);
    dm_json_key(&j, "total_masked_columns");
    dm_json_int(&j, cols);
    dm_json_key(&j, "duration_ms");
    dm_json_int(&j, ms);
    dm_json_object_end(&j);
    dm_free(redacted);
    if (dm_buf_failed(&out) || dm_json_failed(&j)) {
        dm_buf_free(&out);
        return dm_error_set(&s->err, DBMGMT_ERR_NOMEM, "out of memory");
    }
    dm_free(s->pending_json);
    s->pending_json = dm_buf_detach(&out);
    return DBMGMT_OK;
}

static int needs_key(const dm_snap_rules *r)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].kind == DM_SNAP_HASH || r->v[i].kind == DM_SNAP_EMAIL ||
            r->v[i].kind == DM_SNAP_PHONE)
            return 1;
    return 0;
}

static int run_locked(dbmgmt_snapshot *s, const char *target_dsn)
{
    if (!s->rules.file)
        return dm_error_set(&s->err, DBMGMT_ERR_INVALID,
                            "dbmgmt_snapshot_run: no rules file (dbmgmt_snapshot_set_rules_file)");
    if (needs_key(&s->rules) && !s->key)
        return dm_error_set(&s->err, DBMGMT_ERR_INVALID,
                            "%s has hash, email or phone rules and no mask key is set "
                            "(dbmgmt_snapshot_set_key_file, --mask-key-file)", s->rules.file);
    dm_dsn *target = NULL;
    int rc = dm_dsn_parse(target_dsn, &target, &s->err);
    if (rc != DBMGMT_OK)
        return rc;
    if (!target->database || !*target->database || !strcmp(target->database, ":memory:") ||
        (target->engine != DBMGMT_ENGINE_SQLITE && target->keyword_form)) {
        dm_dsn_free(target);
        return dm_error_set(&s->err, DBMGMT_ERR_INVALID,
                            "a snapshot's target must be a URL DSN naming a database (or a "
                            "SQLite file)");
    }
    int64_t start = dm_monotonic_ms();
    dbmgmt_backup *b = NULL;
    char *id = NULL;
    if ((rc = dbmgmt_backup_new(&b, target_dsn, s->dir)) != DBMGMT_OK)
        rc = dm_error_set(&s->err, rc, "%s", dbmgmt_errmsg());
    if (rc == DBMGMT_OK && s->backup_key_file &&
        (rc = dbmgmt_backup_set_key_file(b, s->backup_key_file)) != DBMGMT_OK)
        rc = dm_error_set(&s->err, rc, "%s", dbmgmt_backup_errmsg(b));
    if (rc == DBMGMT_OK)
        rc = pick_backup(s, b, target->engine, &id);
    clear_tables(s);
    s->run_id = id;
    s->run_target = target;
    s->run_start = start;
    if (rc == DBMGMT_OK) {
        dm_log(DBMGMT_LOG_INFO, "snapshot: backup %s into a scratch database", id);
        rc = target->engine == DBMGMT_ENGINE_SQLITE     ? snap_sqlite(s, b, id, target)
             : target->engine == DBMGMT_ENGINE_POSTGRES ? snap_postgres(s, b, id, target)
                                                        : snap_mysql(s, b, id, target);
    }
    if (rc == DBMGMT_OK) {
        dm_free(s->result_json);
        s->result_json = s->pending_json;
        s->pending_json = NULL;
    }
    dm_free(s->pending_json);
    s->pending_json = NULL;
    s->run_id = NULL;
    s->run_target = NULL;
    dm_free(id);
    dbmgmt_backup_free(b);
    dm_dsn_free(target);
    return rc;
}

DBMGMT_API int dbmgmt_snapshot_run(dbmgmt_snapshot *s, const char *target_dsn)
{
    if (!s || !target_dsn)
        return dm_error_invalid("dbmgmt_snapshot_run", "s or target_dsn is NULL");
    dm_error_reset(&s->err);
    return run_locked(s, target_dsn);
}
