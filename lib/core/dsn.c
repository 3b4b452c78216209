/* DSN parsing: the URL forms of DESIGN §3 and libpq keyword strings. */
#include "dsn.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "log.h"

/* Parsing state: the DSN, its redacted form for messages, and the result. */
typedef struct dsn_parser {
    const char *raw;
    char shown[512]; /* the DSN as messages quote it: redacted, maybe shortened */
    dm_error *err;
    dm_dsn *dsn;
} dsn_parser;

static int dsn_fail_nomem(dsn_parser *p)
{
    return dm_error_set(p->err, DBMGMT_ERR_NOMEM, "out of memory while parsing a DSN");
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0,len) into a new string (*out). */
static int percent_decode(dsn_parser *p, const char *s, size_t len, const char *what, char **out)
{
    char *d = dm_malloc(len + 1);
    if (!d)
        return dsn_fail_nomem(p);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%') {
            d[n++] = s[i];
            continue;
        }
        int hi = i + 1 < len ? hex_value(s[i + 1]) : -1;
        int lo = i + 2 < len ? hex_value(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
            dm_free(d);
            return dm_error_set(p->err, DBMGMT_ERR_PARSE,
                                "bad percent-escape in the %s of DSN '%s' (expected %%XX with two "
                                "hex digits)", what, p->shown);
        }
        if (hi == 0 && lo == 0) {
            dm_free(d);
            return dm_error_set(p->err, DBMGMT_ERR_PARSE,
                                "the %s of DSN '%s' contains %%00 (a NUL byte)", what, p->shown);
        }
        d[n++] = (char)(hi * 16 + lo);
        i += 2;
    }
    d[n] = '\0';
    *out = d;
    return DBMGMT_OK;
}

static int dsn_add_param(dsn_parser *p, char *key, char *value)
{
    dm_dsn *d = p->dsn;
    for (size_t i = 0; i < d->nparams; i++) {
        if (strcmp(d->params[i].key, key) == 0) {
            int rc = dm_error_set(p->err, DBMGMT_ERR_PARSE,
                                  "parameter '%s' is given twice in DSN '%s'", key, p->shown);
            dm_free(key);
            dm_free(value);
            return rc;
        }
    }
    dm_dsn_param *grown = dm_realloc(d->params, (d->nparams + 1) * sizeof *grown);
    if (!grown) {
        dm_free(key);
        dm_free(value);
        return dsn_fail_nomem(p);
    }
    d->params = grown;
    d->params[d->nparams].key = key;
    d->params[d->nparams].value = value;
    d->nparams++;
    return DBMGMT_OK;
}

/* "k=v&k2=v2" */
static int parse_query(dsn_parser *p, const char *q)
{
    while (*q) {
        size_t len = strcspn(q, "&");
        const char *eq = memchr(q, '=', len);
        if (len == 0) {
            q++;
            continue;
        }
        if (!eq) {
            int shown_len = (int)(len > 64 ? 64 : len);
            return dm_error_set(p->err, DBMGMT_ERR_PARSE,
                                "parameter '%.*s' of DSN '%s' has no value (expected name=value)",
                                shown_len, q, p->shown);
        }
        if (eq == q)
            return dm_error_set(p->err, DBMGMT_ERR_PARSE,
                                "a parameter of DSN '%s' has an empty name", p->shown);
        char *key = NULL, *value = NULL;
        int rc = percent_decode(p, q, (size_t)(eq - q), "parameters", &key);
        if (rc == DBMGMT_OK)
            rc = percent_decode(p, eq + 1, len - (size_t)(eq - q) - 1, "parameters", &value);
        if (rc != DBMGMT_OK) {
            dm_free(key);
            return rc;
        }
        rc = dsn_add_param(p, key, value);
        if (rc != DBMGMT_OK)
            return rc;
        q += len;
    }
    return DBMGMT_OK;
}

static int parse_int_range(const char *s, size_t len, long lo, long hi, long *out)
{
    if (len == 0 || len > 10)
        return 0;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

static int check_sqlite_params(dsn_parser *p)
{
    for (size_t i = 0; i < p->dsn->nparams; i++) {
        const dm_dsn_param *pr = &p->dsn->params[i];
        long ms;
        if (strcmp(pr->key, "mode") == 0) {
            if (strcmp(pr->value, "ro") && strcmp(pr->value, "rw") && strcmp(pr->value, "rwc") &&
                strcmp(pr->value, "memory"))
                return dm_error_set(p->err, DBMGMT_ERR_PARSE,
                                    "sqlite DSN '%s': mode='%s' is not one of ro, rw, rwc, memory",
                                    p->shown, pr->value);
        } else if (strcmp(pr->key, "busy_timeout") == 0) {
            if (!parse_int_range(pr->value, strlen(pr->value), 0, 2147483647L, &ms))
                return dm_error_set(p->err, DBMGMT_ERR_PARSE,
                                    "sqlite DSN '%s': busy_timeout='%s' is not a number of "
                                    "milliseconds from 0 to 2147483647", p->shown, pr->value);
        } else {
            return dm_error_set(p->err, DBMGMT_ERR_PARSE,
                                "sqlite DSN '%s': unknown parameter '%s' (known: mode, "
                                "busy_timeout)", p->shown, pr->key);
        }
    }
    return DBMGMT_OK;
}

/* After "sqlite:": "///abs/path", "/abs/path", "relative", ":memory:". */
static int parse_sqlite(dsn_parser *p, const char *rest)
{
    const char *query = strchr(rest, '?');
    size_t path_len = query ? (size_t)(query - rest) : strlen(rest);
    const char *path = rest;
    if (path_len >= 2 && path[0] == '/' && path[1] == '/') {
        const char *slash = memchr(path + 2, '/', path_len - 2);
        size_t host_len = slash ? (size_t)(slash - path - 2) : path_len - 2;
        if (host_len > 0)
            return dm_error_set(p->err, DBMGMT_ERR_PARSE,
                                "sqlite DSN '%s' names a host ('%.*s'); use sqlite:///absolute/"
                                "path.db or sqlite:relative/path.db", p->shown, (int)host_len,
                                path + 2);
        path += 2;
        path_len -= 2;
    }
    if (path_len == 0)
        return dm_error_set(p->err, DBMGMT_ERR_PARSE,
                            "sqlite DSN '%s' has no file path (use sqlite:app.db, "
                            "sqlite:///abs/app.db or sqlite::memory:)", p->shown);
    int rc = percent_decode(p, path, path_len, "path", &p->dsn->database);
    if (rc == DBMGMT_OK && query)
        rc = parse_query(p, query + 1);
    if (rc == DBMGMT_OK)
        rc = check_sqlite_params(p);
    return rc;
}

static int parse_host_port(dsn_parser *p, const char *hp, size_t len)
{
    dm_dsn *d = p->dsn;
    const char *port = NULL;
    size_t host_len = len;
    const char *host = hp;
    if (memchr(hp, ',', len)) /* libpq multi-host list: kept whole for libpq */
        return percent_decode(p, hp, len, "host list", &d->host);
    if (len && hp[0] == '[') {
        const char *close = memchr(hp, ']', len);
        if (!close)
            return dm_error_set(p->err, DBMGMT_ERR_PARSE,
                                "DSN '%s' has an IPv6 host without its closing ']'", p->shown);
        host = hp + 1;
        host_len = (size_t)(close - hp - 1);
        size_t after = (size_t)(close - hp + 1);
        if (after < len) {
            if (hp[after] != ':')
                return dm_error_set(p->err, DBMGMT_ERR_PARSE,
                                    "DSN '%s' has text after the IPv6 host's ']'", p->shown);
            port = hp + after + 1;
        }
    } else {
        const char *colon = memchr(hp, ':', len);
        if (colon) {
            host_len = (size_t)(colon - hp);
            port = colon + 1;
        }
    }
    if (port) {
        size_t port_len = len - (size_t)(port - hp);
        long v;
        if (!parse_int_range(port, port_len, 1, 65535, &v))
            return dm_error_set(p->err, DBMGMT_ERR_PARSE,
                                "port '%.*s' in DSN '%s' is not a number from 1 to 65535",
                                (int)(port_len > 32 ? 32 : port_len), port, p->shown);
        d->port = (int)v;
    }
    if (host_len)
        return percent_decode(p, host, host_len, "host", &d->host);
    return DBMGMT_OK;
}

static int parse_userinfo(dsn_parser *p, const char *ui, size_t len)
{
    dm_dsn *d = p->dsn;
    const char *colon = memchr(ui, ':', len);
    size_t user_len = colon ? (size_t)(colon - ui) : len;
    int rc = DBMGMT_OK;
    if (user_len)
        rc = percent_decode(p, ui, user_len, "user name", &d->user);
    if (rc == DBMGMT_OK && colon) {
        d->password_at = (size_t)(colon + 1 - p->raw);
        d->password_len = len - user_len - 1;
        rc = percent_decode(p, colon + 1, d->password_len, "password", &d->password);
    }
    return rc;
}

/* After "scheme:" for postgres/mysql: "//[user[:pw]@]host[:port][/db][?params]". */
static int parse_network(dsn_parser *p, const char *scheme, const char *rest)
{
    dm_dsn *d = p->dsn;
    if (strncmp(rest, "//", 2) != 0)
        return dm_error_set(p->err, DBMGMT_ERR_PARSE,
                            "DSN '%s' must start with %s:// (for example %s://user@host:port/db)",
                            p->shown, scheme, scheme);
    const char *auth = rest + 2;
    size_t auth_len = strcspn(auth, "/?#");
    if (auth[auth_len] == '#')
        return dm_error_set(p->err, DBMGMT_ERR_PARSE,
                            "DSN '%s' has a '#' fragment; percent-encode '#' as %%23", p->shown);
    const char *at = NULL;
    for (size_t i = auth_len; i > 0; i--)
        if (auth[i - 1] == '@') {
            at = auth + i - 1;
            break;
        }
    int rc = DBMGMT_OK;
    const char *hp = auth;
    if (at) {
        rc = parse_userinfo(p, auth, (size_t)(at - auth));
        hp = at + 1;
    }
    if (rc == DBMGMT_OK)
        rc = parse_host_port(p, hp, auth_len - (size_t)(hp - auth));
    if (rc != DBMGMT_OK)
        return rc;
    const char *path = auth + auth_len;
    if (*path == '/') {
        size_t db_len = strcspn(path + 1, "?#");
        if (memchr(path + 1, '/', db_len))
            return dm_error_set(p->err, DBMGMT_ERR_PARSE,
                                "database name '%.*s' in DSN '%s' contains '/'", (int)db_len,
                                path + 1, p->shown);
        if (db_len)
            rc = percent_decode(p, path + 1, db_len, "database name", &d->database);
        path += 1 + db_len;
    }
    if (rc == DBMGMT_OK && *path == '#')
        return dm_error_set(p->err, DBMGMT_ERR_PARSE,
                            "DSN '%s' has a '#' fragment; percent-encode '#' as %%23", p->shown);
    if (rc == DBMGMT_OK && *path == '?')
        rc = parse_query(p, path + 1);
    return rc;
}

static void dsn_shown_init(dsn_parser *p)
{
    size_t len = strlen(p->raw);
    size_t max = sizeof p->shown - 4;
    if (len > max) {
        memcpy(p->shown, p->raw, max);
        memcpy(p->shown + max, "...", 4);
    } else {
        memcpy(p->shown, p->raw, len + 1);
    }
    dm_redact(p->shown, sizeof p->shown);
}

static int parse_scheme_and_rest(dsn_parser *p)
{
    const char *raw = p->raw;
    size_t slen = 0;
    if (isalpha((unsigned char)raw[0]))
        while (isalnum((unsigned char)raw[slen]) || raw[slen] == '+' || raw[slen] == '.' ||
               raw[slen] == '-')
            slen++;
    if (slen == 0 || raw[slen] != ':') {
        if (strchr(raw, '=')) { /* libpq keyword/value string */
            p->dsn->engine = DBMGMT_ENGINE_POSTGRES;
            p->dsn->keyword_form = 1;
            return DBMGMT_OK;
        }
        return dm_error_set(p->err, DBMGMT_ERR_PARSE,
                            "DSN '%s' has no scheme (expected sqlite:, postgres:// or mysql://)",
                            p->shown);
    }
    char scheme[16];
    if (slen >= sizeof scheme)
        slen = sizeof scheme - 1;
    for (size_t i = 0; i < slen; i++)
        scheme[i] = (char)tolower((unsigned char)raw[i]);
    scheme[slen] = '\0';
    const char *rest = raw + slen + 1;
    if (!strcmp(scheme, "sqlite") || !strcmp(scheme, "sqlite3")) {
        p->dsn->engine = DBMGMT_ENGINE_SQLITE;
        return parse_sqlite(p, rest);
    }
    if (!strcmp(scheme, "postgres") || !strcmp(scheme, "postgresql")) {
        p->dsn->engine = DBMGMT_ENGINE_POSTGRES;
        return parse_network(p, scheme, rest);
    }
    if (!strcmp(scheme, "mysql") || !strcmp(scheme, "mariadb")) {
        p->dsn->engine = DBMGMT_ENGINE_MYSQL;
        return parse_network(p, scheme, rest);
    }
    return dm_error_set(p->err, DBMGMT_ERR_PARSE,
                        "unknown scheme '%s' in DSN '%s' (expected sqlite, postgres, postgresql, "
                        "mysql or mariadb)", scheme, p->shown);
}

int dm_dsn_parse(const char *dsn, dm_dsn **out, dm_error *err)
{
    *out = NULL;
    if (!dsn) {
        dsn = getenv("DATABASE_URL");
        if (!dsn || !*dsn)
            return dm_error_set(err, DBMGMT_ERR_INVALID,
                                "no DSN given and DATABASE_URL is not set");
    }
    dsn_parser p = {.raw = dsn, .err = err};
    dsn_shown_init(&p);
    if (!*dsn)
        return dm_error_set(err, DBMGMT_ERR_PARSE, "the DSN is empty");
    for (const char *c = dsn; *c; c++)
        if ((unsigned char)*c <= ' ' && !(*c == ' ' && !strstr(dsn, "://")))
            return dm_error_set(err, DBMGMT_ERR_PARSE,
                                "DSN '%s' contains white space or a control character at "
                                "offset %zu; percent-encode it", p.shown, (size_t)(c - dsn));
    p.dsn = dm_calloc(1, sizeof *p.dsn);
    if (!p.dsn)
        return dsn_fail_nomem(&p);
    p.dsn->raw = dm_strdup(dsn);
    int rc = p.dsn->raw ? parse_scheme_and_rest(&p) : dsn_fail_nomem(&p);
    if (rc != DBMGMT_OK) {
        dm_dsn_free(p.dsn);
        return rc;
    }
    *out = p.dsn;
    return DBMGMT_OK;
}

void dm_dsn_free(dm_dsn *d)
{
    if (!d)
        return;
    if (d->password) /* do not leave the secret in freed memory */
        memset(d->password, 0, strlen(d->password));
    if (d->raw)
        memset(d->raw, 0, strlen(d->raw));
    dm_free(d->raw);
    dm_free(d->user);
    dm_free(d->password);
    dm_free(d->host);
    dm_free(d->database);
    for (size_t i = 0; i < d->nparams; i++) {
        dm_free(d->params[i].key);
        dm_free(d->params[i].value);
    }
    dm_free(d->params);
    dm_free(d);
}

const char *dm_dsn_param_get(const dm_dsn *d, const char *key)
{
    for (size_t i = 0; i < d->nparams; i++)
        if (strcmp(d->params[i].key, key) == 0)
            return d->params[i].value;
    return NULL;
}

char *dm_dsn_render_redacted(const dm_dsn *d)
{
    size_t len = strlen(d->raw);
    size_t cap = len + 4;
    char *s = dm_malloc(cap);
    if (!s)
        return NULL;
    if (d->password && d->password_len > 0) {
        size_t tail = len - d->password_at - d->password_len;
        memcpy(s, d->raw, d->password_at);
        memcpy(s + d->password_at, "***", 3);
        memcpy(s + d->password_at + 3, d->raw + d->password_at + d->password_len, tail + 1);
    } else {
        memcpy(s, d->raw, len + 1);
    }
    dm_redact(s, cap);
    return s;
}

DBMGMT_API char *dbmgmt_dsn_redact(const char *dsn)
{
    dm_dsn *d;
    if (dm_dsn_parse(dsn, &d, NULL) != DBMGMT_OK)
        return NULL;
    char *s = dm_dsn_render_redacted(d);
    dm_dsn_free(d);
    if (!s)
        dm_error_set(NULL, DBMGMT_ERR_NOMEM, "dbmgmt_dsn_redact: out of memory");
    return s;
}
