/*
 * Client libraries loaded on first use (docs/engines.md, "Client libraries
 * loaded on first use"). A process that only opens sqlite: DSNs never maps
 * libpq or MariaDB Connector/C and what they pull in (libssl, libcrypto,
 * Kerberos, LDAP, GnuTLS...): for a short-lived `dbmgmt up` that mapping
 * and relocating was a third of the run.
 *
 * A driver lists the functions it calls in a struct of pointers (typed with
 * __typeof__ from the library's own header, so the compiler checks every
 * call as before), describes the struct with a dm_lazy_symbol table, and
 * calls dm_lazy_load() before it first needs the library (its connect).
 * The struct is filled once per process, under a lock, and never changes
 * afterwards; the library is never unloaded (Connector/C and libpq keep
 * thread-local state and exit handlers).
 */
#ifndef DM_DRIVERS_LAZY_H
#define DM_DRIVERS_LAZY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "core/error.h"

typedef struct dm_lazy_symbol {
    const char *name;
    size_t offset; /* of its pointer in the driver's function table */
} dm_lazy_symbol;

typedef struct dm_lazy_library {
    const char *soname;           /* what dlopen is given: "libpq.so.5" */
    const char *what;             /* "the PostgreSQL client library (libpq)" */
    const char *dsn_kind;         /* "postgres://" */
    const char *build_option;     /* "-Dpostgres" */
    const dm_lazy_symbol *symbols;
    size_t nsymbols;
    void *table;                  /* the driver's function table */
    atomic_int loaded;
    pthread_mutex_t mu;
} dm_lazy_library;

#define DM_LAZY_LIBRARY_INIT(soname, what, dsn_kind, option, symbols, table)                      \
    {soname, what, dsn_kind, option, symbols, sizeof(symbols) / sizeof((symbols)[0]), table, 0,   \
     PTHREAD_MUTEX_INITIALIZER}

/* Make sure lib is loaded and its table filled: DBMGMT_OK, or
 * DBMGMT_ERR_UNSUPPORTED with a message naming the library, the dynamic
 * loader's reason and the build option (err may be NULL). Thread-safe; the
 * first successful call does the work, later ones cost one atomic load. */
int dm_lazy_load(dm_lazy_library *lib, dm_error *err);

#endif
