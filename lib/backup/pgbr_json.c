/*
 * Just enough JSON reading for `pgbackrest info --output=json`
 * (engine_pgbackrest.c): find a member of an object, the elements of an
 * array, and read a scalar. Values are pointers into the text; nothing is
 * allocated except by dm_pgbr_json_text.
 */
#include "backup_impl.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static const char *skip_string(const char *p)
{
    for (p++; *p && *p != '"'; p++)
        if (*p == '\\' && p[1])
            p++;
    return *p == '"' ? p + 1 : NULL;
}

/* Past the value at p (after white space), or NULL when it is malformed. */
const char *dm_pgbr_json_skip(const char *p)
{
    p = skip_ws(p);
    if (*p == '"')
        return skip_string(p);
    if (*p != '{' && *p != '[') {
        while (*p && !strchr(",}] \t\r\n", *p))
            p++;
        return p;
    }
    int depth = 0;
    while (*p) {
        if (*p == '"') {
            if (!(p = skip_string(p)))
                return NULL;
            continue;
        }
        if (*p == '{' || *p == '[')
            depth++;
        else if (*p == '}' || *p == ']')
            if (--depth == 0)
                return p + 1;
        p++;
    }
    return NULL;
}

/* The value of member key of the object at obj, or NULL. */
const char *dm_pgbr_json_get(const char *obj, const char *key)
{
    const char *p = obj ? skip_ws(obj) : NULL;
    if (!p || *p != '{')
        return NULL;
    size_t klen = strlen(key);
    p = skip_ws(p + 1);
    while (*p == '"') {
        const char *name = p + 1, *end = skip_string(p);
        if (!end)
            return NULL;
        p = skip_ws(end);
        if (*p != ':')
            return NULL;
        const char *value = skip_ws(p + 1);
        if ((size_t)(end - 1 - name) == klen && strncmp(name, key, klen) == 0)
            return value;
        if (!(p = dm_pgbr_json_skip(value)))
            return NULL;
        p = skip_ws(p);
        if (*p == ',')
            p = skip_ws(p + 1);
    }
    return NULL;
}

/* The i-th element of the array at arr, or NULL; *n (may be NULL) gets
 * the number of elements. */
const char *dm_pgbr_json_at(const char *arr, size_t i, size_t *n)
{
    const char *p = arr ? skip_ws(arr) : NULL, *found = NULL;
    size_t count = 0;
    if (n)
        *n = 0;
    if (!p || *p != '[')
        return NULL;
    p = skip_ws(p + 1);
    while (*p && *p != ']') {
        if (count == i)
            found = p;
        count++;
        if (!(p = dm_pgbr_json_skip(p)))
            return NULL;
        p = skip_ws(p);
        if (*p == ',')
            p = skip_ws(p + 1);
    }
    if (n)
        *n = count;
    return found;
}

/* A scalar as text (a string unescaped for the plain escapes pgBackRest
 * writes, a number or true/false as written; NULL for null); caller frees. */
char *dm_pgbr_json_text(const char *v)
{
    if (!v)
        return NULL;
    v = skip_ws(v);
    if (*v == '"') {
        const char *end = skip_string(v);
        if (!end)
            return NULL;
        char *s = dm_malloc((size_t)(end - v));
        if (!s)
            return NULL;
        size_t n = 0;
        for (const char *p = v + 1; p < end - 1; p++) {
            if (*p == '\\' && p + 1 < end - 1)
                p++;
            s[n++] = *p;
        }
        s[n] = '\0';
        return s;
    }
    if (strncmp(v, "null", 4) == 0 || *v == '{' || *v == '[')
        return NULL;
    const char *end = dm_pgbr_json_skip(v);
    return end ? dm_strndup(v, (size_t)(end - v)) : NULL;
}
