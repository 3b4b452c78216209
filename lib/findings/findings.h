/*
 * Lists of findings (issue 17): the lint findings of a plan or of a lint
 * report, and the findings of index advice, kept in one shape so that they
 * share their storage, their readers and their JSON.
 *
 * A list is one growable array of fixed-size records. The owner passes the
 * record size to every call instead of storing it in the list, so a zeroed
 * dm_findings (`= {0}`, calloc) is a valid empty list. The readers are
 * bounds-checked and accept a NULL list, so each public accessor is one
 * call: the NULL handle and the index out of range give the fallback.
 *
 * Internal to the library (no dbmgmt_ symbols); reentrant, no global state.
 */
#ifndef DM_FINDINGS_FINDINGS_H
#define DM_FINDINGS_FINDINGS_H

#include <stddef.h>
#include <stdint.h>

#include "core/json.h"

typedef struct dm_findings {
    void *items; /* count records, room for cap */
    size_t count, cap;
} dm_findings;

/* A zeroed record at the end of l; NULL when memory runs out (l unchanged). */
void *dm_findings_add(dm_findings *l, size_t size);
/* Record k, or NULL when l is NULL or k is out of range. */
const void *dm_findings_get(const dm_findings *l, size_t size, size_t k);
void *dm_findings_get_mut(dm_findings *l, size_t size, size_t k);
/* The number of records; 0 for a NULL list. */
size_t dm_findings_count(const dm_findings *l);
/* Sort by cmp, in place, allocating nothing (not stable: records that
 * compare equal must differ in a tie-breaker). */
void dm_findings_sort(dm_findings *l, size_t size, int (*cmp)(const void *, const void *));
/* Keep the records from first on that keep() accepts, in order; release
 * the others (release may be NULL). */
void dm_findings_filter(dm_findings *l, size_t size, size_t first, int (*keep)(const void *),
                        void (*release)(void *));
/* Release every record (release may be NULL), free the array, empty l. */
void dm_findings_clear(dm_findings *l, size_t size, void (*release)(void *));

/* Field readers: the field at offset of record k, or none (NULL for text)
 * when there is no record k. Use them through DM_FINDING_* below, which
 * compute the offset and refuse to compile when the field has another type. */
const char *dm_findings_text(const dm_findings *l, size_t size, size_t k, size_t offset);
int32_t dm_findings_int32(const dm_findings *l, size_t size, size_t k, size_t offset,
                          int32_t none);
double dm_findings_double(const dm_findings *l, size_t size, size_t k, size_t offset,
                          double none);
size_t dm_findings_size(const dm_findings *l, size_t size, size_t k, size_t offset, size_t none);

/* offsetof(T, field), refused at compile time unless the field is a TYPE. */
#define DM_FINDINGS_OFFSET(T, field, TYPE) _Generic(((T *)0)->field, TYPE: offsetof(T, field))
#define DM_FINDINGS_TEXT_OFFSET(T, field)                                                       \
    _Generic(((T *)0)->field, char *: offsetof(T, field), const char *: offsetof(T, field))

#define DM_FINDING_TEXT(l, T, k, field)                                                         \
    dm_findings_text((l), sizeof(T), (k), DM_FINDINGS_TEXT_OFFSET(T, field))
#define DM_FINDING_INT32(l, T, k, field, none)                                                  \
    dm_findings_int32((l), sizeof(T), (k), DM_FINDINGS_OFFSET(T, field, int32_t), (none))
#define DM_FINDING_DOUBLE(l, T, k, field, none)                                                 \
    dm_findings_double((l), sizeof(T), (k), DM_FINDINGS_OFFSET(T, field, double), (none))
#define DM_FINDING_SIZE(l, T, k, field, none)                                                   \
    dm_findings_size((l), sizeof(T), (k), DM_FINDINGS_OFFSET(T, field, size_t), (none))

/* ---- JSON ------------------------------------------------------------------ */

/*
 * The JSON document of owner (a plan, a lint report, advice): one object
 * whose members write_members writes. Returns the text (the caller frees it
 * with dbmgmt_free), or NULL with the thread's error set: DBMGMT_ERR_INVALID
 * "fn: null_message" when owner is NULL, DBMGMT_ERR_NOMEM "out of memory
 * rendering <what>" when memory runs out (nothing leaked).
 */
char *dm_findings_document(const void *owner, const char *fn, const char *null_message,
                           const char *what, void (*write_members)(dm_json *j, const void *owner));

/* Writes one record as a JSON value; ctx is the caller's. */
typedef void (*dm_findings_json_fn)(dm_json *j, const void *record, const void *ctx);
/* The member "key": [ each record of l written by write ]. */
void dm_findings_json_array(dm_json *j, const char *key, const dm_findings *l, size_t size,
                            dm_findings_json_fn write, const void *ctx);

/* Members "key": value. */
void dm_findings_json_text(dm_json *j, const char *key, const char *s); /* NULL: null */
void dm_findings_json_int(dm_json *j, const char *key, int64_t v);
void dm_findings_json_bool(dm_json *j, const char *key, int v);

#endif
