/* Helpers shared by the dbmgmt commands. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* text into path, atomically: a temporary file in the same folder (so the
 * rename stays on one file system), written, fsync'd, renamed over path,
 * and the folder fsync'd. node_exporter reads either the old or the new
 * file, never a part. Returns 0, or -1 with a message naming the file. */
int cli_write_textfile(const char *cmd, const char *path, const char *text)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp) {
        fprintf(stderr, "dbmgmt %s: --textfile %s: path too long\n", cmd, path);
        return -1;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, "dbmgmt %s: --textfile %s: cannot create a temporary file there: %s\n",
                cmd, path, strerror(errno));
        return -1;
    }
    size_t len = strlen(text), done = 0;
    int ok = fchmod(fd, 0644) == 0;
    while (ok && done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        ok = w > 0;
        done += ok ? (size_t)w : 0;
    }
    ok = ok && fsync(fd) == 0;
    int err = errno;
    ok = close(fd) == 0 && ok;
    if (ok && rename(tmp, path) != 0) {
        err = errno;
        ok = 0;
    }
    if (!ok) {
        fprintf(stderr, "dbmgmt %s: --textfile %s: %s\n", cmd, path, strerror(err));
        unlink(tmp);
        return -1;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        strcpy(dir, ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        (void)fsync(dfd); /* the rename's durability; not all file systems allow it */
        close(dfd);
    }
    return 0;
}
