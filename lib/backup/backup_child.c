/*
 * Running the engines' tools (pgbackrest, mariadb-backup, mariadb-binlog,
 * mariadbd): fork/exec with an explicit argv and environment, optionally as
 * another user (the owner of the server's data directory, when this process
 * is root), the host's signal mask, PR_SET_PDEATHSIG so a child dies with
 * the thread that started it, and stderr kept (the start of it) for the
 * error message with the password masked.
 *
 * Stderr goes to an unlinked temporary file rather than a pipe, so two
 * children joined by a pipe (mariadb-binlog | mariadb) can run at once
 * without either blocking on a full stderr pipe.
 */
#include "backup_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"

#define STDERR_KEEP 1536

char *dm_bk_find_exe(const char *name)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        if (len > 0) {
            char *dir = dm_strndup(path, len);
            char *full = dir ? dm_bk_path(dir, name) : NULL;
            dm_free(dir);
            if (full && access(full, X_OK) == 0)
                return full;
            dm_free(full);
        }
        path += len + (end ? 1 : 0);
    }
    return NULL;
}

void dm_bk_env_add(dm_bk_env *e, const char *key, const char *value)
{
    if (!value || e->failed)
        return;
    if (e->n == DM_BK_ENV_MAX) {
        e->failed = 1;
        return;
    }
    dm_buf b = DM_BUF_INIT;
    dm_buf_printf(&b, "%s=%s", key, value);
    char *s = dm_buf_detach(&b);
    if (!s) {
        e->failed = 1;
        return;
    }
    e->vars[e->n++] = s;
    e->vars[e->n] = NULL;
}

void dm_bk_env_base(dm_bk_env *e)
{
    const char *path = getenv("PATH");
    dm_bk_env_add(e, "PATH", path && *path ? path : "/usr/local/bin:/usr/sbin:/usr/bin:/bin");
    dm_bk_env_add(e, "HOME", getenv("HOME"));
    dm_bk_env_add(e, "TMPDIR", getenv("TMPDIR"));
    dm_bk_env_add(e, "LC_ALL", "C"); /* tools' messages in English, as ours */
}

void dm_bk_env_clear(dm_bk_env *e)
{
    for (size_t i = 0; i < e->n; i++) {
        /* a password may be in here (PGPASSWORD): wipe it before freeing */
        memset(e->vars[i], 0, strlen(e->vars[i]));
        dm_free(e->vars[i]);
    }
    memset(e, 0, sizeof *e);
}

/* In the child between fork and exec: async-signal-safe calls only. */
static void child_exec(const dm_bk_child *c, int err_fd, int null_fd, const sigset_t *mask)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    sigprocmask(SIG_SETMASK, mask, NULL); /* the host's, not our thread's */
    if (c->as_user && (setgroups(0, NULL) != 0 || setgid(c->gid) != 0 || setuid(c->uid) != 0))
        _exit(126);
    if (chdir("/") != 0 || dup2(c->in_fd >= 0 ? c->in_fd : null_fd, 0) < 0 ||
        dup2(c->out_fd >= 0 ? c->out_fd : null_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        _exit(126);
    execve(c->exe, c->argv, c->envp);
    _exit(127);
}

static int stderr_file(void)
{
    const char *tmp = getenv("TMPDIR");
    int fd = open(tmp && *tmp ? tmp : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        char name[] = "/tmp/dbmgmt-stderr-XXXXXX";
        fd = mkostemp(name, O_CLOEXEC);
        if (fd >= 0)
            unlink(name);
    }
    return fd;
}

int dm_bk_child_spawn(const dm_bk_child *c, dm_bk_proc *p, dm_error *err)
{
    p->pid = -1;
    p->err_fd = stderr_file();
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (p->err_fd < 0 || null_fd < 0) {
        int e = errno;
        if (p->err_fd >= 0)
            close(p->err_fd);
        if (null_fd >= 0)
            close(null_fd);
        p->err_fd = -1;
        return dm_error_set(err, DBMGMT_ERR_IO, "cannot run %s: %s", c->what, strerror(e));
    }
    sigset_t mask;
    dm_thread_host_mask(&mask);
    pid_t pid = fork();
    if (pid == 0)
        child_exec(c, p->err_fd, null_fd, &mask);
    int fork_errno = errno;
    close(null_fd);
    if (pid < 0) {
        close(p->err_fd);
        p->err_fd = -1;
        return dm_error_set(err, DBMGMT_ERR_IO, "cannot run %s: %s", c->what,
                            strerror(fork_errno));
    }
    p->pid = pid;
    return DBMGMT_OK;
}

/* The start of the child's stderr, one line, the secret masked. */
static void read_stderr(int fd, const char *secret, char *msg, size_t cap)
{
    ssize_t n = fd >= 0 ? pread(fd, msg, cap - 1, 0) : -1;
    msg[n > 0 ? (size_t)n : 0] = '\0';
    size_t len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        msg[--len] = '\0';
    for (char *q = msg; *q; q++)
        if (*q == '\n')
            *q = ' ';
    if (secret && *secret)
        dm_redact_secret(msg, cap, secret);
}

int dm_bk_child_wait(const dm_bk_child *c, dm_bk_proc *p, dm_error *err)
{
    int wstatus = 0;
    while (waitpid(p->pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    char msg[STDERR_KEEP + 1];
    read_stderr(p->err_fd, c->secret, msg, sizeof msg);
    if (p->err_fd >= 0)
        close(p->err_fd);
    p->err_fd = -1;
    p->pid = -1;
    if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
        return DBMGMT_OK;
    if (c->as_user && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 126 && !*msg)
        return dm_error_set(err, DBMGMT_ERR_IO, "%s: cannot switch to uid %ld", c->what,
                            (long)c->uid);
    if (WIFEXITED(wstatus))
        return dm_error_set(err, DBMGMT_ERR_IO, "%s failed (exit %d)%s%s", c->what,
                            WEXITSTATUS(wstatus), *msg ? ": " : "", msg);
    return dm_error_set(err, DBMGMT_ERR_IO, "%s killed by signal %d%s%s", c->what,
                        WTERMSIG(wstatus), *msg ? ": " : "", msg);
}

int dm_bk_child_run(const dm_bk_child *c, dm_error *err)
{
    dm_bk_proc p;
    int rc = dm_bk_child_spawn(c, &p, err);
    return rc == DBMGMT_OK ? dm_bk_child_wait(c, &p, err) : rc;
}
