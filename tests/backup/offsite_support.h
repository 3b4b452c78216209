/*
 * Helpers of the off-site copy tests (test_backup_offsite*.c,
 * test_backup_engine.c): a file's SHA-256 by coreutils' sha256sum (not the
 * library's code), files in a folder, a flipped byte.
 */
#ifndef DBMGMT_TESTS_BACKUP_OFFSITE_SUPPORT_H
#define DBMGMT_TESTS_BACKUP_OFFSITE_SUPPORT_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* The SHA-256 hex of path into hex[65]; 0, or -1 when it cannot be read. */
static inline int offsite_sha256(const char *path, char hex[65])
{
    char cmd[600];
    hex[0] = '\0';
    if (strchr(path, '\'') || snprintf(cmd, sizeof cmd, "sha256sum '%s' 2>/dev/null", path) >=
                                  (int)sizeof cmd)
        return -1;
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    int ok = fscanf(p, "%64s", hex) == 1;
    int rc = pclose(p);
    return ok && rc == 0 && strlen(hex) == 64 ? 0 : -1;
}

/* The size of path, or -1. */
static inline long long offsite_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Files in dir whose name contains part (NULL: every file but . and ..). */
static inline int offsite_count(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *ent;
    while (d && (ent = readdir(d)) != NULL)
        if (ent->d_name[0] != '.' && (!part || strstr(ent->d_name, part)))
            n++;
    if (d)
        closedir(d);
    return n;
}

/* XOR one byte of path at offset; 0 or -1. */
static inline int offsite_flip_byte(const char *path, long offset)
{
    FILE *fp = fopen(path, "r+b");
    if (!fp)
        return -1;
    int rc = -1;
    if (fseek(fp, offset, SEEK_SET) == 0) {
        int c = fgetc(fp);
        if (c != EOF && fseek(fp, offset, SEEK_SET) == 0 && fputc(c ^ 0x5a, fp) != EOF)
            rc = 0;
    }
    return fclose(fp) == 0 ? rc : -1;
}

/* The value of "key":"..." in the first object of json after from (a
 * backup's id), into out; out is "" when absent. */
static inline const char *offsite_json_text(const char *json, const char *from, const char *key,
                                            char *out, size_t cap)
{
    char pat[96];
    out[0] = '\0';
    const char *p = from ? strstr(json, from) : json;
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    if (p && (p = strstr(p, pat)) != NULL) {
        p += strlen(pat);
        size_t n = 0;
        while (p[n] && p[n] != '"' && n + 1 < cap)
            n++;
        memcpy(out, p, n);
        out[n] = '\0';
    }
    return out;
}

#endif
