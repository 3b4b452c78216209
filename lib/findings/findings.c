/* Lists of findings: storage, bounds-checked readers, JSON documents. */
#include "findings/findings.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define FINDINGS_FIRST_CAP 16

void *dm_findings_add(dm_findings *l, size_t size)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : FINDINGS_FIRST_CAP;
        if (cap > SIZE_MAX / size)
            return NULL;
        void *grown = dm_realloc(l->items, cap * size);
        if (!grown)
            return NULL;
        l->items = grown;
        l->cap = cap;
    }
    void *record = (char *)l->items + l->count * size;
    memset(record, 0, size);
    l->count++;
    return record;
}

const void *dm_findings_get(const dm_findings *l, size_t size, size_t k)
{
    return l && k < l->count ? (const char *)l->items + k * size : NULL;
}

void *dm_findings_get_mut(dm_findings *l, size_t size, size_t k)
{
    return l && k < l->count ? (char *)l->items + k * size : NULL;
}

size_t dm_findings_count(const dm_findings *l)
{
    return l ? l->count : 0;
}

static void swap_records(char *a, char *b, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        char t = a[i];
        a[i] = b[i];
        b[i] = t;
    }
}

/* Sift the record at root down the max-heap of the first n records. */
static void sift_down(char *items, size_t root, size_t n, size_t size,
                      int (*cmp)(const void *, const void *))
{
    for (size_t child = 2 * root + 1; child < n; root = child, child = 2 * root + 1) {
        if (child + 1 < n && cmp(items + child * size, items + (child + 1) * size) < 0)
            child++;
        if (cmp(items + root * size, items + child * size) >= 0)
            return;
        swap_records(items + root * size, items + child * size, size);
    }
}

/* A heapsort, not qsort(): glibc's qsort takes a buffer from malloc() for
 * arrays of 1 KiB and more, and this sort runs on the firmware path (the
 * plan's lint of a migration run), where every allocation must be the
 * host's (issue 24, docs/embedded.md). The comparators of findings are
 * total orders (they end on the finding's sequence number), so a sort that
 * is not stable gives the same order. */
void dm_findings_sort(dm_findings *l, size_t size, int (*cmp)(const void *, const void *))
{
    char *items = l->items;
    size_t n = l->count;
    if (n < 2)
        return;
    for (size_t root = n / 2; root-- > 0;)
        sift_down(items, root, n, size, cmp);
    for (size_t end = n - 1; end > 0; end--) {
        swap_records(items, items + end * size, size);
        sift_down(items, 0, end, size, cmp);
    }
}

void dm_findings_filter(dm_findings *l, size_t size, size_t first, int (*keep)(const void *),
                        void (*release)(void *))
{
    char *items = l->items;
    size_t kept = first;
    for (size_t i = first; i < l->count; i++) {
        char *record = items + i * size;
        if (!keep(record)) {
            if (release)
                release(record);
            continue;
        }
        if (kept != i)
            memcpy(items + kept * size, record, size);
        kept++;
    }
    l->count = kept;
}

void dm_findings_clear(dm_findings *l, size_t size, void (*release)(void *))
{
    for (size_t i = 0; release && i < l->count; i++)
        release((char *)l->items + i * size);
    dm_free(l->items);
    memset(l, 0, sizeof *l);
}

/* Copy the len bytes at offset of record k to out; out is left as it is
 * (the caller's fallback) when there is no record k. */
static void copy_field(const dm_findings *l, size_t size, size_t k, size_t offset, void *out,
                       size_t len)
{
    const char *record = dm_findings_get(l, size, k);
    if (record)
        memcpy(out, record + offset, len);
}

const char *dm_findings_text(const dm_findings *l, size_t size, size_t k, size_t offset)
{
    const char *s = NULL;
    copy_field(l, size, k, offset, &s, sizeof s);
    return s;
}

int32_t dm_findings_int32(const dm_findings *l, size_t size, size_t k, size_t offset, int32_t none)
{
    copy_field(l, size, k, offset, &none, sizeof none);
    return none;
}

double dm_findings_double(const dm_findings *l, size_t size, size_t k, size_t offset, double none)
{
    copy_field(l, size, k, offset, &none, sizeof none);
    return none;
}

size_t dm_findings_size(const dm_findings *l, size_t size, size_t k, size_t offset, size_t none)
{
    copy_field(l, size, k, offset, &none, sizeof none);
    return none;
}

/* ---- JSON ------------------------------------------------------------------ */

char *dm_findings_document(const void *owner, const char *fn, const char *null_message,
                           const char *what, void (*write_members)(dm_json *j, const void *owner))
{
    if (!owner) {
        dm_error_invalid(fn, null_message);
        return NULL;
    }
    dm_buf buf = DM_BUF_INIT;
    dm_json j;
    dm_json_init(&j, &buf);
    dm_json_object_begin(&j);
    write_members(&j, owner);
    dm_json_object_end(&j);
    char *s = NULL;
    if (dm_json_failed(&j))
        dm_buf_free(&buf);
    else
        s = dm_buf_detach(&buf);
    if (!s)
        dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory rendering %s", what);
    return s;
}

void dm_findings_json_array(dm_json *j, const char *key, const dm_findings *l, size_t size,
                            dm_findings_json_fn write, const void *ctx)
{
    dm_json_key(j, key);
    dm_json_array_begin(j);
    for (size_t i = 0; i < dm_findings_count(l); i++)
        write(j, dm_findings_get(l, size, i), ctx);
    dm_json_array_end(j);
}

void dm_findings_json_text(dm_json *j, const char *key, const char *s)
{
    dm_json_key(j, key);
    dm_json_string(j, s);
}

void dm_findings_json_int(dm_json *j, const char *key, int64_t v)
{
    dm_json_key(j, key);
    dm_json_int(j, v);
}

void dm_findings_json_bool(dm_json *j, const char *key, int v)
{
    dm_json_key(j, key);
    dm_json_bool(j, v);
}
