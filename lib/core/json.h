/*
 * A streaming JSON writer over dm_buf (RFC 8259). It places commas and
 * colons itself; strings are escaped and invalid UTF-8 becomes U+FFFD, so the
 * output is always valid JSON. Nesting is limited to DM_JSON_MAX_DEPTH.
 */
#ifndef DM_CORE_JSON_H
#define DM_CORE_JSON_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"

#define DM_JSON_MAX_DEPTH 32

typedef struct dm_json {
    dm_buf *out;
    int depth;
    unsigned char has_items[DM_JSON_MAX_DEPTH]; /* per level: an item was written */
    int after_key;
    int failed; /* misuse (depth) — the buffer's own failure is in out->failed */
} dm_json;

void dm_json_init(dm_json *j, dm_buf *out);
void dm_json_object_begin(dm_json *j);
void dm_json_object_end(dm_json *j);
void dm_json_array_begin(dm_json *j);
void dm_json_array_end(dm_json *j);
void dm_json_key(dm_json *j, const char *key);
void dm_json_string(dm_json *j, const char *s);           /* NULL writes null */
void dm_json_string_len(dm_json *j, const char *s, size_t len);
void dm_json_int(dm_json *j, int64_t v);
void dm_json_double(dm_json *j, double v);                /* NaN/inf write null */
void dm_json_bool(dm_json *j, int v);
void dm_json_null(dm_json *j);
/* Append s escaped as a JSON string (with quotes) to b. */
void dm_json_escape(dm_buf *b, const char *s, size_t len);
int dm_json_failed(const dm_json *j);

#endif
