/* Helpers shared by the dbmgmt commands. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

dbmgmt_engine cli_parse_engine(const char *name)
{
    if (!name)
        return DBMGMT_ENGINE_NONE;
    if (strcmp(name, "sqlite") == 0 || strcmp(name, "sqlite3") == 0)
        return DBMGMT_ENGINE_SQLITE;
    if (strcmp(name, "postgres") == 0 || strcmp(name, "postgresql") == 0 ||
        strcmp(name, "pg") == 0)
        return DBMGMT_ENGINE_POSTGRES;
    if (strcmp(name, "mysql") == 0 || strcmp(name, "mariadb") == 0)
        return DBMGMT_ENGINE_MYSQL;
    return DBMGMT_ENGINE_NONE;
}

int cli_read_file(const char *path, char **data, size_t *len)
{
    int from_stdin = !path || strcmp(path, "-") == 0;
    FILE *f = from_stdin ? stdin : fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, used = 0;
    if (!f) {
        fprintf(stderr, "dbmgmt: %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (;;) {
        if (cap - used < 65536) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *nbuf = realloc(buf, ncap);
            if (!nbuf) {
                fprintf(stderr, "dbmgmt: out of memory reading %s\n", from_stdin ? "<stdin>" : path);
                goto fail;
            }
            buf = nbuf;
            cap = ncap;
        }
        size_t got = fread(buf + used, 1, cap - used, f);
        used += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        fprintf(stderr, "dbmgmt: %s: read error\n", from_stdin ? "<stdin>" : path);
        goto fail;
    }
    if (!from_stdin)
        fclose(f);
    *data = buf;
    *len = used;
    return 0;
fail:
    free(buf);
    if (!from_stdin)
        fclose(f);
    return -1;
}

cli_options cli_globals = {.lock_timeout_ms = -1, .galera = DBMGMT_GALERA_AUTO};

const char *cli_json_quote(const char *s)
{
    static char *ring[4];
    static unsigned next;
    char **slot = &ring[next++ % 4];
    size_t len = s ? strlen(s) : 0;
    free(*slot);
    *slot = malloc(len * 6 + 5);
    if (!*slot)
        return "null";
    if (!s) {
        strcpy(*slot, "null");
        return *slot;
    }
    char *o = *slot;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p < 0x20) {
            o += sprintf(o, "\\u%04x", *p);
        } else {
            *o++ = (char)*p;
        }
    }
    *o++ = '"';
    *o = '\0';
    return *slot;
}

const char *cli_seeds_dir(char *buf, size_t cap)
{
    const char *mdir = cli_globals.dir ? cli_globals.dir : "migrations";
    size_t len = strlen(mdir);
    while (len > 1 && mdir[len - 1] == '/')
        len--;
    while (len > 0 && mdir[len - 1] != '/')
        len--;
    snprintf(buf, cap, "%.*sseeds", (int)len, mdir);
    return buf;
}
