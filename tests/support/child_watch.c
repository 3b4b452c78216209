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
#include <unistd.h>

#include <cmocka.h>

#define MAX_SECRETS 8

struct support_child_watch {
    pthread_t thread;
    atomic_int stop;
    const char *const *tools;
    int children_only, with_environ;
    support_secret secrets[MAX_SECRETS];
    size_t nsecrets;
    pthread_mutex_t mu;
    support_watch_result result;
    char data[65536];
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
    assert_int_equal(pthread_create(&w->thread, NULL, watch_main, w), 0);
    return w;
}

void support_child_watch_peek(support_child_watch *w, support_watch_result *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->result;
    pthread_mutex_unlock(&w->mu);
}

void support_child_watch_stop(support_child_watch *w, support_watch_result *out)
{
    atomic_store(&w->stop, 1);
    pthread_join(w->thread, NULL);
    *out = w->result;
    pthread_mutex_destroy(&w->mu);
    free(w);
}
