/*
 * libdbmgmt — common definitions: status codes, errors, allocator, logger,
 * engines, version.
 *
 * Thread safety: every function here may be called from any thread, except
 * dbmgmt_set_allocator() and dbmgmt_set_logger(), which are process-wide
 * hooks to be set once, before the library is first used.
 */
#ifndef DBMGMT_COMMON_H
#define DBMGMT_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(DBMGMT_BUILDING_LIBRARY) && defined(__GNUC__)
#define DBMGMT_API __attribute__((visibility("default")))
#else
#define DBMGMT_API
#endif

#define DBMGMT_VERSION_MAJOR 0
#define DBMGMT_VERSION_MINOR 1
#define DBMGMT_VERSION_PATCH 0
#define DBMGMT_VERSION_STRING "0.1.0"

/*
 * Status codes. Every fallible call returns DBMGMT_OK (0) or one of these
 * negative values. A number is never reused for another meaning.
 */
typedef enum dbmgmt_status {
    DBMGMT_OK = 0,
    DBMGMT_ERR_INVALID = -1,      /* misuse: NULL handle, bad enum, bad argument */
    DBMGMT_ERR_NOMEM = -2,        /* an allocation failed */
    DBMGMT_ERR_IO = -3,           /* a file could not be read or written */
    DBMGMT_ERR_CONNECT = -4,      /* the database could not be opened or reached */
    DBMGMT_ERR_SQL = -5,          /* the engine rejected a statement */
    DBMGMT_ERR_TIMEOUT = -6,      /* a wait ran past its limit */
    DBMGMT_ERR_BUSY = -7,         /* the resource is in use (locked, or set too late) */
    DBMGMT_ERR_CHECKSUM = -8,     /* content does not match its recorded checksum */
    DBMGMT_ERR_DIRTY = -9,        /* a previous run left the database marked dirty */
    DBMGMT_ERR_POLICY = -10,      /* refused by a policy (environment, lint, ...) */
    DBMGMT_ERR_UNSUPPORTED = -11, /* not built in, or not possible on this engine */
    DBMGMT_ERR_NOTFOUND = -12,    /* no such version, file, column, ... */
    DBMGMT_ERR_CLOSED = -13,      /* the connection or object is closed or broken */
    DBMGMT_ERR_INTERNAL = -14,    /* a bug in libdbmgmt: please report it */
    DBMGMT_ERR_PARSE = -15,       /* input could not be parsed (DSN, SQL script, ...) */
    DBMGMT_ERR_READ_ONLY = -16    /* the server accepts no writes: a standby, or read-only */
} dbmgmt_status;

/* The symbolic name of a status ("DBMGMT_ERR_SQL"); "DBMGMT_UNKNOWN" for
 * values that are not statuses. The string is static. */
DBMGMT_API const char *dbmgmt_status_name(int status);

/*
 * The detail of the last failure on the calling thread. Every failing call,
 * whatever object it was made on, also records its message here (libgit2's
 * model); it is the only detail there is when a constructor fails. The
 * string belongs to the library and lives until the next failing call on
 * this thread. Never NULL: "" when no failure has been recorded.
 */
DBMGMT_API const char *dbmgmt_errmsg(void);
/* The status of the last failure on this thread (DBMGMT_OK if none). */
DBMGMT_API int dbmgmt_errcode(void);
/* The SQLSTATE (5 characters, "" if none) of the last failure on this
 * thread: the server's code when a statement failed, whatever object it was
 * run on (a pooled connection, the migrator's step, dbmgmt_migrate_on_boot).
 * Same lifetime as dbmgmt_errmsg(). Never NULL. Added for bindings, which
 * read a failure's detail right after the call, on the same thread. */
DBMGMT_API const char *dbmgmt_sqlstate(void);
/* Forget the last failure on this thread. */
DBMGMT_API void dbmgmt_error_clear(void);

/*
 * Process-wide allocator. Every allocation libdbmgmt itself makes goes
 * through these three functions. Must be called before any other libdbmgmt
 * call has allocated; later it returns DBMGMT_ERR_BUSY and changes nothing.
 * All three NULL restores the C library's allocator (same rule).
 * Allocations made inside the engines' client libraries (SQLite, libpq,
 * MariaDB Connector/C) are theirs and do not pass through this hook.
 */
typedef void *(*dbmgmt_malloc_fn)(size_t size);
typedef void *(*dbmgmt_realloc_fn)(void *ptr, size_t size);
typedef void (*dbmgmt_free_fn)(void *ptr);
DBMGMT_API int dbmgmt_set_allocator(dbmgmt_malloc_fn malloc_fn, dbmgmt_realloc_fn realloc_fn,
                                    dbmgmt_free_fn free_fn);

/* Frees a `char *` (or other memory) that a libdbmgmt call handed to the
 * caller. Accepts NULL. */
DBMGMT_API void dbmgmt_free(void *ptr);

/*
 * Logging. The library never writes to stdout or stderr; it reports through
 * this hook only. Messages are UTF-8 without a trailing newline, and any
 * password that could appear in them (DSN user-info, password=...) is
 * replaced by "***" before the hook sees it. The hook may be called from any
 * thread that uses the library, including its background threads.
 */
typedef enum dbmgmt_log_level {
    DBMGMT_LOG_DEBUG = 0,
    DBMGMT_LOG_INFO = 1,
    DBMGMT_LOG_WARN = 2,
    DBMGMT_LOG_ERROR = 3
} dbmgmt_log_level;

typedef void (*dbmgmt_log_fn)(void *userdata, dbmgmt_log_level level, const char *message);

/* Set (or, with fn NULL, remove) the logger. Messages below min_level are not
 * formatted at all. Returns DBMGMT_ERR_INVALID for a bad level. */
DBMGMT_API int dbmgmt_set_logger(dbmgmt_log_fn fn, void *userdata, dbmgmt_log_level min_level);

/* The engines libdbmgmt speaks. */
typedef enum dbmgmt_engine {
    DBMGMT_ENGINE_NONE = 0,
    DBMGMT_ENGINE_SQLITE = 1,
    DBMGMT_ENGINE_POSTGRES = 2,
    DBMGMT_ENGINE_MYSQL = 3
} dbmgmt_engine;

/* "sqlite", "postgres", "mysql"; NULL for anything else. Static string. */
DBMGMT_API const char *dbmgmt_engine_name(dbmgmt_engine engine);
/* 1 if this build of the library has a driver for the engine, else 0. */
DBMGMT_API int dbmgmt_engine_available(dbmgmt_engine engine);

/*
 * The DSN with any password replaced by "***", for showing to people
 * (`postgres://app:***@db:5432/app`). NULL dsn means getenv("DATABASE_URL").
 * Returns a string the caller frees with dbmgmt_free(), or NULL on failure
 * (malformed DSN: DBMGMT_ERR_PARSE; detail in dbmgmt_errmsg()).
 */
DBMGMT_API char *dbmgmt_dsn_redact(const char *dsn);

/* The run-time version, "MAJOR.MINOR.PATCH". Static string. */
DBMGMT_API const char *dbmgmt_version(void);
/* MAJOR*10000 + MINOR*100 + PATCH of the library actually loaded. */
DBMGMT_API int32_t dbmgmt_version_number(void);

#ifdef __cplusplus
}
#endif
#endif /* DBMGMT_COMMON_H */
