/*
 * The findings list: rules report into it, the migrator and the lint report
 * sort it and render each finding as JSON (docs/lint.md).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "lint/lint_impl.h"

void dm_lint_findings_clear(dm_lint_findings *f)
{
    for (size_t i = 0; i < f->count; i++)
        dm_free(f->items[i].message);
    dm_free(f->items);
    memset(f, 0, sizeof *f);
}

static int compare_findings(const void *pa, const void *pb)
{
    const dm_lint_finding *a = pa, *b = pb;
    if (a->step != b->step)
        return a->step < b->step ? -1 : 1;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

void dm_lint_findings_sort(dm_lint_findings *f)
{
    if (f->count > 1)
        qsort(f->items, f->count, sizeof *f->items, compare_findings);
}

static void report_v(section_ctx *c, dm_lint_rule rule, long stmt, int32_t line, const char *fmt,
                     va_list ap)
{
    if (c->quiet || c->rc != DBMGMT_OK)
        return;
    dm_lint_findings *f = c->out;
    dm_lint_finding *grown = lint_grow(f->items, f->count, &f->cap, sizeof *grown, 16);
    if (!grown) {
        c->rc = DBMGMT_ERR_NOMEM;
        return;
    }
    f->items = grown;
    dm_buf b = DM_BUF_INIT;
    dm_buf_vprintf(&b, fmt, ap);
    char *msg = dm_buf_detach(&b);
    if (!msg) {
        c->rc = DBMGMT_ERR_NOMEM;
        return;
    }
    dm_lint_finding *x = &f->items[f->count++];
    memset(x, 0, sizeof *x);
    x->rule = rule;
    x->severity = lint_rule_severity(rule);
    x->step = c->step;
    x->version = c->mig->version;
    x->file = c->sec->file;
    x->line = line;
    x->message = msg;
    x->seq = c->lt->seq++;
    x->stmt = lint_rule_whole_migration(rule) ? -1 : stmt;
}

void lint_report(section_ctx *c, dm_lint_rule rule, long stmt, int32_t line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_v(c, rule, stmt, line, fmt, ap);
    va_end(ap);
}

void lint_report_at(section_ctx *c, dm_lint_rule rule, size_t tok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_v(c, rule, c->stmt, lint_line_of_tok(c, tok), fmt, ap);
    va_end(ap);
}

void dm_lint_finding_json(dm_json *j, const dm_lint_finding *f, int with_step)
{
    dm_json_object_begin(j);
    dm_json_key(j, "rule");
    dm_json_string(j, dm_lint_rule_id(f->rule));
    dm_json_key(j, "severity");
    dm_json_string(j, dm_lint_severity_name(f->severity));
    if (with_step) {
        dm_json_key(j, "step");
        dm_json_int(j, (int64_t)f->step);
    }
    dm_json_key(j, "version");
    dm_json_string(j, f->version);
    dm_json_key(j, "file");
    dm_json_string(j, f->file);
    dm_json_key(j, "line");
    dm_json_int(j, f->line);
    dm_json_key(j, "message");
    dm_json_string(j, f->message);
    dm_json_key(j, "advice");
    dm_json_string(j, dm_lint_rule_advice(f->rule));
    dm_json_object_end(j);
}
