/*
 * Suppressions: `-- dbmgmt:allow RULE reason` comments (docs/lint.md,
 * "Silencing a finding"). They live in the gaps between a section's tokens;
 * each applies to one statement, or to the whole section for the
 * whole-migration rules. The rules allow-without-reason and unused-allow
 * report the comments that silence nothing (an allow of a rule that does not
 * run here, a galera-* rule without Galera, is not unused: the same file is
 * linted for a Galera cluster elsewhere).
 */
#include <string.h>

#include "core/alloc.h"
#include "lint/lint_impl.h"

typedef struct lint_allow {
    int32_t line; /* file line of the comment */
    int trailing; /* written after a statement's tokens on the same line */
    int rule;     /* -1: unknown rule */
    const char *rule_text;
    size_t rule_len;
    int has_reason;
    long target; /* statement it applies to; -1: none */
    int used;
} lint_allow;

static lint_allow *allow_push(dm_linter *lt)
{
    lint_allow *grown = lint_grow(lt->allows, lt->nallows, &lt->allows_cap, sizeof *grown, 8);
    if (!grown)
        return NULL;
    lt->allows = grown;
    lint_allow *a = &grown[lt->nallows++];
    memset(a, 0, sizeof *a);
    return a;
}

static const char ALLOW_MARK[] = "dbmgmt:allow";
#define ALLOW_MARK_LEN (sizeof ALLOW_MARK - 1)

static const char *find_allow_mark(const char *p, size_t n)
{
    while (n >= ALLOW_MARK_LEN) {
        const char *d = memchr(p, 'd', n - ALLOW_MARK_LEN + 1);
        if (!d)
            return NULL;
        if (memcmp(d, ALLOW_MARK, ALLOW_MARK_LEN) == 0)
            return d;
        n -= (size_t)(d - p) + 1;
        p = d + 1;
    }
    return NULL;
}

/* One `dbmgmt:allow RULE reason` at p (inside a comment ending at or before end). */
static int parse_allow(dm_linter *lt, const char *p, const char *end, int32_t line, int trailing)
{
    lint_allow *a = allow_push(lt);
    if (!a)
        return DBMGMT_ERR_NOMEM;
    a->line = line;
    a->trailing = trailing;
    a->target = -1;
    const char *q = p + ALLOW_MARK_LEN;
    while (q < end && (*q == ' ' || *q == '\t'))
        q++;
    a->rule_text = q;
    while (q < end && ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                       (*q >= '0' && *q <= '9') || *q == '-' || *q == '_'))
        q++;
    a->rule_len = (size_t)(q - a->rule_text);
    a->rule = lint_rule_by_id(a->rule_text, a->rule_len);
    const char *r = q;
    while (r < end && *r != '\n' && !(r + 1 < end && r[0] == '*' && r[1] == '/')) {
        if (!(*r == ' ' || *r == '\t' || *r == '\r'))
            a->has_reason = 1;
        r++;
    }
    return DBMGMT_OK;
}

/* Find every allow comment: they live in the gaps between the section's
 * tokens, which hold only blanks and comments. */
int lint_collect_allows(dm_linter *lt, const dm_section *s)
{
    lt->nallows = 0;
    if (!s->sql || !find_allow_mark(s->sql, s->len))
        return DBMGMT_OK;
    dm_sql_lexer lx;
    dm_sql_lexer_init(&lx, lt->dialect, s->sql, s->len, 0);
    lx.plain_words = 1;
    dm_sql_token tok;
    size_t prev_end = 0, lpos = 0;
    int have_prev = 0, more = 1;
    int32_t line = s->line;
    while (more) {
        more = dm_sql_lexer_next(&lx, &tok) == 1;
        size_t gap_end = more ? tok.offset : s->len;
        const char *g = s->sql + prev_end, *gend = s->sql + gap_end;
        while (g < gend) {
            const char *hit = find_allow_mark(g, (size_t)(gend - g));
            if (!hit)
                break;
            size_t at = (size_t)(hit - s->sql);
            line += (int32_t)lint_count_newlines(s->sql + lpos, at - lpos);
            lpos = at;
            int trailing = have_prev && !memchr(s->sql + prev_end, '\n', at - prev_end);
            if (parse_allow(lt, hit, gend, line, trailing) != DBMGMT_OK)
                return DBMGMT_ERR_NOMEM;
            g = hit + 1;
        }
        if (more) {
            prev_end = tok.offset + tok.len;
            have_prev = 1;
        }
    }
    return DBMGMT_OK;
}

/* Which statement each allow applies to: a trailing comment to the
 * statement it ends; a comment on its own line inside a statement to that
 * statement; otherwise to the next statement. */
void lint_target_allows(dm_linter *lt, const stmt_span *spans, size_t n)
{
    lint_allow *allows = lt->allows;
    for (size_t k = 0; k < lt->nallows; k++) {
        lint_allow *a = &allows[k];
        for (size_t i = 0; i < n; i++) {
            if (a->trailing ? spans[i].first <= a->line
                            : (spans[i].first < a->line && a->line <= spans[i].last) ||
                                  spans[i].first > a->line)
                a->target = (long)i;
            if (!a->trailing && a->target >= 0)
                break;
        }
    }
}

static int finding_not_suppressed(const void *record)
{
    return !((const dm_lint_finding *)record)->suppressed;
}

/* Drop the findings from first on that an allow with a reason silences. */
static void drop_allowed_findings(dm_linter *lt, dm_lint_findings *f, size_t first)
{
    lint_allow *allows = lt->allows;
    for (size_t i = first; i < f->count; i++) {
        dm_lint_finding *x = dm_findings_get_mut(f, sizeof *x, i);
        for (size_t k = 0; k < lt->nallows; k++) {
            lint_allow *a = &allows[k];
            if (a->has_reason && a->rule == (int)x->rule && (x->stmt < 0 || a->target == x->stmt)) {
                a->used = 1;
                x->suppressed = 1;
            }
        }
    }
    dm_findings_filter(f, sizeof(dm_lint_finding), first, finding_not_suppressed,
                       lint_finding_release);
}

/* allow-without-reason, unused-allow */
static void report_idle_allows(section_ctx *c)
{
    const lint_allow *allows = c->lt->allows;
    for (size_t k = 0; k < c->lt->nallows; k++) {
        const lint_allow *a = &allows[k];
        if (a->rule < 0)
            lint_report(c, DM_LINT_UNUSED_ALLOW, -1, a->line,
                        "`dbmgmt:allow %.*s` names no known rule: it silences nothing",
                        (int)a->rule_len, a->rule_text);
        else if (!a->has_reason)
            lint_report(c, DM_LINT_ALLOW_WITHOUT_REASON, -1, a->line,
                        "`dbmgmt:allow %.*s` gives no reason, so it silences nothing",
                        (int)a->rule_len, a->rule_text);
        else if (!a->used && lint_rule_active(c->lt, (dm_lint_rule)a->rule))
            lint_report(c, DM_LINT_UNUSED_ALLOW, -1, a->line,
                        "`dbmgmt:allow %.*s` silences nothing: no such finding on the statement "
                        "it applies to",
                        (int)a->rule_len, a->rule_text);
    }
}

void lint_apply_allows(section_ctx *c, size_t first)
{
    drop_allowed_findings(c->lt, c->out, first);
    report_idle_allows(c);
}
