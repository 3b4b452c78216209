/*
 * libFuzzer target for migration lint (lib/migrate/lint.c). The input is
 * both sections of one migration; it is linted up and down in every
 * dialect, as a transactional and a non-transactional migration (the
 * transactional one with the Galera rules on). Checks,
 * for any input:
 *  - no crash; lint succeeds or fails with DBMGMT_ERR_PARSE (a section that
 *    does not split) and then adds no finding;
 *  - every finding has a known rule and severity, a message, the
 *    migration's version and file, and a line within the input's lines.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lint/lint.h"
#include "migrate/source.h"
#include "fuzz_common.h"

static void check_findings(const dm_lint_findings *f, size_t first, const dm_migration *mig,
                           int32_t lines)
{
    for (size_t i = first; i < f->count; i++) {
        const dm_lint_finding *x = dm_lint_finding_at(f, i);
        CHECK(x->rule >= 0 && x->rule < DM_LINT_RULE_COUNT && dm_lint_rule_id(x->rule));
        CHECK(x->severity >= DBMGMT_LINT_INFO && x->severity <= DBMGMT_LINT_ERROR);
        CHECK(x->message != NULL && x->version == mig->version);
        CHECK(x->file == NULL || strcmp(x->file, mig->up.file) == 0);
        if (x->line < 1 || x->line > lines)
            fprintf(stderr, "finding %s at line %d of %d: %s\n", dm_lint_rule_id(x->rule),
                    (int)x->line, (int)lines, x->message);
        CHECK(x->line >= 1 && x->line <= lines);
    }
}

static void lint_once(dbmgmt_engine dialect, const dm_migration *mig, int transactional,
                      int32_t lines)
{
    dm_linter lt;
    dm_lint_findings f;
    memset(&f, 0, sizeof f);
    dm_linter_init(&lt, dialect);
    lt.galera = transactional; /* the Galera rules too (inert outside MySQL) */
    static const int32_t directions[] = {DBMGMT_UP, DBMGMT_DOWN};
    for (size_t d = 0; d < 2; d++) {
        size_t before = f.count;
        int rc = dm_lint_migration(&lt, mig, directions[d], transactional, d, &f, NULL);
        CHECK(rc == DBMGMT_OK || rc == DBMGMT_ERR_PARSE);
        if (rc != DBMGMT_OK)
            CHECK(f.count == before);
    }
    check_findings(&f, 0, mig, lines);
    dm_lint_findings_sort(&f);
    dm_lint_findings_clear(&f);
    dm_linter_clear(&lt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *sql = malloc(size + 1); /* a section is NUL-terminated, as the loader makes it */
    CHECK(sql != NULL);
    memcpy(sql, data, size);
    sql[size] = '\0';
    int32_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    dm_migration mig;
    memset(&mig, 0, sizeof mig);
    mig.version = (char *)"20240101000000";
    mig.name = (char *)"fuzz";
    mig.layout = DM_LAYOUT_NATIVE;
    mig.up = (dm_section){.sql = sql, .len = size, .file = (char *)"fuzz.sql", .line = 1};
    mig.down = mig.up;
    static const dbmgmt_engine dialects[] = {DBMGMT_ENGINE_SQLITE, DBMGMT_ENGINE_POSTGRES,
                                             DBMGMT_ENGINE_MYSQL};
    for (size_t d = 0; d < 3; d++)
        for (int tx = 0; tx < 2; tx++)
            lint_once(dialects[d], &mig, tx, lines);
    free(sql);
    return 0;
}
