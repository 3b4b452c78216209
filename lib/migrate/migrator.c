/* The public migrator API: configuration, plan/apply, operator actions,
 * status, the boot call and the C rendering for firmware. */
#include <ctype.h>
#include <pthread.h>
#if defined(__linux__)
#include <sched.h>
#endif
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/json.h"
#include "core/thread.h"
#include "migrator.h"

#define DEFAULT_LOCK_TIMEOUT_MS 60000

#define CHECK_M(m, fn)                                                                            \
    do {                                                                                          \
        if (!(m))                                                                                 \
            return dm_error_invalid(fn, "migrator is NULL");                                      \
        dm_error_reset(&(m)->err);                                                                \
    } while (0)

DBMGMT_API int dbmgmt_migrator_new(dbmgmt_migrator **out, dbmgmt_conn *conn)
{
    if (!out)
        return dm_error_invalid("dbmgmt_migrator_new", "out is NULL");
    *out = NULL;
    if (!conn)
        return dm_error_invalid("dbmgmt_migrator_new", "conn is NULL");
    dbmgmt_migrator *m = dm_calloc(1, sizeof *m);
    if (!m)
        return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory creating a migrator");
    m->conn = conn;
    snprintf(m->table, sizeof m->table, "%s", DM_HISTORY_DEFAULT);
    m->lock_timeout_ms = DEFAULT_LOCK_TIMEOUT_MS;
    m->table_known = -1;
    *out = m;
    return DBMGMT_OK;
}

DBMGMT_API void dbmgmt_migrator_free(dbmgmt_migrator *m)
{
    if (!m)
        return;
    dm_source_clear(&m->source);
    dm_session_state_clear(&m->session);
    dm_free(m->environment);
    dm_free(m->migrations_dir);
    dm_free(m);
}

DBMGMT_API int dbmgmt_migrator_add_dir(dbmgmt_migrator *m, const char *dir)
{
    CHECK_M(m, "dbmgmt_migrator_add_dir");
    if (m->source.from_table)
        return dm_migrator_fail(m, DBMGMT_ERR_INVALID,
                                "this migrator already has a compiled-in table; one migrator "
                                "takes migrations from a folder or from a table, not both");
    const char *folder = dir ? dir : "migrations";
    char *copy = dm_strdup(folder);
    if (!copy)
        return dm_migrator_fail(m, DBMGMT_ERR_NOMEM, "out of memory adding %s", folder);
    int rc = dm_source_add_dir(&m->source, folder, &m->err);
    if (rc != DBMGMT_OK) {
        dm_free(copy);
        return rc;
    }
    dm_free(m->migrations_dir);
    m->migrations_dir = copy;
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_migrator_add_table(dbmgmt_migrator *m, const dbmgmt_migration_def *defs)
{
    CHECK_M(m, "dbmgmt_migrator_add_table");
    if (!defs)
        return dm_migrator_fail(m, DBMGMT_ERR_INVALID, "dbmgmt_migrator_add_table: defs is NULL");
    if (m->source.from_dir)
        return dm_migrator_fail(m, DBMGMT_ERR_INVALID,
                                "this migrator already has a migrations folder; one migrator "
                                "takes migrations from a folder or from a table, not both");
    return dm_source_add_table(&m->source, defs, &m->err);
}

/* 1-63 letters, digits or _, starting with a letter or _. */
static int plain_identifier(const char *name, size_t len)
{
    int ok = len > 0 && len < 64 && (isalpha((unsigned char)name[0]) || name[0] == '_');
    for (size_t i = 0; ok && i < len; i++)
        ok = isalnum((unsigned char)name[i]) || name[i] == '_';
    return ok;
}

DBMGMT_API int dbmgmt_migrator_set_table_name(dbmgmt_migrator *m, const char *name)
{
    CHECK_M(m, "dbmgmt_migrator_set_table_name");
    const char *dot = name ? strchr(name, '.') : NULL;
    const char *table = dot ? dot + 1 : name;
    size_t schema_len = dot ? (size_t)(dot - name) : 0;
    size_t len = table ? strlen(table) : 0;
    if (!plain_identifier(table, len) || (dot && !plain_identifier(name, schema_len)))
        return dm_migrator_fail(m, DBMGMT_ERR_INVALID,
                                "history table name '%s' must be TABLE or SCHEMA.TABLE, each 1-63 "
                                "letters, digits or _, starting with a letter or _",
                                name ? name : "(null)");
    if (m->session_saved)
        return dm_migrator_fail(m, DBMGMT_ERR_INVALID,
                                "dbmgmt_migrator_set_table_name: the migrator has already used "
                                "its table; set the name before planning or applying");
    memcpy(m->table, table, len + 1);
    memcpy(m->schema, name, schema_len);
    m->schema[schema_len] = '\0';
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_migrator_set_environment(dbmgmt_migrator *m, const char *environment)
{
    CHECK_M(m, "dbmgmt_migrator_set_environment");
    char *copy = NULL;
    if (environment && !(copy = dm_strdup(environment)))
        return dm_migrator_fail(m, DBMGMT_ERR_NOMEM, "out of memory");
    dm_free(m->environment);
    m->environment = copy;
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_migrator_set_lock_timeout_ms(dbmgmt_migrator *m, int32_t timeout_ms)
{
    CHECK_M(m, "dbmgmt_migrator_set_lock_timeout_ms");
    if (timeout_ms < 0)
        return dm_migrator_fail(m, DBMGMT_ERR_INVALID, "lock timeout must be >= 0 ms, not %d",
                                (int)timeout_ms);
    m->lock_timeout_ms = timeout_ms;
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_migrator_set_progress(dbmgmt_migrator *m, dbmgmt_progress_fn fn,
                                            void *userdata)
{
    CHECK_M(m, "dbmgmt_migrator_set_progress");
    m->progress = fn;
    m->progress_userdata = userdata;
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_migrator_allow(dbmgmt_migrator *m, uint32_t allow_flags)
{
    CHECK_M(m, "dbmgmt_migrator_allow");
    if (allow_flags & ~(uint32_t)0xf)
        return dm_migrator_fail(m, DBMGMT_ERR_INVALID, "unknown allow flags 0x%x",
                                (unsigned)allow_flags);
    m->allow = allow_flags;
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_migrator_set_galera(dbmgmt_migrator *m, int mode)
{
    CHECK_M(m, "dbmgmt_migrator_set_galera");
    if (mode != DBMGMT_GALERA_AUTO && mode != DBMGMT_GALERA_ON && mode != DBMGMT_GALERA_OFF)
        return dm_migrator_fail(m, DBMGMT_ERR_INVALID,
                                "dbmgmt_migrator_set_galera: unknown mode %d (DBMGMT_GALERA_AUTO "
                                "0, _ON 1, _OFF 2)", mode);
    dbmgmt_engine engine = m->conn->drv->engine;
    if (mode == DBMGMT_GALERA_ON && engine != DBMGMT_ENGINE_MYSQL)
        return dm_migrator_fail(m, DBMGMT_ERR_INVALID,
                                "dbmgmt_migrator_set_galera: DBMGMT_GALERA_ON needs a "
                                "MySQL/MariaDB connection; this one is %s, which has no Galera",
                                dbmgmt_engine_name(engine));
    m->galera = mode;
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_migrator_require_backup(dbmgmt_migrator *m, dbmgmt_backup *b)
{
    CHECK_M(m, "dbmgmt_migrator_require_backup");
    m->backup_before = b;
    return DBMGMT_OK;
}

static int plan_with_history(dbmgmt_migrator *m, int32_t direction, const char *target,
                             dbmgmt_plan **out)
{
    dm_history h;
    int rc = direction == DBMGMT_UP ? dm_history_read_fast(m, &h) : dm_history_read(m, &h);
    if (rc != DBMGMT_OK)
        return rc;
    rc = dm_plan_compute(m, &h, direction, target, 1, out);
    dm_history_clear(&h);
    return rc;
}

DBMGMT_API int dbmgmt_migrator_plan(dbmgmt_migrator *m, const char *target_or_null,
                                    dbmgmt_plan **out)
{
    if (out)
        *out = NULL;
    CHECK_M(m, "dbmgmt_migrator_plan");
    if (!out)
        return dm_migrator_fail(m, DBMGMT_ERR_INVALID, "dbmgmt_migrator_plan: out is NULL");
    if (!target_or_null)
        return plan_with_history(m, DBMGMT_UP, NULL, out);
    /* a target older than the newest applied version plans a down */
    dm_history h;
    int rc = dm_history_read(m, &h);
    if (rc != DBMGMT_OK)
        return rc;
    int32_t direction = h.newest && dm_version_compare(target_or_null, h.newest) < 0 ? DBMGMT_DOWN
                                                                                      : DBMGMT_UP;
    rc = dm_plan_compute(m, &h, direction, target_or_null, 1, out);
    dm_history_clear(&h);
    return rc;
}

DBMGMT_API int dbmgmt_migrator_plan_down(dbmgmt_migrator *m, const char *target,
                                         dbmgmt_plan **out)
{
    if (out)
        *out = NULL;
    CHECK_M(m, "dbmgmt_migrator_plan_down");
    if (!out || !target)
        return dm_migrator_fail(m, DBMGMT_ERR_INVALID,
                                "dbmgmt_migrator_plan_down: out and target are required");
    return plan_with_history(m, DBMGMT_DOWN, target, out);
}

DBMGMT_API int dbmgmt_migrator_apply(dbmgmt_migrator *m, const dbmgmt_plan *plan)
{
    CHECK_M(m, "dbmgmt_migrator_apply");
    if (!plan)
        return dm_migrator_fail(m, DBMGMT_ERR_INVALID, "dbmgmt_migrator_apply: plan is NULL");
    int rc = dm_apply(m, plan);
    if (rc < 0)
        dm_error_copy(NULL, &m->err);
    return rc;
}

/* Where the lock is cheap (SQLite) the plan is made under it only, so the
 * history is read once; elsewhere a plan made first saves taking a lock
 * session when there is nothing to do (every boot of every replica). */
static int plan_and_apply(dbmgmt_migrator *m, int32_t direction, const char *target)
{
    if (m->conn->drv->lock_is_transaction) {
        int rc = dm_run(m, direction, target);
        if (rc < 0)
            dm_error_copy(NULL, &m->err);
        return rc;
    }
    dbmgmt_plan *plan = NULL;
    int rc = plan_with_history(m, direction, target, &plan);
    if (rc == DBMGMT_OK)
        rc = dm_apply(m, plan);
    dbmgmt_plan_free(plan);
    if (rc < 0)
        dm_error_copy(NULL, &m->err);
    return rc;
}

DBMGMT_API int dbmgmt_migrator_up(dbmgmt_migrator *m)
{
    CHECK_M(m, "dbmgmt_migrator_up");
    return plan_and_apply(m, DBMGMT_UP, NULL);
}

DBMGMT_API int dbmgmt_migrator_down(dbmgmt_migrator *m, const char *target)
{
    CHECK_M(m, "dbmgmt_migrator_down");
    if (!target)
        return dm_migrator_fail(m, DBMGMT_ERR_INVALID,
                                "dbmgmt_migrator_down: a target version is required (\"0\" "
                                "reverts everything)");
    return plan_and_apply(m, DBMGMT_DOWN, target);
}

DBMGMT_API int dbmgmt_migrator_baseline(dbmgmt_migrator *m, const char *version)
{
    CHECK_M(m, "dbmgmt_migrator_baseline");
    if (!version)
        return dm_migrator_fail(m, DBMGMT_ERR_INVALID, "dbmgmt_migrator_baseline: version is NULL");
    return dm_baseline(m, version);
}

DBMGMT_API int dbmgmt_migrator_repair(dbmgmt_migrator *m)
{
    CHECK_M(m, "dbmgmt_migrator_repair");
    return dm_repair(m);
}

DBMGMT_API int dbmgmt_migrator_resume(dbmgmt_migrator *m)
{
    CHECK_M(m, "dbmgmt_migrator_resume");
    return dm_resume(m);
}

DBMGMT_API int dbmgmt_migrator_validate(dbmgmt_migrator *m)
{
    CHECK_M(m, "dbmgmt_migrator_validate");
    /* an explicit validation reads every row (no digest shortcut) */
    dm_history h;
    dbmgmt_plan *plan = NULL;
    int rc = dm_history_read(m, &h);
    if (rc == DBMGMT_OK) {
        rc = dm_plan_compute(m, &h, DBMGMT_UP, NULL, 1, &plan);
        dm_history_clear(&h);
    }
    if (rc == DBMGMT_OK && plan->nproblems)
        rc = dm_error_set(&m->err, plan->problems[0].status, "%s", plan->problems[0].message);
    dbmgmt_plan_free(plan);
    return rc;
}

DBMGMT_API const char *dbmgmt_migrator_errmsg(const dbmgmt_migrator *m)
{
    return m ? m->err.msg : "dbmgmt_migrator_errmsg: migrator is NULL";
}

/* ---- status ------------------------------------------------------------------ */

static const char *version_state(const dm_history *h, const dm_migration *mig)
{
    const dm_history_row *row = dm_history_find(h, mig->version);
    if (row)
        return !row->success ? "dirty"
               : (row->checksum && strcmp(row->checksum, mig->checksum) != 0 &&
                  strcmp(row->checksum, DM_BASELINE_CHECKSUM) != 0)
                   ? "edited"
                   : "applied";
    if (h->baseline && dm_version_compare(mig->version, h->baseline) <= 0)
        return "below-baseline";
    return "pending";
}

static void status_entry(dm_json *j, const char *version, const char *name, const char *file,
                         const char *state)
{
    dm_json_object_begin(j);
    dm_json_key(j, "version");
    dm_json_string(j, version);
    dm_json_key(j, "name");
    dm_json_string(j, name);
    dm_json_key(j, "source");
    dm_json_string(j, file);
    dm_json_key(j, "state");
    dm_json_string(j, state);
    dm_json_object_end(j);
}

DBMGMT_API int dbmgmt_migrator_status_json(dbmgmt_migrator *m, char **out)
{
    CHECK_M(m, "dbmgmt_migrator_status_json");
    if (!out)
        return dm_migrator_fail(m, DBMGMT_ERR_INVALID, "dbmgmt_migrator_status_json: out is NULL");
    *out = NULL;
    dm_history h;
    int rc = dm_history_read(m, &h);
    if (rc != DBMGMT_OK)
        return rc;
    dm_buf b = DM_BUF_INIT;
    dm_json j;
    dm_json_init(&j, &b);
    dm_json_object_begin(&j);
    dm_json_key(&j, "environment");
    dm_json_string(&j, h.environment);
    dm_json_key(&j, "current");
    dm_json_string(&j, h.newest);
    dm_json_key(&j, "dirty");
    dm_json_bool(&j, h.dirty != NULL);
    dm_json_key(&j, "migrations");
    dm_json_array_begin(&j);
    for (size_t i = 0; i < m->source.count; i++) {
        const dm_migration *mig = &m->source.items[i];
        status_entry(&j, mig->version, mig->name, mig->up.file, version_state(&h, mig));
    }
    for (size_t i = 0; i < h.count; i++) /* applied but absent from the source */
        if (!dm_source_find(&m->source, h.rows[i].version))
            status_entry(&j, h.rows[i].version, h.rows[i].description, h.rows[i].script,
                         h.rows[i].checksum && strcmp(h.rows[i].checksum, DM_BASELINE_CHECKSUM) == 0
                             ? "baseline"
                             : "missing");
    dm_json_array_end(&j);
    dm_json_object_end(&j);
    dm_history_clear(&h);
    *out = dm_buf_detach(&b);
    return *out ? DBMGMT_OK : dm_migrator_fail(m, DBMGMT_ERR_NOMEM, "out of memory");
}

/* For the Prometheus exposition (lib/health/prometheus.c): what status_json
 * says as three figures. */
int dm_migrator_state(dbmgmt_migrator *m, size_t *pending, int *dirty, char **applied)
{
    CHECK_M(m, "dbmgmt_metrics_to_prometheus");
    dm_history h;
    int rc = dm_history_read(m, &h);
    if (rc != DBMGMT_OK)
        return rc;
    *pending = 0;
    for (size_t i = 0; i < m->source.count; i++)
        if (strcmp(version_state(&h, &m->source.items[i]), "pending") == 0)
            (*pending)++;
    *dirty = h.dirty != NULL;
    *applied = NULL;
    if (h.newest && !(*applied = dm_strdup(h.newest)))
        rc = dm_migrator_fail(m, DBMGMT_ERR_NOMEM, "out of memory");
    dm_history_clear(&h);
    return rc;
}

/* ---- migrate on boot ------------------------------------------------------------ */

/* The boot call reads the migrations folder on a second thread while the
 * connection opens and the engine gets ready to read the history: the
 * folder costs system calls and hashing, the connection a handshake
 * (PostgreSQL, MySQL) or the parse of the file's schema (SQLite), and
 * neither needs the other. When the calling thread is ready first it reads
 * a share of the files that are left (dm_dir_load_read). Where no thread
 * can be started the folder is read afterwards, as
 * dbmgmt_migrator_add_dir() does. */
typedef struct boot_reader {
    dm_dir_load *load;
    dm_thread_start start;
} boot_reader;

static void *boot_read_dir(void *arg)
{
    boot_reader *r = arg;
    dm_dir_load_read(r->load, 0);
    return NULL;
}

/* Linux places a new thread on its parent's CPU, where it waits until the
 * parent blocks, and the read would not overlap at all (measured: half the
 * boots of a 2-CPU machine). So the reader may run on any CPU the caller
 * may use except the one the caller is on; with one CPU, or where that
 * cannot be said, the kernel decides. */
static int boot_start_reader(pthread_t *thread, boot_reader *reader)
{
#if defined(__linux__) && defined(CPU_COUNT)
    cpu_set_t set;
    CPU_ZERO(&set);
    int here = sched_getcpu();
    if (here >= 0 && sched_getaffinity(0, sizeof set, &set) == 0) {
        CPU_CLR((size_t)here, &set);
        pthread_attr_t attr;
        if (CPU_COUNT(&set) > 0 && pthread_attr_init(&attr) == 0) {
            int ok = pthread_attr_setaffinity_np(&attr, sizeof set, &set) == 0 &&
                     dm_thread_create(thread, &attr, &reader->start, boot_read_dir, reader) == 0;
            pthread_attr_destroy(&attr);
            if (ok)
                return 1;
        }
    }
#endif
    return dm_thread_create(thread, NULL, &reader->start, boot_read_dir, reader) == 0;
}

/* SQLite parses the file's whole schema on a connection's first statement
 * that needs it; ask for the history table now so that happens while the
 * folder is read. Its answer is not kept: the history is read afresh. */
static void boot_warm(dbmgmt_migrator *m)
{
    if (dbmgmt_conn_engine(m->conn) == DBMGMT_ENGINE_SQLITE) {
        dm_error ignored;
        dm_error_reset(&ignored);
        (void)m->conn->drv->table_exists(m->conn->dc, NULL, m->table, &ignored);
    }
}

DBMGMT_API int dbmgmt_migrator_add_dir_threaded(dbmgmt_migrator *m, const char *dir)
{
    CHECK_M(m, "dbmgmt_migrator_add_dir_threaded");
    if (m->source.from_table || m->source.from_dir || m->source.count)
        return dbmgmt_migrator_add_dir(m, dir); /* its refusal, or a second folder */
    const char *folder = dir ? dir : "migrations";
    char *copy = dm_strdup(folder);
    if (!copy)
        return dm_migrator_fail(m, DBMGMT_ERR_NOMEM, "out of memory adding %s", folder);
    boot_reader reader;
    memset(&reader, 0, sizeof reader);
    reader.load = dm_dir_load_new(folder);
    if (!reader.load) {
        dm_free(copy);
        return dm_migrator_fail(m, DBMGMT_ERR_NOMEM, "out of memory adding %s", folder);
    }
    pthread_t thread;
    if (!boot_start_reader(&thread, &reader)) {
        dm_dir_load_free(reader.load);
        dm_free(copy);
        return dbmgmt_migrator_add_dir(m, dir);
    }
    boot_warm(m);
    dm_dir_load_read(reader.load, 1);
    pthread_join(thread, NULL);
    /* the caller's thread's error too; the migrator's source was empty */
    int rc = dm_dir_load_finish(reader.load, &m->source, &m->err);
    dm_dir_load_free(reader.load);
    if (rc != DBMGMT_OK) {
        dm_free(copy);
        return rc;
    }
    dm_free(m->migrations_dir);
    m->migrations_dir = copy;
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_migrate_on_boot(const char *dsn, const char *dir_or_null,
                                      const dbmgmt_migration_def *defs_or_null,
                                      const char *environment)
{
    dbmgmt_conn *conn = NULL;
    dbmgmt_migrator *m = NULL;
    if (dir_or_null && defs_or_null)
        return dm_error_set(NULL, DBMGMT_ERR_INVALID,
                            "dbmgmt_migrate_on_boot: give a folder or a compiled-in table, not both");
    const char *dir = dir_or_null ? dir_or_null : "migrations";
    boot_reader reader;
    memset(&reader, 0, sizeof reader);
    reader.load = defs_or_null ? NULL : dm_dir_load_new(dir);
    if (!defs_or_null && !reader.load)
        return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory loading %s", dir);
    pthread_t thread;
    int threaded = reader.load && boot_start_reader(&thread, &reader);
    int rc = dbmgmt_conn_open(&conn, dsn);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_migrator_new(&m, conn);
    if (rc == DBMGMT_OK && environment)
        rc = dbmgmt_migrator_set_environment(m, environment);
    if (rc == DBMGMT_OK && threaded) {
        boot_warm(m);
        dm_dir_load_read(reader.load, 1);
    }
    if (threaded)
        pthread_join(thread, NULL);
    if (rc == DBMGMT_OK) {
        if (defs_or_null)
            rc = dbmgmt_migrator_add_table(m, defs_or_null);
        else if (!threaded)
            rc = dbmgmt_migrator_add_dir(m, dir);
        else /* into the migrator's own source, still empty */
            rc = dm_dir_load_finish(reader.load, &m->source, &m->err);
    }
    dm_dir_load_free(reader.load);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_migrator_up(m);
    if (rc < 0 && m)
        dm_error_copy(NULL, &m->err);
    dbmgmt_migrator_free(m);
    dbmgmt_conn_close(conn);
    return rc;
}

/* ---- C rendering of a folder (dbmgmt embed) -------------------------------------- */

void dm_c_string_literal(dm_buf *b, const char *s, size_t len)
{
    dm_buf_puts(b, "\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '\\': dm_buf_puts(b, "\\\\"); break;
        case '"': dm_buf_puts(b, "\\\""); break;
        case '\n': dm_buf_puts(b, i + 1 < len ? "\\n\"\n        \"" : "\\n"); break;
        case '\r': dm_buf_puts(b, "\\r"); break;
        case '\t': dm_buf_puts(b, "\\t"); break;
        case '?': dm_buf_puts(b, "\\?"); break; /* no trigraphs */
        default:
            if (c < 0x20 || c == 0x7f)
                dm_buf_printf(b, "\\%03o", c);
            else
                dm_buf_putc(b, (char)c);
        }
    }
    dm_buf_puts(b, "\"");
}

static int valid_c_identifier(const char *s)
{
    if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return 0;
    return 1;
}

static void embed_entry(dm_buf *b, const dm_migration *mig)
{
    dm_buf_printf(b, "    {DBMGMT_MIGRATION_DEF_VERSION, %s,\n     ",
                  mig->no_transaction ? "DBMGMT_MIGRATION_NO_TRANSACTION" : "0");
    dm_c_string_literal(b, mig->version, strlen(mig->version));
    dm_buf_puts(b, ", ");
    dm_c_string_literal(b, mig->name, strlen(mig->name));
    dm_buf_puts(b, ",\n     /* up */\n        ");
    dm_c_string_literal(b, mig->up.sql, mig->up.len);
    dm_buf_puts(b, ",\n     /* down */\n        ");
    if (mig->down.sql)
        dm_c_string_literal(b, mig->down.sql, mig->down.len);
    else
        dm_buf_puts(b, "NULL");
    dm_buf_puts(b, ",\n     ");
    dm_c_string_literal(b, mig->checksum, 64);
    dm_buf_puts(b, ", ");
    dm_c_string_literal(b, mig->up.file, strlen(mig->up.file));
    dm_buf_puts(b, "},\n");
}

DBMGMT_API int dbmgmt_migrations_embed_c(const char *dir, const char *symbol, char **out)
{
    if (!out)
        return dm_error_invalid("dbmgmt_migrations_embed_c", "out is NULL");
    *out = NULL;
    if (!dir || !valid_c_identifier(symbol))
        return dm_error_invalid("dbmgmt_migrations_embed_c",
                                "dir is NULL or symbol is not a C identifier");
    if (dm_is_seeds_dir(dir))
        return dm_error_set(NULL, DBMGMT_ERR_POLICY,
                            "%s is a seeds folder: seed data is never embedded into a build "
                            "(docs/seeds.md); embed the migrations folder, and run seeds from "
                            "files with `dbmgmt seed` where they belong", dir);
    dm_source src;
    memset(&src, 0, sizeof src);
    int rc = dm_source_add_dir(&src, dir, NULL);
    if (rc != DBMGMT_OK)
        return rc;
    dm_buf b = DM_BUF_INIT;
    dm_buf_printf(&b, "/* Generated by `dbmgmt embed` from %s: do not edit (the checksums would\n"
                      " * no longer match). %zu migration%s. */\n#include <dbmgmt.h>\n\n"
                      "const dbmgmt_migration_def %s[] = {\n",
                  dir, src.count, src.count == 1 ? "" : "s", symbol);
    for (size_t i = 0; i < src.count; i++) {
        /* the table's SQL is normalised (LF line ends, no BOM) like its checksum */
        embed_entry(&b, &src.items[i]);
    }
    dm_buf_puts(&b, "    {0, 0, NULL, NULL, NULL, NULL, NULL, NULL}\n};\n");
    dm_source_clear(&src);
    *out = dm_buf_detach(&b);
    return *out ? DBMGMT_OK : dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory");
}
