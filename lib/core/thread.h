/*
 * The library's own threads and signals (issue 17). A pool's, a backup
 * scheduler's and the boot's folder reader are started with every
 * asynchronous signal blocked, so a signal sent to the process (SIGTERM,
 * SIGUSR1, ...) always reaches one of the host's threads and never runs the
 * host's handler on ours. Where a library thread runs the host's code that
 * may start processes (a backup hook) or starts one itself (pg_dump), the
 * signal mask of the host thread that started it is put back for that code
 * or that child: a child must not inherit our blocked mask.
 */
#ifndef DM_CORE_THREAD_H
#define DM_CORE_THREAD_H

#include <pthread.h>
#include <signal.h>

/* What a new thread starts from: kept by the caller (in the object that
 * owns the thread) until the thread has started, so starting one never
 * allocates. */
typedef struct dm_thread_start {
    void *(*fn)(void *);
    void *arg;
    sigset_t host;
} dm_thread_start;

/* pthread_create, the new thread starting with every asynchronous signal
 * blocked (the synchronous ones, a fault's, stay open) and remembering the
 * calling thread's mask as its host's. Returns pthread_create's result. */
int dm_thread_create(pthread_t *thread, const pthread_attr_t *attr, dm_thread_start *start,
                     void *(*fn)(void *), void *arg);

/* The signal mask of the host thread that started the calling library
 * thread; on a host's own thread, its current mask. */
void dm_thread_host_mask(sigset_t *out);

/* Run fn(arg) with the host's mask in force on this thread, then block
 * again; on a host's thread, just fn(arg). */
int dm_thread_as_host(int (*fn)(void *), void *arg);

#endif
