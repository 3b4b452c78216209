/*
 * libFuzzer target for the statement splitter. Built once per dialect with
 * -DFUZZ_DIALECT=DBMGMT_ENGINE_SQLITE|POSTGRES|MYSQL. Checks, for any input:
 *  - no crash, no read past the input (libFuzzer hands an exact-sized buffer);
 *  - on success: statements are in order and do not overlap, every text lies
 *    inside the input and equals the input bytes at its offset, is non-empty
 *    and starts and ends with a non-space byte, is NUL-terminated, and its
 *    line/column agree with a slow recount (dm_sql_position);
 *  - re-splitting a statement's text alone (with the MySQL delimiter that was
 *    in force for it) yields exactly that one statement;
 *  - the lexer walks each statement's command part without error, tokens in
 *    order and inside it; token values can be read;
 *  - PostgreSQL: the placeholder rewrite succeeds or reports mixing;
 *  - on failure: the message starts with "LINE:COLUMN: ";
 *  - every 64-byte block classifier this CPU runs (bytescan.h) gives the
 *    same masks as the portable one on the input's blocks, for each
 *    dialect's stop bytes and a delimiter byte taken from the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "sql/bytescan.h"
#include "sql/lexer.h"
#include "sql/split.h"

#ifndef FUZZ_DIALECT
#define FUZZ_DIALECT DBMGMT_ENGINE_POSTGRES
#endif

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond))                                                                         \
            check_failed(#cond, __LINE__);                                                   \
    } while (0)

static void check_failed(const char *what, int line)
{
    fprintf(stderr, "fuzz_split.c:%d: invariant failed: %s\n", line, what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error_message(void)
{
    const char *m = dbmgmt_errmsg();
    size_t i = 0;
    CHECK(m[i] >= '1' && m[i] <= '9');
    while (m[i] >= '0' && m[i] <= '9')
        i++;
    CHECK(m[i++] == ':');
    CHECK(m[i] >= '1' && m[i] <= '9');
    while (m[i] >= '0' && m[i] <= '9')
        i++;
    CHECK(m[i] == ':' && m[i + 1] == ' ');
}

static void check_resplit(const dm_sql_stmt *st)
{
    dbmgmt_statements *again = NULL;
    /* an exact-sized copy so ASan sees any read past the text */
    char *copy = malloc(st->len ? st->len : 1);
    CHECK(copy != NULL);
    memcpy(copy, st->text, st->len);
    int rc = dm_sql_split(FUZZ_DIALECT, copy, st->len, st->delimiter, &again, NULL);
    CHECK(rc == DBMGMT_OK);
    CHECK(dbmgmt_statements_count(again) == 1);
    const dm_sql_stmt *one = dm_sql_statement_at(again, 0);
    CHECK(one->offset == 0 && one->len == st->len);
    CHECK(one->command_len == st->command_len && one->data_len == st->data_len);
    dbmgmt_statements_free(again);
    free(copy);
}

static void check_tokens(const dm_sql_stmt *st)
{
    dm_sql_lexer lx;
    dm_sql_token tok;
    dm_buf value = DM_BUF_INIT;
    size_t last = 0;
    int rc;
    dm_sql_lexer_init(&lx, FUZZ_DIALECT, st->text, st->command_len, 0);
    while ((rc = dm_sql_lexer_next(&lx, &tok)) == 1) {
        CHECK(tok.offset >= last && tok.len > 0 && tok.offset + tok.len <= st->command_len);
        CHECK(tok.value_offset >= tok.offset &&
              tok.value_offset + tok.value_len <= tok.offset + tok.len);
        CHECK(dm_sql_token_value(st->text, &tok, &value) == DBMGMT_OK);
        last = tok.offset + tok.len;
    }
    if (rc != 0)
        fprintf(stderr, "lexer error %d at %zu in: %.*s\n", (int)lx.error.kind, lx.error.offset,
                (int)st->command_len, st->text);
    CHECK(rc == 0);
    dm_buf_free(&value);
}

static void check_rewrite(const dm_sql_stmt *st)
{
    char *out = NULL;
    int32_t n = 0;
    int rc = dm_sql_rewrite_placeholders(st->text, st->command_len, &out, &n, NULL);
    CHECK(rc == DBMGMT_OK || rc == DBMGMT_ERR_PARSE);
    CHECK((rc == DBMGMT_OK) == (out != NULL));
    CHECK(n >= 0);
    dm_free(out);
}

static void check_statement(const uint8_t *data, size_t size, const dm_sql_stmt *st,
                            size_t min_offset)
{
    int32_t line, col;
    CHECK(st->offset >= min_offset && st->len > 0 && st->offset + st->len <= size);
    CHECK(memcmp(st->text, data + st->offset, st->len) == 0 && st->text[st->len] == '\0');
    CHECK(!dm_sql_is_space((unsigned char)st->text[0]));
    CHECK(!dm_sql_is_space((unsigned char)st->text[st->len - 1]));
    CHECK(st->command_len <= st->len && st->data_offset + st->data_len <= st->len);
    dm_sql_position((const char *)data, size, st->offset, &line, &col);
    CHECK(line == st->line && col == st->column);
    check_resplit(st);
    check_tokens(st);
    if (FUZZ_DIALECT == DBMGMT_ENGINE_POSTGRES)
        check_rewrite(st);
}

static void check_block_scanners_agree(const uint8_t *data, size_t size)
{
    static const char *const sets[] = {"'\"-/[`", "'\"-/$", "'\"-/`#*\\"};
    dm_sql_block_scan_fn fns[4];
    const char *names[4];
    size_t count = dm_sql_block_scanners(fns, names, 4);
    CHECK(count >= 1 && count <= 4);
    for (size_t s = 0; s < 3; s++) {
        dm_sql_byteset set;
        dm_sql_byteset_init(&set, sets[s]);
        if (size) {
            dm_sql_byteset_add(&set, data[size - 1]);
            set.quote = data[0];
            set.aux[0] = data[size / 2];
            set.aux[1] = (unsigned char)(data[0] ^ 0x20);
        }
        for (size_t base = 0; base < size; base += 64) {
            unsigned char block[64] = {0};
            memcpy(block, data + base, size - base < 64 ? size - base : 64);
            dm_sql_block_masks want, got;
            fns[0](block, &set, &want);
            for (size_t f = 1; f < count; f++) {
                fns[f](block, &set, &got);
                CHECK(got.stops == want.stops && got.newlines == want.newlines);
                CHECK(got.quotes == want.quotes && got.aux == want.aux);
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dbmgmt_statements *list = NULL;
    check_block_scanners_agree(data, size);
    int rc = dbmgmt_split(FUZZ_DIALECT, (const char *)data, size, &list);
    if (rc != DBMGMT_OK) {
        CHECK(rc == DBMGMT_ERR_PARSE && list == NULL);
        check_error_message();
        return 0;
    }
    size_t n = dbmgmt_statements_count(list), min_offset = 0;
    for (size_t i = 0; i < n; i++) {
        const dm_sql_stmt *st = dm_sql_statement_at(list, i);
        check_statement(data, size, st, min_offset);
        min_offset = st->offset + st->len + 1; /* at least one byte separates statements */
    }
    char *json = dbmgmt_statements_to_json(list);
    CHECK(json != NULL);
    dbmgmt_free(json);
    dbmgmt_statements_free(list);
    return 0;
}
