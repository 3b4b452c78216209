/* The __wrap_ functions of the heap-and-threads test (libc_guard.h). */
#include "libc_guard.h"

#include <dirent.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_int armed;

/* One counter per wrapped function, in the order of the table below. */
enum {
    W_MALLOC, W_CALLOC, W_REALLOC, W_REALLOCARRAY, W_FREE, W_STRDUP, W_STRNDUP,
    W_ALIGNED_ALLOC, W_POSIX_MEMALIGN, W_VASPRINTF, W_ASPRINTF, W_GETLINE, W_GETDELIM,
    W_OPEN_MEMSTREAM, W_REALPATH, W_SCANDIR,
    W_OPENDIR, W_FDOPENDIR, W_FOPEN, W_FDOPEN, W_POPEN, W_TMPFILE, W_QSORT, W_STRERROR,
    W_GETADDRINFO, W_LOCALTIME, W_LOCALTIME_R, W_MKTIME, W_TZSET,
    W_PTHREAD_CREATE,
    W_COUNT
};

static const struct {
    const char *name;
    guard_group group;
} wrapped[W_COUNT] = {
    {"malloc", GUARD_LIBC_ALLOCATOR}, {"calloc", GUARD_LIBC_ALLOCATOR},
    {"realloc", GUARD_LIBC_ALLOCATOR}, {"reallocarray", GUARD_LIBC_ALLOCATOR},
    {"free", GUARD_LIBC_ALLOCATOR}, {"strdup", GUARD_LIBC_ALLOCATOR},
    {"strndup", GUARD_LIBC_ALLOCATOR}, {"aligned_alloc", GUARD_LIBC_ALLOCATOR},
    {"posix_memalign", GUARD_LIBC_ALLOCATOR}, {"vasprintf", GUARD_LIBC_ALLOCATOR},
    {"asprintf", GUARD_LIBC_ALLOCATOR}, {"getline", GUARD_LIBC_ALLOCATOR},
    {"getdelim", GUARD_LIBC_ALLOCATOR}, {"open_memstream", GUARD_LIBC_ALLOCATOR},
    {"realpath", GUARD_LIBC_ALLOCATOR}, {"scandir", GUARD_LIBC_ALLOCATOR},
    {"opendir", GUARD_ALLOCATES_INSIDE}, {"fdopendir", GUARD_ALLOCATES_INSIDE},
    {"fopen", GUARD_ALLOCATES_INSIDE}, {"fdopen", GUARD_ALLOCATES_INSIDE},
    {"popen", GUARD_ALLOCATES_INSIDE}, {"tmpfile", GUARD_ALLOCATES_INSIDE},
    {"qsort", GUARD_ALLOCATES_INSIDE}, {"strerror", GUARD_ALLOCATES_INSIDE},
    {"getaddrinfo", GUARD_ALLOCATES_INSIDE}, {"localtime", GUARD_ALLOCATES_INSIDE},
    {"localtime_r", GUARD_ALLOCATES_INSIDE}, {"mktime", GUARD_ALLOCATES_INSIDE},
    {"tzset", GUARD_ALLOCATES_INSIDE},
    {"pthread_create", GUARD_THREAD},
};

static atomic_long calls[W_COUNT];

static void note(int which)
{
    if (atomic_load(&armed))
        atomic_fetch_add(&calls[which], 1);
}

void guard_arm(void)
{
    for (int i = 0; i < W_COUNT; i++)
        atomic_store(&calls[i], 0);
    atomic_store(&armed, 1);
}

void guard_disarm(void)
{
    atomic_store(&armed, 0);
}

long guard_calls(guard_group group)
{
    long n = 0;
    for (int i = 0; i < W_COUNT; i++)
        if (wrapped[i].group == group)
            n += atomic_load(&calls[i]);
    return n;
}

void guard_names(guard_group group, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < W_COUNT; i++) {
        if (wrapped[i].group != group || atomic_load(&calls[i]) == 0)
            continue;
        int n = snprintf(out + used, cap - used, "%s%s", used ? "," : "", wrapped[i].name);
        if (n < 0 || (size_t)n >= cap - used)
            return;
        used += (size_t)n;
    }
}

/* The real functions (ld's --wrap names them __real_X). */
void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *ptr, size_t size);
void *__real_reallocarray(void *ptr, size_t count, size_t size);
void __real_free(void *ptr);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__real_aligned_alloc(size_t align, size_t size);
int __real_posix_memalign(void **out, size_t align, size_t size);
int __real_vasprintf(char **out, const char *fmt, va_list ap);
ssize_t __real_getline(char **line, size_t *cap, FILE *f);
ssize_t __real_getdelim(char **line, size_t *cap, int delim, FILE *f);
FILE *__real_open_memstream(char **buf, size_t *size);
char *__real_realpath(const char *path, char *resolved);
int __real_scandir(const char *dir, struct dirent ***list,
                   int (*filter)(const struct dirent *),
                   int (*compar)(const struct dirent **, const struct dirent **));
DIR *__real_opendir(const char *name);
DIR *__real_fdopendir(int fd);
FILE *__real_fopen(const char *path, const char *mode);
FILE *__real_fdopen(int fd, const char *mode);
FILE *__real_popen(const char *command, const char *mode);
FILE *__real_tmpfile(void);
void __real_qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));
char *__real_strerror(int errnum);
int __real_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res);
struct tm *__real_localtime(const time_t *t);
struct tm *__real_localtime_r(const time_t *t, struct tm *out);
time_t __real_mktime(struct tm *tm);
void __real_tzset(void);
int __real_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                          void *(*fn)(void *), void *arg);

/* Declared here only: -Wmissing-prototypes wants a prototype for each. */
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t count, size_t size);
void *__wrap_realloc(void *ptr, size_t size);
void *__wrap_reallocarray(void *ptr, size_t count, size_t size);
void __wrap_free(void *ptr);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t size);
int __wrap_posix_memalign(void **out, size_t align, size_t size);
int __wrap_vasprintf(char **out, const char *fmt, va_list ap);
int __wrap_asprintf(char **out, const char *fmt, ...);
ssize_t __wrap_getline(char **line, size_t *cap, FILE *f);
ssize_t __wrap_getdelim(char **line, size_t *cap, int delim, FILE *f);
FILE *__wrap_open_memstream(char **buf, size_t *size);
char *__wrap_realpath(const char *path, char *resolved);
int __wrap_scandir(const char *dir, struct dirent ***list,
                   int (*filter)(const struct dirent *),
                   int (*compar)(const struct dirent **, const struct dirent **));
DIR *__wrap_opendir(const char *name);
DIR *__wrap_fdopendir(int fd);
FILE *__wrap_fopen(const char *path, const char *mode);
FILE *__wrap_fdopen(int fd, const char *mode);
FILE *__wrap_popen(const char *command, const char *mode);
FILE *__wrap_tmpfile(void);
void __wrap_qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));
char *__wrap_strerror(int errnum);
int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res);
struct tm *__wrap_localtime(const time_t *t);
struct tm *__wrap_localtime_r(const time_t *t, struct tm *out);
time_t __wrap_mktime(struct tm *tm);
void __wrap_tzset(void);
int __wrap_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                          void *(*fn)(void *), void *arg);

void *__wrap_malloc(size_t size) { note(W_MALLOC); return __real_malloc(size); }
void *__wrap_calloc(size_t count, size_t size)
{
    note(W_CALLOC);
    return __real_calloc(count, size);
}
void *__wrap_realloc(void *ptr, size_t size) { note(W_REALLOC); return __real_realloc(ptr, size); }
void *__wrap_reallocarray(void *ptr, size_t count, size_t size)
{
    note(W_REALLOCARRAY);
    return __real_reallocarray(ptr, count, size);
}
void __wrap_free(void *ptr) { note(W_FREE); __real_free(ptr); }
char *__wrap_strdup(const char *s) { note(W_STRDUP); return __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { note(W_STRNDUP); return __real_strndup(s, n); }
void *__wrap_aligned_alloc(size_t align, size_t size)
{
    note(W_ALIGNED_ALLOC);
    return __real_aligned_alloc(align, size);
}
int __wrap_posix_memalign(void **out, size_t align, size_t size)
{
    note(W_POSIX_MEMALIGN);
    return __real_posix_memalign(out, align, size);
}
int __wrap_vasprintf(char **out, const char *fmt, va_list ap)
{
    note(W_VASPRINTF);
    return __real_vasprintf(out, fmt, ap);
}
int __wrap_asprintf(char **out, const char *fmt, ...)
{
    note(W_ASPRINTF);
    va_list ap;
    va_start(ap, fmt);
    int rc = __real_vasprintf(out, fmt, ap);
    va_end(ap);
    return rc;
}
ssize_t __wrap_getline(char **line, size_t *cap, FILE *f)
{
    note(W_GETLINE);
    return __real_getline(line, cap, f);
}
ssize_t __wrap_getdelim(char **line, size_t *cap, int delim, FILE *f)
{
    note(W_GETDELIM);
    return __real_getdelim(line, cap, delim, f);
}
FILE *__wrap_open_memstream(char **buf, size_t *size)
{
    note(W_OPEN_MEMSTREAM);
    return __real_open_memstream(buf, size);
}
char *__wrap_realpath(const char *path, char *resolved)
{
    note(W_REALPATH);
    return __real_realpath(path, resolved);
}
int __wrap_scandir(const char *dir, struct dirent ***list,
                   int (*filter)(const struct dirent *),
                   int (*compar)(const struct dirent **, const struct dirent **))
{
    note(W_SCANDIR);
    return __real_scandir(dir, list, filter, compar);
}
DIR *__wrap_opendir(const char *name) { note(W_OPENDIR); return __real_opendir(name); }
DIR *__wrap_fdopendir(int fd) { note(W_FDOPENDIR); return __real_fdopendir(fd); }
FILE *__wrap_fopen(const char *path, const char *mode)
{
    note(W_FOPEN);
    return __real_fopen(path, mode);
}
FILE *__wrap_fdopen(int fd, const char *mode) { note(W_FDOPEN); return __real_fdopen(fd, mode); }
FILE *__wrap_popen(const char *command, const char *mode)
{
    note(W_POPEN);
    return __real_popen(command, mode);
}
FILE *__wrap_tmpfile(void) { note(W_TMPFILE); return __real_tmpfile(); }
void __wrap_qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    note(W_QSORT);
    __real_qsort(base, n, size, cmp);
}
char *__wrap_strerror(int errnum) { note(W_STRERROR); return __real_strerror(errnum); }
int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res)
{
    note(W_GETADDRINFO);
    return __real_getaddrinfo(node, service, hints, res);
}
struct tm *__wrap_localtime(const time_t *t) { note(W_LOCALTIME); return __real_localtime(t); }
struct tm *__wrap_localtime_r(const time_t *t, struct tm *out)
{
    note(W_LOCALTIME_R);
    return __real_localtime_r(t, out);
}
time_t __wrap_mktime(struct tm *tm) { note(W_MKTIME); return __real_mktime(tm); }
void __wrap_tzset(void) { note(W_TZSET); __real_tzset(); }
int __wrap_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                          void *(*fn)(void *), void *arg)
{
    note(W_PTHREAD_CREATE);
    return __real_pthread_create(thread, attr, fn, arg);
}

void *guard_real_malloc(size_t size) { return __real_malloc(size); }
void *guard_real_realloc(void *ptr, size_t size) { return __real_realloc(ptr, size); }
void guard_real_free(void *ptr) { __real_free(ptr); }

int guard_thread_count(void)
{
    int was_armed = atomic_exchange(&armed, 0); /* the test's own opendir */
    DIR *d = __real_opendir("/proc/self/task");
    int n = -1;
    if (d) {
        n = 0;
        for (struct dirent *e = readdir(d); e; e = readdir(d))
            n += e->d_name[0] != '.';
        closedir(d);
    }
    atomic_store(&armed, was_armed);
    return n;
}
