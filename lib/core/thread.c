/* Library threads start with asynchronous signals blocked (thread.h). */
#include "thread.h"

/* Set in each library thread: its host's mask. */
static _Thread_local int have_host_mask;
static _Thread_local sigset_t host_mask;

static void *thread_main(void *p)
{
    dm_thread_start start = *(dm_thread_start *)p;
    host_mask = start.host;
    have_host_mask = 1;
    return start.fn(start.arg);
}

/* Every signal but those a fault raises in the thread that caused it. */
static void asynchronous_signals(sigset_t *set)
{
    sigfillset(set);
    static const int synchronous[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};
    for (size_t i = 0; i < sizeof synchronous / sizeof synchronous[0]; i++)
        sigdelset(set, synchronous[i]);
}

int dm_thread_create(pthread_t *thread, const pthread_attr_t *attr, dm_thread_start *start,
                     void *(*fn)(void *), void *arg)
{
    start->fn = fn;
    start->arg = arg;
    /* The new thread inherits the mask in force when it is created: block
     * here, create, and put the caller's mask back, so that there is no
     * moment at which the new thread could take a signal. */
    sigset_t block, previous;
    asynchronous_signals(&block);
    pthread_sigmask(SIG_BLOCK, &block, &previous);
    start->host = have_host_mask ? host_mask : previous; /* from a library thread: its host */
    int rc = pthread_create(thread, attr, thread_main, start);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    return rc;
}

void dm_thread_host_mask(sigset_t *out)
{
    if (have_host_mask)
        *out = host_mask;
    else
        pthread_sigmask(SIG_SETMASK, NULL, out);
}

int dm_thread_as_host(int (*fn)(void *), void *arg)
{
    if (!have_host_mask)
        return fn(arg);
    sigset_t ours;
    pthread_sigmask(SIG_SETMASK, &host_mask, &ours);
    int rc = fn(arg);
    pthread_sigmask(SIG_SETMASK, &ours, NULL);
    return rc;
}
