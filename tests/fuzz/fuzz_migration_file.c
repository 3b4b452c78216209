/*
 * libFuzzer target for migration file names and markers
 * (lib/migrate/source.c, through dm_source_parse_file). The input's first
 * line is the file name, the rest the file's text. Checks, for any input:
 *  - no crash; failure is DBMGMT_ERR_PARSE with a message naming the file
 *    (unless the name holds text redaction masks, such as "pwd:");
 *  - on success with a migration: the version is valid, the description is
 *    non-empty, the layout is a folder layout, the up side has an up
 *    section and the down side a down section (and nothing else), each
 *    section is a NUL-terminated copy of the text from the start of its
 *    line (after a BOM on line 1), named after the file;
 *  - each section splits (dm_section_statements) in every dialect or fails
 *    with DBMGMT_ERR_PARSE; statements' lines lie within the section.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "migrate/source.h"
#include "fuzz_common.h"

static size_t line_start(const char *text, size_t len, int32_t line)
{
    size_t pos = 0;
    for (int32_t l = 1; l < line; l++) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        CHECK(nl != NULL);
        pos = (size_t)(nl - text) + 1;
    }
    return pos;
}

static int32_t count_lines(const char *text, size_t len)
{
    int32_t n = 1;
    for (size_t i = 0; i < len; i++)
        n += text[i] == '\n';
    return n;
}

static void check_statements(const dm_section *s)
{
    static const dbmgmt_engine dialects[] = {DBMGMT_ENGINE_SQLITE, DBMGMT_ENGINE_POSTGRES,
                                             DBMGMT_ENGINE_MYSQL};
    int32_t last_line = s->line + count_lines(s->sql, s->len) - 1;
    for (size_t d = 0; d < 3; d++) {
        dm_mig_statements list;
        memset(&list, 0, sizeof list);
        int rc = dm_section_statements(s, dialects[d], &list, NULL);
        CHECK(rc == DBMGMT_OK || rc == DBMGMT_ERR_PARSE);
        for (size_t i = 0; rc == DBMGMT_OK && i < list.count; i++) {
            CHECK(list.items[i].sql != NULL);
            CHECK(list.items[i].line >= s->line && list.items[i].line <= last_line);
        }
        if (rc == DBMGMT_OK)
            dm_mig_statements_free(&list);
    }
}

static void check_section(const dm_section *s, const char *name, const char *text, size_t len)
{
    CHECK(s->sql != NULL && s->file != NULL && strcmp(s->file, name) == 0);
    CHECK(s->line >= 1 && s->len <= len && s->sql[s->len] == '\0');
    size_t start = line_start(text, len, s->line);
    if (start == 0 && len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        start = 3;
    CHECK(start + s->len <= len && memcmp(s->sql, text + start, s->len) == 0);
    check_statements(s);
}

static void check_migration(const dm_migration *m, const char *name, const char *text,
                            size_t len)
{
    CHECK(dm_version_valid(m->version) && m->name && *m->name);
    CHECK(m->layout >= DM_LAYOUT_NATIVE && m->layout <= DM_LAYOUT_GOOSE);
    CHECK(m->up.sql || m->down.sql);
    if (m->layout == DM_LAYOUT_NATIVE || m->layout == DM_LAYOUT_GOOSE)
        CHECK(m->up.sql != NULL);
    else
        CHECK(!m->up.sql != !m->down.sql); /* one side per file */
    if (m->up.sql)
        check_section(&m->up, name, text, len);
    if (m->down.sql)
        check_section(&m->down, name, text, len);
}

/* Text dm_redact may mask: password keys and URL user-info. */
static int may_be_redacted(const char *name)
{
    return strcasestr(name, "pass") || strcasestr(name, "pwd") || strstr(name, "://");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t name_len = nl ? (size_t)(nl - data) : size;
    if (name_len > 300 || memchr(data, '\0', name_len))
        return 0;
    char *name = malloc(name_len + 1);
    size_t len = nl ? size - name_len - 1 : 0;
    char *text = malloc(len ? len : 1); /* exact size: ASan sees over-reads */
    CHECK(name != NULL && text != NULL);
    memcpy(name, data, name_len);
    name[name_len] = '\0';
    memcpy(text, data + size - len, len);
    dm_arena arena;
    memset(&arena, 0, sizeof arena);
    dm_migration m;
    int rc = dm_source_parse_file(name, text, len, &arena, &m, NULL);
    if (rc != DBMGMT_OK) {
        CHECK(rc == DBMGMT_ERR_PARSE);
        if (!may_be_redacted(name)) /* messages are redacted (core/log.h) */
            CHECK(strncmp(dbmgmt_errmsg(), name, name_len) == 0);
    } else if (m.version) {
        check_migration(&m, name, text, len);
    }
    dm_arena_free(&arena);
    free(text);
    free(name);
    return 0;
}
