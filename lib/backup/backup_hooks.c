/*
 * The host's hooks (DESIGN §7; docs/backup.md, "Alerts"): their
 * registration, how the scheduler calls them, and alerts, which go to the
 * logger and the ALERT hook.
 *
 * Hooks run under the object's mutex, on the calling thread (the host's or
 * the backup thread), and with the host's signal mask.
 */
#include "backup_impl.h"

#include <stdarg.h>
#include <stdio.h>

#include "core/log.h"

/* ---- calls and alerts ---------------------------------------------------------- */

typedef struct hook_call {
    dm_bk_hook h;
    dbmgmt_hook which;
    const char *id, *path, *detail;
} hook_call;

static int hook_call_run(void *arg)
{
    hook_call *c = arg;
    return c->h.fn(c->h.userdata, c->which, c->id, c->path, c->detail);
}

/* The host's hook runs with the host's signal mask, even on the backup
 * thread: what it starts (an upload tool, say) must not inherit ours. */
int dm_bk_call_hook(dbmgmt_backup *b, dbmgmt_hook which, const char *id, const char *path,
                    const char *detail)
{
    hook_call c = {b->hooks[which], which, id, path, detail};
    return c.h.fn ? dm_thread_as_host(hook_call_run, &c) : 0;
}

void dm_bk_alert(dbmgmt_backup *b, const char *id, const char *path, const char *fmt, ...)
{
    char detail[DM_ERRMSG_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    dm_redact(detail, sizeof detail);
    if (b->dsn->password && *b->dsn->password)
        dm_redact_secret(detail, sizeof detail, b->dsn->password);
    dm_log(DBMGMT_LOG_ERROR, "backup alert: %s", detail);
    dm_bk_call_hook(b, DBMGMT_HOOK_ALERT, id, path, detail);
}

/* Record a failure on the object and count it. */
int dm_bk_failed(dbmgmt_backup *b, int code)
{
    b->failures++;
    return code;
}

/* ---- registration -------------------------------------------------------------- */

DBMGMT_API int dbmgmt_backup_set_hook(dbmgmt_backup *b, dbmgmt_hook hook,
                                      dbmgmt_backup_hook_fn fn, void *userdata)
{
    if (!b)
        return dm_error_invalid("dbmgmt_backup_set_hook", "b is NULL");
    if ((int)hook < DBMGMT_HOOK_BACKUP || (int)hook > DBMGMT_HOOK_ALERT)
        return dm_error_invalid("dbmgmt_backup_set_hook", "hook must be DBMGMT_HOOK_BACKUP..ALERT");
    dm_bk_lock(b);
    b->hooks[hook] = (dm_bk_hook){fn, userdata};
    dm_bk_unlock(b);
    return DBMGMT_OK;
}
