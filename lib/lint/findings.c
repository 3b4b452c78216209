/*
 * The findings list (a lib/findings list of dm_lint_finding): rules report
 * into it, the migrator and the lint report sort it, read it and render it
 * as JSON (docs/lint.md).
 */
#include <stdarg.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "lint/lint_impl.h"

void lint_finding_release(void *record)
{
    dm_lint_finding *x = record;
    dm_free(x->message);
}

void dm_lint_findings_clear(dm_lint_findings *f)
{
    dm_findings_clear(f, sizeof(dm_lint_finding), lint_finding_release);
}

const dm_lint_finding *dm_lint_finding_at(const dm_lint_findings *f, size_t k)
{
    return dm_findings_get(f, sizeof(dm_lint_finding), k);
}

const char *dm_lint_finding_rule(const dm_lint_findings *f, size_t k)
{
    const dm_lint_finding *x = dm_lint_finding_at(f, k);
    return x ? dm_lint_rule_id(x->rule) : NULL;
}

const char *dm_lint_finding_advice(const dm_lint_findings *f, size_t k)
{
    const dm_lint_finding *x = dm_lint_finding_at(f, k);
    return x ? dm_lint_rule_advice(x->rule) : NULL;
}

int32_t dm_lint_finding_severity(const dm_lint_findings *f, size_t k)
{
    return DM_FINDING_INT32(f, dm_lint_finding, k, severity, -1);
}

size_t dm_lint_finding_step(const dm_lint_findings *f, size_t k)
{
    return DM_FINDING_SIZE(f, dm_lint_finding, k, step, SIZE_MAX);
}

const char *dm_lint_finding_version(const dm_lint_findings *f, size_t k)
{
    return DM_FINDING_TEXT(f, dm_lint_finding, k, version);
}

const char *dm_lint_finding_file(const dm_lint_findings *f, size_t k)
{
    return DM_FINDING_TEXT(f, dm_lint_finding, k, file);
}

int32_t dm_lint_finding_line(const dm_lint_findings *f, size_t k)
{
    return DM_FINDING_INT32(f, dm_lint_finding, k, line, -1);
}

const char *dm_lint_finding_message(const dm_lint_findings *f, size_t k)
{
    return DM_FINDING_TEXT(f, dm_lint_finding, k, message);
}

size_t dm_lint_findings_count_severity(const dm_lint_findings *f, int32_t severity)
{
    size_t n = 0;
    for (size_t i = 0; i < dm_findings_count(f); i++)
        n += dm_lint_finding_at(f, i)->severity == severity;
    return n;
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
    dm_findings_sort(f, sizeof(dm_lint_finding), compare_findings);
}

static void report_v(section_ctx *c, dm_lint_rule rule, long stmt, int32_t line, const char *fmt,
                     va_list ap)
{
    if (c->quiet || c->rc != DBMGMT_OK)
        return;
    dm_buf b = DM_BUF_INIT;
    dm_buf_vprintf(&b, fmt, ap);
    char *msg = dm_buf_detach(&b);
    dm_lint_finding *x = msg ? dm_findings_add(c->out, sizeof *x) : NULL;
    if (!x) {
        dm_free(msg);
        c->rc = DBMGMT_ERR_NOMEM;
        return;
    }
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

void lint_report_names(section_ctx *c, dm_lint_rule rule, size_t tok, const char *before,
                       lname first, const char *between, lname second, const char *after)
{
    lint_report_at(c, rule, tok, "%s%.*s%s%.*s%s", before, (int)first.len, first.s, between,
                   (int)second.len, second.s, after);
}

static void finding_json(dm_json *j, const void *record, const void *with_step)
{
    const dm_lint_finding *f = record;
    dm_json_object_begin(j);
    dm_findings_json_text(j, "rule", dm_lint_rule_id(f->rule));
    dm_findings_json_text(j, "severity", dm_lint_severity_name(f->severity));
    if (*(const int *)with_step)
        dm_findings_json_int(j, "step", (int64_t)f->step);
    dm_findings_json_text(j, "version", f->version);
    dm_findings_json_text(j, "file", f->file);
    dm_findings_json_int(j, "line", f->line);
    dm_findings_json_text(j, "message", f->message);
    dm_findings_json_text(j, "advice", dm_lint_rule_advice(f->rule));
    dm_json_object_end(j);
}

void dm_lint_findings_json(dm_json *j, const char *key, const dm_lint_findings *f, int with_step)
{
    dm_findings_json_array(j, key, f, sizeof(dm_lint_finding), finding_json, &with_step);
}
