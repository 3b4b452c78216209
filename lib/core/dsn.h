/*
 * DSN parsing (DESIGN §3). A dm_dsn owns all its strings. Parse errors are
 * DBMGMT_ERR_PARSE with a message that quotes the DSN redacted, never the
 * password.
 */
#ifndef DM_CORE_DSN_H
#define DM_CORE_DSN_H

#include <stddef.h>
#include "error.h"

typedef struct dm_dsn_param {
    char *key;
    char *value;
} dm_dsn_param;

typedef struct dm_dsn {
    dbmgmt_engine engine;
    int keyword_form;   /* a libpq "host=... dbname=..." string (PostgreSQL) */
    char *raw;          /* the DSN as given (contains the password: never log it) */
    char *user;         /* percent-decoded; NULL if absent */
    char *password;     /* percent-decoded; NULL if absent */
    char *host;         /* NULL if absent; IPv6 without brackets */
    int port;           /* 0 if absent */
    char *database;     /* network engines: database name (NULL if absent); SQLite: path or ":memory:" */
    dm_dsn_param *params;
    size_t nparams;
    size_t password_at;  /* byte offset of the URL password in raw (if password) */
    size_t password_len; /* its length in raw, still percent-encoded */
} dm_dsn;

/* dsn NULL -> DATABASE_URL. On failure *out is NULL and err/thread hold why. */
int dm_dsn_parse(const char *dsn, dm_dsn **out, dm_error *err);
void dm_dsn_free(dm_dsn *d);
/* The value of a query parameter, or NULL. */
const char *dm_dsn_param_get(const dm_dsn *d, const char *key);
/* Rendering with the password replaced by "***"; caller frees with dm_free. */
char *dm_dsn_render_redacted(const dm_dsn *d);

#endif
