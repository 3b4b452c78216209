/* Test support: the child-process watch of child_watch.h. */
#include "child_watch.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define MAX_SECRETS 8
#define MAX_TOOLS 16
/* Ends each wrapped run's record in the log. */
#define RUN_MARK "\n\036dbmgmt-watch-run\036\n"

struct support_child_watch {
    pthread_t thread;
    atomic_int stop;
    const char *const *tools;
    int children_only, with_environ;
    support_secret secrets[MAX_SECRETS];
    size_t nsecrets;
    pthread_mutex_t mu;
    support_watch_result result; /* what the sampling saw */
    char data[65536];
    char wrap_dir[64], log[96];
    char *wrappers[MAX_TOOLS];
    char *old_path;
};

static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n >= 0)
        buf[n] = '\0';
    return n;
}

static int is_tool(const support_child_watch *w, const char *comm)
{
    for (size_t i = 0; w->tools[i]; i++)
        if (strcmp(comm, w->tools[i]) == 0)
            return 1;
    return 0;
}

static int parent_is_us(const char *pid)
{
    char path[64], stat[512];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    if (read_small(path, stat, sizeof stat) <= 0)
        return 0;
    const char *close_paren = strrchr(stat, ')');
    int ppid = 0;
    char st;
    return close_paren && sscanf(close_paren + 1, " %c %d", &st, &ppid) == 2 &&
           ppid == getpid();
}

static int has_secret(const support_child_watch *w, size_t n)
{
    for (size_t i = 0; i < w->nsecrets; i++)
        if (memmem(w->data, n, w->secrets[i].data, w->secrets[i].len))
            return 1;
    return 0;
}

static void inspect(support_child_watch *w, const char *pid)
{
    char path[64], comm[64];
    if (w->children_only && !parent_is_us(pid))
        return;
    snprintf(path, sizeof path, "/proc/%s/comm", pid);
    if (read_small(path, comm, sizeof comm) <= 0)
        return;
    comm[strcspn(comm, "\n")] = '\0';
    if (!is_tool(w, comm))
        return;
    static const char *const what[] = {"cmdline", "environ"};
    for (int i = 0; i < (w->with_environ ? 2 : 1); i++) {
        snprintf(path, sizeof path, "/proc/%s/%s", pid, what[i]);
        ssize_t n = read_small(path, w->data, sizeof w->data);
        if (n <= 0)
            continue;
        int leak = has_secret(w, (size_t)n);
        pthread_mutex_lock(&w->mu);
        if (i == 0)
            w->result.seen++;
        if (leak) {
            w->result.leaks++;
            snprintf(w->result.leaked, sizeof w->result.leaked, "%s's %s", comm, what[i]);
        }
        pthread_mutex_unlock(&w->mu);
    }
}

static void *watch_main(void *arg)
{
    support_child_watch *w = arg;
    while (!atomic_load(&w->stop)) {
        DIR *d = opendir("/proc");
        struct dirent *ent;
        while (d && (ent = readdir(d)) != NULL)
            if (ent->d_name[0] >= '1' && ent->d_name[0] <= '9')
                inspect(w, ent->d_name);
        if (d)
            closedir(d);
        usleep(200);
    }
    return NULL;
}

/* ---- the wrappers on PATH ---------------------------------------------------- */

/* The tool's file on PATH (before the wrappers go first), or NULL. */
static char *on_path(const char *tool)
{
    const char *path = getenv("PATH");
    while (path && *path) {
        size_t len = strcspn(path, ":");
        char full[1024];
        if (len > 0 && (size_t)snprintf(full, sizeof full, "%.*s/%s", (int)len, path, tool) <
                           sizeof full && access(full, X_OK) == 0)
            return strdup(full);
        path += len + (path[len] == ':');
    }
    return NULL;
}

static void write_wrapper(support_child_watch *w, size_t i, const char *tool, const char *real)
{
    assert_null(strchr(real, '\''));
    char path[160];
    snprintf(path, sizeof path, "%s/%s", w->wrap_dir, tool);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n/bin/cat /proc/$$/cmdline%s >> '%s'\n",
            w->with_environ ? " /proc/$$/environ" : "", w->log);
    fprintf(f, "printf '\\n\\036dbmgmt-watch-run\\036\\n' >> '%s'\n", w->log);
    fprintf(f, "exec '%s' \"$@\"\n", real);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, 0755), 0);
    w->wrappers[i] = strdup(path);
}

/* A folder of wrappers first on PATH; the log writable by a tool run as
 * another user (pgBackRest as the data directory's owner). */
static void wrap_start(support_child_watch *w)
{
    snprintf(w->wrap_dir, sizeof w->wrap_dir, "/tmp/dbmgmt-watch-XXXXXX");
    assert_non_null(mkdtemp(w->wrap_dir));
    assert_int_equal(chmod(w->wrap_dir, 0755), 0);
    snprintf(w->log, sizeof w->log, "%s/runs.log", w->wrap_dir);
    int fd = open(w->log, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, 0666), 0);
    close(fd);
    for (size_t i = 0; w->tools[i]; i++) {
        assert_true(i < MAX_TOOLS);
        char *real = on_path(w->tools[i]);
        if (real)
            write_wrapper(w, i, w->tools[i], real);
        free(real);
    }
    const char *path = getenv("PATH");
    w->old_path = path ? strdup(path) : NULL;
    size_t cap = strlen(w->wrap_dir) + (path ? strlen(path) : 0) + 2;
    char *next = malloc(cap);
    if (!next)
        abort(); /* out of memory in a test */
    snprintf(next, cap, "%s%s%s", w->wrap_dir, path ? ":" : "", path ? path : "");
    assert_int_equal(setenv("PATH", next, 1), 0);
    free(next);
}

/* The log's records: one a wrapped run, its command line (and environment)
 * NUL-separated; out gets their count and leaks added. */
static void wrap_read(support_child_watch *w, support_watch_result *out)
{
    FILE *f = fopen(w->log, "rb");
    assert_non_null(f);
    size_t cap = 65536, n = 0;
    char *all = malloc(cap);
    if (!all)
        abort();
    size_t got;
    while ((got = fread(all + n, 1, cap - n, f)) > 0)
        if ((n += got) == cap) {
            if (!(all = realloc(all, cap *= 2)))
                abort();
        }
    fclose(f);
    const size_t mark_len = strlen(RUN_MARK);
    for (char *rec = all, *end; rec < all + n; rec = end + mark_len) {
        end = memmem(rec, (size_t)(all + n - rec), RUN_MARK, mark_len);
        if (!end)
            break; /* a run still writing its record */
        out->seen++;
        out->wrapped++;
        for (size_t i = 0; i < w->nsecrets; i++)
            if (memmem(rec, (size_t)(end - rec), w->secrets[i].data, w->secrets[i].len)) {
                const char *script = rec + strnlen(rec, (size_t)(end - rec)) + 1;
                const char *base = script < end ? strrchr(script, '/') : NULL;
                out->leaks++;
                snprintf(out->leaked, sizeof out->leaked, "%s's cmdline or environ (wrapped)",
                         base ? base + 1 : "a tool");
                break;
            }
    }
    free(all);
}

static void wrap_stop(support_child_watch *w)
{
    if (w->old_path)
        assert_int_equal(setenv("PATH", w->old_path, 1), 0);
    else
        unsetenv("PATH");
    free(w->old_path);
    for (size_t i = 0; i < MAX_TOOLS; i++)
        if (w->wrappers[i]) {
            unlink(w->wrappers[i]);
            free(w->wrappers[i]);
        }
    unlink(w->log);
    rmdir(w->wrap_dir);
}

/* ---- the watch ------------------------------------------------------------------ */

support_child_watch *support_child_watch_start(const char *const *tools, int children_only,
                                               int with_environ, const support_secret *secrets,
                                               size_t nsecrets)
{
    support_child_watch *w = calloc(1, sizeof *w);
    assert_non_null(w);
    assert_true(nsecrets <= MAX_SECRETS);
    w->tools = tools;
    w->children_only = children_only;
    w->with_environ = with_environ;
    memcpy(w->secrets, secrets, nsecrets * sizeof *secrets);
    w->nsecrets = nsecrets;
    pthread_mutex_init(&w->mu, NULL);
    wrap_start(w);
    assert_int_equal(pthread_create(&w->thread, NULL, watch_main, w), 0);
    return w;
}

void support_child_watch_peek(support_child_watch *w, support_watch_result *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->result;
    pthread_mutex_unlock(&w->mu);
    wrap_read(w, out);
}

void support_child_watch_stop(support_child_watch *w, support_watch_result *out)
{
    atomic_store(&w->stop, 1);
    pthread_join(w->thread, NULL);
    *out = w->result;
    wrap_read(w, out);
    wrap_stop(w);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
