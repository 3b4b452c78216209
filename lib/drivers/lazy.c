/* Loading an engine's client library on first use (lazy.h). */
#include "lazy.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* dlopen + dlsym every symbol; on failure nothing is kept and why says so. */
static int lazy_resolve(dm_lazy_library *lib, char *why, size_t cap)
{
    /* RTLD_LOCAL: the library's symbols stay out of the global namespace,
     * as if the process had not loaded it (a host that links it itself
     * gets the same copy back from dlopen). */
    void *handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *e = dlerror();
        snprintf(why, cap, "%s", e ? e : "dlopen failed");
        return 0;
    }
    for (size_t i = 0; i < lib->nsymbols; i++) {
        dlerror();
        void *sym = dlsym(handle, lib->symbols[i].name);
        if (!sym) {
            snprintf(why, cap, "%s has no function %s (too old a version?)", lib->soname,
                     lib->symbols[i].name);
            dlclose(handle);
            return 0;
        }
        /* POSIX guarantees a function's address survives the round trip
         * through void *; memcpy keeps ISO C's pedantic mode quiet. */
        memcpy((char *)lib->table + lib->symbols[i].offset, &sym, sizeof sym);
    }
    return 1; /* the handle stays open for the life of the process */
}

int dm_lazy_load(dm_lazy_library *lib, dm_error *err)
{
    if (atomic_load_explicit(&lib->loaded, memory_order_acquire))
        return DBMGMT_OK;
    char why[512] = "";
    pthread_mutex_lock(&lib->mu);
    int ok = atomic_load_explicit(&lib->loaded, memory_order_relaxed) ||
             lazy_resolve(lib, why, sizeof why);
    if (ok)
        atomic_store_explicit(&lib->loaded, 1, memory_order_release);
    pthread_mutex_unlock(&lib->mu);
    if (ok)
        return DBMGMT_OK;
    /* not remembered: a library installed later is found on the next try */
    return dm_error_set(err, DBMGMT_ERR_UNSUPPORTED,
                        "cannot use a %s DSN: %s, %s, which this libdbmgmt loads on first use "
                        "(meson option %s), could not be loaded: %s",
                        lib->dsn_kind, lib->what, lib->soname, lib->build_option, why);
}
