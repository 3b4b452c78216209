/*
 * Alert rules on health figures (docs/alerts.md): a rule fires when its
 * figure is above a threshold (after for_ms of pending, Prometheus's `for`)
 * and resolves at the threshold less its hysteresis band or below, so a
 * figure wavering at the threshold notifies once. Single-threaded, like the
 * header says: no lock, so the callback runs outside any lock by design.
 */
#include "health_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/json.h"

#define DM_ALERT_NAME_MAX 128
#define DM_ALERT_MSG_MAX 512
#define DM_ALERT_DEFAULT_HYSTERESIS 0.1

typedef enum dm_alert_phase {
    DM_ALERT_INACTIVE = 0,
    DM_ALERT_PENDING = 1,
    DM_ALERT_ACTIVE = 2 /* firing */
} dm_alert_phase;

typedef struct dm_alert_rule {
    char *name;
    int32_t metric;
    double threshold;
    int32_t severity;
    int64_t for_ms;
    double hysteresis;
    dm_alert_phase phase;
    int64_t since_ms;  /* when the phase began */
    int has_since;     /* 0 until the rule's first change of phase */
    double last_value; /* the last value evaluated */
    int has_last;
} dm_alert_rule;

struct dbmgmt_alerts {
    dm_alert_rule *rules;
    size_t nrules;
    size_t cap;
    dbmgmt_alert_fn fn;
    void *userdata;
    int in_callback; /* set while fn runs: the rule set must not change then */
};

typedef struct default_rule {
    const char *name;
    int32_t metric;
    double threshold;
    int32_t severity;
} default_rule;

/* Seed 003's alert table plus seed 004's replication lag (docs/alerts.md). */
static const default_rule default_rules[] = {
    {"pool_usage_high", DBMGMT_HEALTH_POOL_USAGE_RATIO, 0.8, DBMGMT_ALERT_WARNING},
    {"pool_waiting_high", DBMGMT_HEALTH_POOL_WAITING, 10, DBMGMT_ALERT_CRITICAL},
    {"slow_queries_high", DBMGMT_HEALTH_SLOW_QUERIES_PER_MINUTE, 100, DBMGMT_ALERT_WARNING},
    {"replication_lag_critical", DBMGMT_HEALTH_REPLICATION_LAG_SECONDS, 60,
     DBMGMT_ALERT_CRITICAL},
    {"replication_lag_high", DBMGMT_HEALTH_REPLICATION_LAG_SECONDS, 10, DBMGMT_ALERT_WARNING},
    {"disk_usage_high", DBMGMT_HEALTH_DISK_USED_RATIO, 0.8, DBMGMT_ALERT_WARNING},
    {"deadlocks_high", DBMGMT_HEALTH_DEADLOCKS_PER_HOUR, 5, DBMGMT_ALERT_WARNING},
};

/*
 * The value at or below which a firing rule resolves: the threshold less
 * hysteresis × |threshold| (so a negative threshold's band lies below it
 * too). A threshold of 0 has no band: the rule resolves when the figure is
 * back to 0, since any floor below 0 would never resolve on the figures
 * that cannot go negative (counts, rates, ratios).
 */
static double resolve_bound(const dm_alert_rule *r)
{
    return r->threshold - r->hysteresis * fabs(r->threshold);
}

/* value <= bound, allowing for the rounding of threshold × hysteresis (so
 * 0.72 counts as at the bound 0.8 − 0.08). */
static int at_or_below(double value, double bound)
{
    return value <= bound + 1e-9 * fmax(1.0, fabs(bound));
}

static const char *severity_name(int32_t severity)
{
    return severity == DBMGMT_ALERT_CRITICAL ? "critical" : "warning";
}

static const char *phase_name(dm_alert_phase phase)
{
    switch (phase) {
    case DM_ALERT_PENDING:
        return "pending";
    case DM_ALERT_ACTIVE:
        return "firing";
    default:
        return "inactive";
    }
}

static dm_alert_rule *find_rule(const dbmgmt_alerts *a, const char *name, size_t *index)
{
    for (size_t i = 0; i < a->nrules; i++) {
        if (!strcmp(a->rules[i].name, name)) {
            if (index)
                *index = i;
            return &a->rules[i];
        }
    }
    return NULL;
}

/* The settings' checks; each message names the rule and the setting. */
static int check_rule(const char *name, int32_t metric, double threshold, int32_t severity,
                      int64_t for_ms, double hysteresis)
{
    const char *fn = "dbmgmt_alerts_set_rule";
    if (!name || !name[0])
        return dm_error_invalid(fn, "the rule's name is NULL or empty");
    if (strlen(name) > DM_ALERT_NAME_MAX)
        return dm_error_set(NULL, DBMGMT_ERR_INVALID,
                            "%s: rule \"%.40s...\": the name is longer than %d bytes", fn,
                            name, DM_ALERT_NAME_MAX);
    if (!dbmgmt_health_metric_name(metric))
        return dm_error_set(NULL, DBMGMT_ERR_INVALID,
                            "%s: rule \"%s\": metric %d is not a dbmgmt_health_metric", fn, name,
                            (int)metric);
    if (!isfinite(threshold))
        return dm_error_set(NULL, DBMGMT_ERR_INVALID,
                            "%s: rule \"%s\": threshold is %s, not a finite number", fn, name,
                            isnan(threshold) ? "NaN" : "infinite");
    if (severity != DBMGMT_ALERT_WARNING && severity != DBMGMT_ALERT_CRITICAL)
        return dm_error_set(NULL, DBMGMT_ERR_INVALID,
                            "%s: rule \"%s\": severity %d is neither DBMGMT_ALERT_WARNING (1) "
                            "nor DBMGMT_ALERT_CRITICAL (2)",
                            fn, name, (int)severity);
    if (for_ms < 0)
        return dm_error_set(NULL, DBMGMT_ERR_INVALID,
                            "%s: rule \"%s\": for_ms is %lld, below 0", fn, name,
                            (long long)for_ms);
    if (!(hysteresis >= 0.0 && hysteresis <= 1.0))
        return dm_error_set(NULL, DBMGMT_ERR_INVALID,
                            "%s: rule \"%s\": hysteresis is %g, outside 0..1", fn, name,
                            hysteresis);
    return DBMGMT_OK;
}

static int refuse_in_callback(const dbmgmt_alerts *a, const char *fn)
{
    if (!a->in_callback)
        return DBMGMT_OK;
    return dm_error_invalid(fn, "called from the alert set's own callback (the rule set "
                                "cannot change while it is being evaluated)");
}

static void rule_reset(dm_alert_rule *r)
{
    r->phase = DM_ALERT_INACTIVE;
    r->has_since = 0;
    r->since_ms = 0;
    r->has_last = 0;
    r->last_value = 0;
}

static int add_rule(dbmgmt_alerts *a, const char *name, int32_t metric)
{
    if (a->nrules == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        dm_alert_rule *rules = dm_realloc(a->rules, cap * sizeof *rules);
        if (!rules)
            return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "dbmgmt_alerts_set_rule: out of memory");
        a->rules = rules;
        a->cap = cap;
    }
    dm_alert_rule *r = &a->rules[a->nrules];
    memset(r, 0, sizeof *r);
    r->name = dm_strdup(name);
    if (!r->name)
        return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "dbmgmt_alerts_set_rule: out of memory");
    r->metric = metric;
    a->nrules++;
    return DBMGMT_OK;
}

/*
 * A new rule goes last; a rule of the same name is replaced in place. On
 * the same metric it keeps its state, which the next sample judges by the
 * new settings; on another metric it starts inactive (a firing one resolves
 * silently, as remove_rule does).
 */
DBMGMT_API int dbmgmt_alerts_set_rule(dbmgmt_alerts *a, const char *name, int32_t metric,
                                      double threshold, int32_t severity, int64_t for_ms,
                                      double hysteresis)
{
    if (!a)
        return dm_error_invalid("dbmgmt_alerts_set_rule", "a is NULL");
    int rc = refuse_in_callback(a, "dbmgmt_alerts_set_rule");
    if (rc == DBMGMT_OK)
        rc = check_rule(name, metric, threshold, severity, for_ms, hysteresis);
    if (rc != DBMGMT_OK)
        return rc;
    dm_alert_rule *r = find_rule(a, name, NULL);
    if (!r) {
        if ((rc = add_rule(a, name, metric)) != DBMGMT_OK)
            return rc;
        r = &a->rules[a->nrules - 1];
    } else if (r->metric != metric) {
        rule_reset(r);
        r->metric = metric;
    }
    r->threshold = threshold;
    r->severity = severity;
    r->for_ms = for_ms;
    r->hysteresis = hysteresis;
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_alerts_remove_rule(dbmgmt_alerts *a, const char *name)
{
    if (!a || !name)
        return dm_error_invalid("dbmgmt_alerts_remove_rule", a ? "name is NULL" : "a is NULL");
    int rc = refuse_in_callback(a, "dbmgmt_alerts_remove_rule");
    if (rc != DBMGMT_OK)
        return rc;
    size_t i;
    if (!find_rule(a, name, &i))
        return dm_error_set(NULL, DBMGMT_ERR_NOTFOUND,
                            "dbmgmt_alerts_remove_rule: no rule named \"%s\"", name);
    dm_free(a->rules[i].name);
    memmove(&a->rules[i], &a->rules[i + 1], (a->nrules - i - 1) * sizeof a->rules[0]);
    a->nrules--;
    return DBMGMT_OK;
}

DBMGMT_API void dbmgmt_alerts_free(dbmgmt_alerts *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nrules; i++)
        dm_free(a->rules[i].name);
    dm_free(a->rules);
    dm_free(a);
}

DBMGMT_API int dbmgmt_alerts_new(dbmgmt_alerts **out)
{
    if (!out)
        return dm_error_invalid("dbmgmt_alerts_new", "out is NULL");
    *out = NULL;
    dbmgmt_alerts *a = dm_calloc(1, sizeof *a);
    if (!a)
        return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "dbmgmt_alerts_new: out of memory");
    for (size_t i = 0; i < sizeof default_rules / sizeof default_rules[0]; i++) {
        const default_rule *d = &default_rules[i];
        int rc = dbmgmt_alerts_set_rule(a, d->name, d->metric, d->threshold, d->severity, 0,
                                        DM_ALERT_DEFAULT_HYSTERESIS);
        if (rc != DBMGMT_OK) {
            dbmgmt_alerts_free(a);
            return rc;
        }
    }
    *out = a;
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_alerts_set_callback(dbmgmt_alerts *a, dbmgmt_alert_fn fn, void *userdata)
{
    if (!a)
        return dm_error_invalid("dbmgmt_alerts_set_callback", "a is NULL");
    a->fn = fn;
    a->userdata = userdata;
    return DBMGMT_OK;
}

/* ---- evaluation ---------------------------------------------------------- */

static void enter_phase(dm_alert_rule *r, dm_alert_phase phase, int64_t now_ms)
{
    r->phase = phase;
    r->since_ms = now_ms;
    r->has_since = 1;
}

/*
 * One sample for one rule. Returns DBMGMT_ALERT_FIRING or _RESOLVED when
 * the rule began firing or resolved (the callback's news), else 0. Pending
 * is Prometheus's: the condition must hold on every sample for for_ms, and
 * a sample at or below the threshold ends it without a word.
 */
static int32_t rule_step(dm_alert_rule *r, double value, int64_t now_ms)
{
    r->last_value = value;
    r->has_last = 1;
    int above = value > r->threshold;
    switch (r->phase) {
    case DM_ALERT_INACTIVE:
        if (!above)
            return 0;
        if (r->for_ms > 0) {
            enter_phase(r, DM_ALERT_PENDING, now_ms);
            return 0;
        }
        enter_phase(r, DM_ALERT_ACTIVE, now_ms);
        return DBMGMT_ALERT_FIRING;
    case DM_ALERT_PENDING:
        if (!above) {
            enter_phase(r, DM_ALERT_INACTIVE, now_ms);
            return 0;
        }
        if (now_ms - r->since_ms < r->for_ms)
            return 0;
        enter_phase(r, DM_ALERT_ACTIVE, now_ms);
        return DBMGMT_ALERT_FIRING;
    case DM_ALERT_ACTIVE:
        if (!at_or_below(value, resolve_bound(r)))
            return 0;
        enter_phase(r, DM_ALERT_INACTIVE, now_ms);
        return DBMGMT_ALERT_RESOLVED;
    }
    return 0;
}

static void format_message(char *msg, size_t cap, const dm_alert_rule *r, int32_t state)
{
    const char *figure = dbmgmt_health_metric_name(r->metric);
    if (state == DBMGMT_ALERT_FIRING)
        snprintf(msg, cap, "%s alert %s fired: %s is %g, above the threshold %g",
                 severity_name(r->severity), r->name, figure, r->last_value, r->threshold);
    else
        snprintf(msg, cap,
                 "%s alert %s resolved: %s is %g, at or below %g (the threshold %g less "
                 "its %g %% hysteresis)",
                 severity_name(r->severity), r->name, figure, r->last_value, resolve_bound(r),
                 r->threshold, r->hysteresis * 100);
}

/* Tell the callback; copies of the name and message, so nothing it reads
 * belongs to the rule set during the call. */
static void notify(dbmgmt_alerts *a, const dm_alert_rule *r, int32_t state)
{
    if (!a->fn)
        return;
    char name[DM_ALERT_NAME_MAX + 1], msg[DM_ALERT_MSG_MAX];
    snprintf(name, sizeof name, "%s", r->name);
    format_message(msg, sizeof msg, r, state);
    a->in_callback = 1;
    a->fn(a->userdata, name, state, r->severity, r->last_value, msg);
    a->in_callback = 0;
}

static int32_t count_firing(const dbmgmt_alerts *a)
{
    int32_t n = 0;
    for (size_t i = 0; i < a->nrules; i++)
        n += a->rules[i].phase == DM_ALERT_ACTIVE;
    return n;
}

/* One value for one rule, and the news to the callback. A NaN is no figure:
 * like an absent one, it leaves the rule as it is. */
static void judge(dbmgmt_alerts *a, dm_alert_rule *r, double value, int64_t now_ms)
{
    if (isnan(value))
        return;
    int32_t news = rule_step(r, value, now_ms);
    if (news)
        notify(a, r, news);
}

DBMGMT_API int32_t dbmgmt_alerts_evaluate(dbmgmt_alerts *a, const dbmgmt_health *h)
{
    if (!a || !h)
        return dm_error_invalid("dbmgmt_alerts_evaluate", a ? "h is NULL" : "a is NULL");
    int rc = refuse_in_callback(a, "dbmgmt_alerts_evaluate");
    if (rc != DBMGMT_OK)
        return rc;
    for (size_t i = 0; i < a->nrules; i++) {
        dm_alert_rule *r = &a->rules[i];
        if (h->present[r->metric])
            judge(a, r, h->value[r->metric], h->collected_at_ms);
    }
    return count_firing(a);
}

DBMGMT_API int32_t dbmgmt_alerts_observe(dbmgmt_alerts *a, int32_t metric, double value,
                                         int64_t now_ms)
{
    if (!a)
        return dm_error_invalid("dbmgmt_alerts_observe", "a is NULL");
    if (!dbmgmt_health_metric_name(metric))
        return dm_error_invalid("dbmgmt_alerts_observe", "metric is not a dbmgmt_health_metric");
    int rc = refuse_in_callback(a, "dbmgmt_alerts_observe");
    if (rc != DBMGMT_OK)
        return rc;
    for (size_t i = 0; i < a->nrules; i++)
        if (a->rules[i].metric == metric)
            judge(a, &a->rules[i], value, now_ms);
    return count_firing(a);
}

/* ---- JSON and the exposition's accessors ---------------------------------- */

static void rule_to_json(dm_json *j, const dm_alert_rule *r)
{
    dm_json_object_begin(j);
    dm_json_key(j, "name");
    dm_json_string(j, r->name);
    dm_json_key(j, "metric");
    dm_json_string(j, dbmgmt_health_metric_name(r->metric));
    dm_json_key(j, "threshold");
    dm_json_double(j, r->threshold);
    dm_json_key(j, "severity");
    dm_json_string(j, severity_name(r->severity));
    dm_json_key(j, "for_ms");
    dm_json_int(j, r->for_ms);
    dm_json_key(j, "hysteresis");
    dm_json_double(j, r->hysteresis);
    dm_json_key(j, "resolve_at");
    dm_json_double(j, resolve_bound(r));
    dm_json_key(j, "state");
    dm_json_string(j, phase_name(r->phase));
    dm_json_key(j, "value");
    if (r->has_last)
        dm_json_double(j, r->last_value);
    else
        dm_json_null(j);
    dm_json_key(j, "since_ms");
    if (r->has_since)
        dm_json_int(j, r->since_ms);
    else
        dm_json_null(j);
    dm_json_object_end(j);
}

DBMGMT_API char *dbmgmt_alerts_to_json(const dbmgmt_alerts *a)
{
    if (!a) {
        dm_error_invalid("dbmgmt_alerts_to_json", "a is NULL");
        return NULL;
    }
    dm_buf b = DM_BUF_INIT;
    dm_json j;
    dm_json_init(&j, &b);
    dm_json_object_begin(&j);
    dm_json_key(&j, "rules");
    dm_json_array_begin(&j);
    for (size_t i = 0; i < a->nrules; i++)
        rule_to_json(&j, &a->rules[i]);
    dm_json_array_end(&j);
    dm_json_key(&j, "firing");
    dm_json_int(&j, count_firing(a));
    dm_json_object_end(&j);
    if (dm_json_failed(&j)) {
        dm_buf_free(&b);
        dm_error_set(NULL, DBMGMT_ERR_NOMEM, "dbmgmt_alerts_to_json: out of memory");
        return NULL;
    }
    return dm_buf_detach(&b);
}

size_t dm_alerts_count(const dbmgmt_alerts *a)
{
    return a ? a->nrules : 0;
}

const char *dm_alerts_rule_name(const dbmgmt_alerts *a, size_t i)
{
    return a && i < a->nrules ? a->rules[i].name : NULL;
}

int32_t dm_alerts_rule_metric(const dbmgmt_alerts *a, size_t i)
{
    return a && i < a->nrules ? a->rules[i].metric : -1;
}

int32_t dm_alerts_rule_severity(const dbmgmt_alerts *a, size_t i)
{
    return a && i < a->nrules ? a->rules[i].severity : 0;
}

int dm_alerts_rule_firing(const dbmgmt_alerts *a, size_t i)
{
    return a && i < a->nrules && a->rules[i].phase == DM_ALERT_ACTIVE;
}
