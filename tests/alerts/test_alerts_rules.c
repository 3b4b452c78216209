/*
 * Alert rules (issue 20, docs/alerts.md) driven by dbmgmt_alerts_observe()
 * with an injected clock: every default rule fires above its threshold and
 * resolves at its hysteresis bound, a figure wavering at the threshold
 * notifies once, for_ms keeps a rule pending, the rule set can be changed,
 * the JSON says all of it, and bad settings are refused by name. Links the
 * internal archive for the exposition's accessors (dm_alerts_*).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "dbmgmt.h"
#include "health/health_impl.h"

/* ---- the callback's record ----------------------------------------------- */

#define MAX_NOTES 64
typedef struct note {
    char rule[160];
    int32_t state;
    int32_t severity;
    double value;
    char message[600];
} note;

typedef struct notes {
    int count;
    note n[MAX_NOTES];
} notes;

static void record(void *userdata, const char *rule, int32_t state, int32_t severity,
                   double value, const char *message)
{
    notes *log = userdata;
    if (log->count >= MAX_NOTES)
        fail_msg("more than %d alert callbacks", MAX_NOTES);
    note *n = &log->n[log->count++];
    snprintf(n->rule, sizeof n->rule, "%s", rule);
    n->state = state;
    n->severity = severity;
    n->value = value;
    snprintf(n->message, sizeof n->message, "%s", message);
}

static int count_notes(const notes *log, const char *rule, int32_t state)
{
    int k = 0;
    for (int i = 0; i < log->count; i++)
        k += !strcmp(log->n[i].rule, rule) && log->n[i].state == state;
    return k;
}

static dbmgmt_alerts *alerts_with(notes *log)
{
    dbmgmt_alerts *a = NULL;
    assert_int_equal(dbmgmt_alerts_new(&a), DBMGMT_OK);
    assert_non_null(a);
    memset(log, 0, sizeof *log);
    assert_int_equal(dbmgmt_alerts_set_callback(a, record, log), DBMGMT_OK);
    return a;
}

/* The rule's object in the alert set's JSON, as text (caller frees). */
static char *rule_json(const dbmgmt_alerts *a, const char *name)
{
    char *json = dbmgmt_alerts_to_json(a);
    assert_non_null(json);
    char key[200];
    snprintf(key, sizeof key, "{\"name\":\"%s\"", name);
    char *start = strstr(json, key);
    if (!start)
        fail_msg("no rule %s in %s", name, json);
    char *end = strchr(start, '}');
    assert_non_null(end);
    size_t len = (size_t)(end - start + 1);
    char *obj = malloc(len + 1);
    assert_non_null(obj);
    memcpy(obj, start, len);
    obj[len] = '\0';
    dbmgmt_free(json);
    return obj;
}

static void assert_rule_json_has(const dbmgmt_alerts *a, const char *name, const char *part)
{
    char *obj = rule_json(a, name);
    if (!strstr(obj, part))
        fail_msg("rule %s: %s lacks %s", name, obj, part);
    free(obj);
}

/* ---- the defaults ---------------------------------------------------------- */

typedef struct expected_rule {
    const char *name;
    int32_t metric;
    double threshold;
    int32_t severity;
    double resolve_at; /* threshold × 0.9 */
} expected_rule;

static const expected_rule defaults[] = {
    {"pool_usage_high", DBMGMT_HEALTH_POOL_USAGE_RATIO, 0.8, DBMGMT_ALERT_WARNING, 0.72},
    {"pool_waiting_high", DBMGMT_HEALTH_POOL_WAITING, 10, DBMGMT_ALERT_CRITICAL, 9},
    {"slow_queries_high", DBMGMT_HEALTH_SLOW_QUERIES_PER_MINUTE, 100, DBMGMT_ALERT_WARNING, 90},
    {"replication_lag_critical", DBMGMT_HEALTH_REPLICATION_LAG_SECONDS, 60,
     DBMGMT_ALERT_CRITICAL, 54},
    {"replication_lag_high", DBMGMT_HEALTH_REPLICATION_LAG_SECONDS, 10, DBMGMT_ALERT_WARNING, 9},
    {"disk_usage_high", DBMGMT_HEALTH_DISK_USED_RATIO, 0.8, DBMGMT_ALERT_WARNING, 0.72},
    {"deadlocks_high", DBMGMT_HEALTH_DEADLOCKS_PER_HOUR, 5, DBMGMT_ALERT_WARNING, 4.5},
};
#define NDEFAULTS (sizeof defaults / sizeof defaults[0])

static void test_defaults_are_the_seven_rules_in_order(void **state)
{
    (void)state;
    dbmgmt_alerts *a = NULL;
    assert_int_equal(dbmgmt_alerts_new(&a), DBMGMT_OK);
    assert_int_equal(dm_alerts_count(a), NDEFAULTS);
    for (size_t i = 0; i < NDEFAULTS; i++) {
        assert_string_equal(dm_alerts_rule_name(a, i), defaults[i].name);
        assert_int_equal(dm_alerts_rule_metric(a, i), defaults[i].metric);
        assert_int_equal(dm_alerts_rule_severity(a, i), defaults[i].severity);
        assert_int_equal(dm_alerts_rule_firing(a, i), 0);
        assert_rule_json_has(a, defaults[i].name, "\"for_ms\":0,");
        assert_rule_json_has(a, defaults[i].name, "\"state\":\"inactive\"");
        assert_rule_json_has(a, defaults[i].name, "\"value\":null");
        assert_rule_json_has(a, defaults[i].name, "\"since_ms\":null");
    }
    assert_null(dm_alerts_rule_name(a, NDEFAULTS));
    assert_int_equal(dm_alerts_rule_firing(a, NDEFAULTS), 0);
    dbmgmt_alerts_free(a);
}

/* A value just above the rule's threshold (for the replication pair, one
 * that crosses only the rule named). */
static double just_above(double threshold)
{
    return threshold + fmax(0.01, fabs(threshold) * 0.01);
}

static void test_each_default_rule_fires_above_and_resolves_at_its_bound(void **state)
{
    (void)state;
    for (size_t i = 0; i < NDEFAULTS; i++) {
        const expected_rule *e = &defaults[i];
        notes log;
        dbmgmt_alerts *a = alerts_with(&log);
        int64_t t = 1000000;
        /* at the threshold: not above, nothing happens to this rule */
        dbmgmt_alerts_observe(a, e->metric, e->threshold, t);
        assert_int_equal(count_notes(&log, e->name, DBMGMT_ALERT_FIRING), 0);
        int32_t firing = dbmgmt_alerts_observe(a, e->metric, just_above(e->threshold), t + 1);
        assert_true(firing >= 1);
        assert_int_equal(count_notes(&log, e->name, DBMGMT_ALERT_FIRING), 1);
        const note *n = NULL;
        for (int k = 0; k < log.count; k++)
            if (!strcmp(log.n[k].rule, e->name))
                n = &log.n[k];
        assert_non_null(n);
        assert_int_equal(n->severity, e->severity);
        assert_true(n->value == just_above(e->threshold));
        assert_non_null(strstr(n->message, e->name));
        assert_non_null(strstr(n->message, dbmgmt_health_metric_name(e->metric)));
        assert_non_null(strstr(n->message, "above the threshold"));
        assert_rule_json_has(a, e->name, "\"state\":\"firing\"");
        assert_rule_json_has(a, e->name, "\"since_ms\":1000001}");

        /* between the bound and the threshold it keeps firing ... */
        double between = (e->threshold + e->resolve_at) / 2;
        dbmgmt_alerts_observe(a, e->metric, between, t + 2);
        assert_int_equal(count_notes(&log, e->name, DBMGMT_ALERT_RESOLVED), 0);
        /* ... and at the bound (threshold × 0.9) it resolves */
        dbmgmt_alerts_observe(a, e->metric, e->resolve_at, t + 3);
        assert_int_equal(count_notes(&log, e->name, DBMGMT_ALERT_RESOLVED), 1);
        assert_int_equal(count_notes(&log, e->name, DBMGMT_ALERT_FIRING), 1);
        assert_string_equal(log.n[log.count - 1].rule, e->name);
        assert_non_null(strstr(log.n[log.count - 1].message, "resolved"));
        assert_rule_json_has(a, e->name, "\"state\":\"inactive\"");
        assert_rule_json_has(a, e->name, "\"since_ms\":1000003}");
        dbmgmt_alerts_free(a);
    }
}

/* The message is a sentence with the rule, the figure, the value and the
 * threshold. */
static void test_messages_name_rule_figure_value_and_threshold(void **state)
{
    (void)state;
    notes log;
    dbmgmt_alerts *a = alerts_with(&log);
    dbmgmt_alerts_observe(a, DBMGMT_HEALTH_POOL_WAITING, 12, 1);
    dbmgmt_alerts_observe(a, DBMGMT_HEALTH_POOL_WAITING, 9, 2);
    assert_int_equal(log.count, 2);
    assert_string_equal(log.n[0].message, "critical alert pool_waiting_high fired: "
                                          "pool_waiting is 12, above the threshold 10");
    assert_int_equal(log.n[0].severity, DBMGMT_ALERT_CRITICAL);
    assert_string_equal(log.n[1].message,
                        "critical alert pool_waiting_high resolved: pool_waiting is 9, at or "
                        "below 9 (the threshold 10 less its 10 % hysteresis)");
    assert_int_equal(log.n[1].state, DBMGMT_ALERT_RESOLVED);
    dbmgmt_alerts_free(a);
}

/* pool_waiting counts threads: 11 fires, 10 (the threshold) keeps firing,
 * 9 (10 × 0.9) resolves. */
static void test_pool_waiting_integers_resolve_at_nine(void **state)
{
    (void)state;
    notes log;
    dbmgmt_alerts *a = alerts_with(&log);
    assert_int_equal(dbmgmt_alerts_observe(a, DBMGMT_HEALTH_POOL_WAITING, 10, 1), 0);
    assert_int_equal(dbmgmt_alerts_observe(a, DBMGMT_HEALTH_POOL_WAITING, 11, 2), 1);
    assert_int_equal(dbmgmt_alerts_observe(a, DBMGMT_HEALTH_POOL_WAITING, 10, 3), 1);
    assert_int_equal(dbmgmt_alerts_observe(a, DBMGMT_HEALTH_POOL_WAITING, 9, 4), 0);
    assert_int_equal(log.count, 2);
    dbmgmt_alerts_free(a);
}

/* Replication lag of 61 s fires both lag rules, each once. */
static void test_lag_above_a_minute_fires_both_lag_rules(void **state)
{
    (void)state;
    notes log;
    dbmgmt_alerts *a = alerts_with(&log);
    int32_t lag = DBMGMT_HEALTH_REPLICATION_LAG_SECONDS;
    assert_int_equal(dbmgmt_alerts_observe(a, lag, 61, 1), 2);
    assert_int_equal(count_notes(&log, "replication_lag_critical", DBMGMT_ALERT_FIRING), 1);
    assert_int_equal(count_notes(&log, "replication_lag_high", DBMGMT_ALERT_FIRING), 1);
    /* 30 s: the critical one resolves (≤ 54), the warning stays */
    assert_int_equal(dbmgmt_alerts_observe(a, lag, 30, 2), 1);
    assert_int_equal(count_notes(&log, "replication_lag_critical", DBMGMT_ALERT_RESOLVED), 1);
    assert_int_equal(count_notes(&log, "replication_lag_high", DBMGMT_ALERT_RESOLVED), 0);
    dbmgmt_alerts_free(a);
}

/* 0.81 / 0.79 for 100 samples: one callback, firing, never resolved. */
static void test_wavering_at_the_threshold_notifies_once(void **state)
{
    (void)state;
    notes log;
    dbmgmt_alerts *a = alerts_with(&log);
    for (int i = 0; i < 100; i++) {
        double v = i % 2 == 0 ? 0.81 : 0.79;
        assert_int_equal(dbmgmt_alerts_observe(a, DBMGMT_HEALTH_POOL_USAGE_RATIO, v, 1000 * i),
                         1);
    }
    assert_int_equal(log.count, 1);
    assert_int_equal(log.n[0].state, DBMGMT_ALERT_FIRING);
    assert_string_equal(log.n[0].rule, "pool_usage_high");
    assert_rule_json_has(a, "pool_usage_high", "\"since_ms\":0}");
    assert_rule_json_has(a, "pool_usage_high", "\"value\":0.79");
    dbmgmt_alerts_free(a);
}

/* ---- for_ms ---------------------------------------------------------------- */

static void test_for_ms_pends_then_fires_after_the_duration(void **state)
{
    (void)state;
    notes log;
    dbmgmt_alerts *a = alerts_with(&log);
    assert_int_equal(dbmgmt_alerts_set_rule(a, "disk_usage_high", DBMGMT_HEALTH_DISK_USED_RATIO,
                                            0.8, DBMGMT_ALERT_WARNING, 60000, 0.1),
                     DBMGMT_OK);
    int32_t m = DBMGMT_HEALTH_DISK_USED_RATIO;
    assert_int_equal(dbmgmt_alerts_observe(a, m, 0.9, 10000), 0);
    assert_rule_json_has(a, "disk_usage_high", "\"state\":\"pending\"");
    assert_rule_json_has(a, "disk_usage_high", "\"since_ms\":10000}");
    assert_int_equal(dbmgmt_alerts_observe(a, m, 0.95, 69999), 0); /* 59.999 s held */
    assert_int_equal(log.count, 0);
    assert_int_equal(dbmgmt_alerts_observe(a, m, 0.85, 70000), 1); /* 60 s held */
    assert_int_equal(log.count, 1);
    assert_int_equal(log.n[0].state, DBMGMT_ALERT_FIRING);
    assert_true(log.n[0].value == 0.85);
    assert_rule_json_has(a, "disk_usage_high", "\"state\":\"firing\"");
    assert_rule_json_has(a, "disk_usage_high", "\"since_ms\":70000}");
    /* resolving is not delayed by for_ms */
    assert_int_equal(dbmgmt_alerts_observe(a, m, 0.5, 70001), 0);
    assert_int_equal(count_notes(&log, "disk_usage_high", DBMGMT_ALERT_RESOLVED), 1);
    dbmgmt_alerts_free(a);
}

/* A pending rule ends without a word at a sample at or below the threshold
 * (even one above the hysteresis bound), and pends afresh afterwards. */
static void test_for_ms_pending_ends_silently_below_the_threshold(void **state)
{
    (void)state;
    notes log;
    dbmgmt_alerts *a = alerts_with(&log);
    assert_int_equal(dbmgmt_alerts_set_rule(a, "slow", DBMGMT_HEALTH_MEAN_QUERY_SECONDS, 2.0,
                                            DBMGMT_ALERT_CRITICAL, 5000, 0.5),
                     DBMGMT_OK);
    int32_t m = DBMGMT_HEALTH_MEAN_QUERY_SECONDS;
    assert_int_equal(dbmgmt_alerts_observe(a, m, 3, 0), 0);
    assert_rule_json_has(a, "slow", "\"state\":\"pending\"");
    assert_int_equal(dbmgmt_alerts_observe(a, m, 2.0, 4000), 0);
    assert_rule_json_has(a, "slow", "\"state\":\"inactive\"");
    assert_int_equal(dbmgmt_alerts_observe(a, m, 3, 6000), 0); /* pends again from 6000 */
    assert_int_equal(dbmgmt_alerts_observe(a, m, 3, 10999), 0);
    assert_int_equal(log.count, 0);
    assert_int_equal(dbmgmt_alerts_observe(a, m, 3, 11000), 1);
    assert_int_equal(log.count, 1);
    assert_string_equal(log.n[0].rule, "slow");
    assert_int_equal(log.n[0].severity, DBMGMT_ALERT_CRITICAL);
    dbmgmt_alerts_free(a);
}

/* ---- changing the rule set -------------------------------------------------- */

static void test_set_rule_replaces_in_place_and_keeps_state_on_same_metric(void **state)
{
    (void)state;
    notes log;
    dbmgmt_alerts *a = alerts_with(&log);
    int32_t m = DBMGMT_HEALTH_POOL_USAGE_RATIO;
    assert_int_equal(dbmgmt_alerts_observe(a, m, 0.85, 1), 1);
    assert_int_equal(dbmgmt_alerts_set_rule(a, "pool_usage_high", m, 0.95,
                                            DBMGMT_ALERT_CRITICAL, 0, 0.2),
                     DBMGMT_OK);
    assert_int_equal(dm_alerts_count(a), NDEFAULTS);
    assert_string_equal(dm_alerts_rule_name(a, 0), "pool_usage_high");
    assert_int_equal(dm_alerts_rule_severity(a, 0), DBMGMT_ALERT_CRITICAL);
    assert_int_equal(dm_alerts_rule_firing(a, 0), 1);
    assert_rule_json_has(a, "pool_usage_high", "\"threshold\":0.94999999999999996");
    /* the new bound is 0.95 × 0.8 = 0.76: 0.85 keeps firing, 0.76 resolves */
    assert_int_equal(dbmgmt_alerts_observe(a, m, 0.85, 2), 1);
    assert_int_equal(dbmgmt_alerts_observe(a, m, 0.76, 3), 0);
    assert_int_equal(log.count, 2);
    assert_int_equal(log.n[1].severity, DBMGMT_ALERT_CRITICAL);
    /* 0.9 is not above the new threshold */
    assert_int_equal(dbmgmt_alerts_observe(a, m, 0.9, 4), 0);
    assert_int_equal(log.count, 2);
    dbmgmt_alerts_free(a);
}

static void test_set_rule_on_another_metric_starts_inactive(void **state)
{
    (void)state;
    notes log;
    dbmgmt_alerts *a = alerts_with(&log);
    assert_int_equal(dbmgmt_alerts_observe(a, DBMGMT_HEALTH_DISK_USED_RATIO, 0.9, 1), 1);
    assert_int_equal(dbmgmt_alerts_set_rule(a, "disk_usage_high", DBMGMT_HEALTH_CACHE_HIT_RATIO,
                                            0.8, DBMGMT_ALERT_WARNING, 0, 0.1),
                     DBMGMT_OK);
    assert_rule_json_has(a, "disk_usage_high", "\"metric\":\"cache_hit_ratio\"");
    assert_rule_json_has(a, "disk_usage_high", "\"state\":\"inactive\"");
    assert_rule_json_has(a, "disk_usage_high", "\"value\":null");
    /* the old figure no longer moves it */
    assert_int_equal(dbmgmt_alerts_observe(a, DBMGMT_HEALTH_DISK_USED_RATIO, 0.1, 2), 0);
    assert_int_equal(log.count, 1);
    dbmgmt_alerts_free(a);
}

static void test_remove_rule_silences_a_firing_rule(void **state)
{
    (void)state;
    notes log;
    dbmgmt_alerts *a = alerts_with(&log);
    int32_t m = DBMGMT_HEALTH_DEADLOCKS_PER_HOUR;
    assert_int_equal(dbmgmt_alerts_observe(a, m, 6, 1), 1);
    assert_int_equal(dbmgmt_alerts_remove_rule(a, "deadlocks_high"), DBMGMT_OK);
    assert_int_equal(dm_alerts_count(a), NDEFAULTS - 1);
    char *json = dbmgmt_alerts_to_json(a);
    assert_null(strstr(json, "deadlocks_high"));
    assert_non_null(strstr(json, "\"firing\":0}"));
    dbmgmt_free(json);
    assert_int_equal(dbmgmt_alerts_observe(a, m, 60, 2), 0);
    assert_int_equal(dbmgmt_alerts_observe(a, m, 0, 3), 0);
    assert_int_equal(log.count, 1);
    assert_int_equal(dbmgmt_alerts_remove_rule(a, "deadlocks_high"), DBMGMT_ERR_NOTFOUND);
    assert_non_null(strstr(dbmgmt_errmsg(), "deadlocks_high"));
    /* the others keep their order */
    assert_string_equal(dm_alerts_rule_name(a, NDEFAULTS - 2), "disk_usage_high");
    dbmgmt_alerts_free(a);
}

/* A custom rule with hysteresis 0 resolves as soon as it is at the
 * threshold; a threshold of 0 resolves when the figure is back to 0. */
static void test_custom_rules_with_zero_hysteresis_and_zero_threshold(void **state)
{
    (void)state;
    notes log;
    dbmgmt_alerts *a = alerts_with(&log);
    int32_t waits = DBMGMT_HEALTH_LOCK_WAITS, unused = DBMGMT_HEALTH_UNUSED_INDEXES;
    assert_int_equal(dbmgmt_alerts_set_rule(a, "lock_waits_any", waits, 0, DBMGMT_ALERT_WARNING,
                                            0, 0.1),
                     DBMGMT_OK);
    assert_int_equal(dbmgmt_alerts_set_rule(a, "unused_indexes", unused, 3,
                                            DBMGMT_ALERT_WARNING, 0, 0),
                     DBMGMT_OK);
    assert_int_equal(dm_alerts_count(a), NDEFAULTS + 2);
    assert_string_equal(dm_alerts_rule_name(a, NDEFAULTS + 1), "unused_indexes");
    assert_int_equal(dbmgmt_alerts_observe(a, waits, 0, 1), 0);
    assert_int_equal(dbmgmt_alerts_observe(a, waits, 1, 2), 1);
    assert_rule_json_has(a, "lock_waits_any", "\"resolve_at\":0,");
    assert_int_equal(dbmgmt_alerts_observe(a, waits, 0, 3), 0);
    assert_int_equal(count_notes(&log, "lock_waits_any", DBMGMT_ALERT_RESOLVED), 1);
    assert_int_equal(dbmgmt_alerts_observe(a, unused, 4, 4), 1);
    assert_int_equal(dbmgmt_alerts_observe(a, unused, 3, 5), 0);
    assert_int_equal(count_notes(&log, "unused_indexes", DBMGMT_ALERT_RESOLVED), 1);
    assert_int_equal(log.count, 4);
    dbmgmt_alerts_free(a);
}

/* Negative thresholds: the band lies below the threshold too. */
static void test_negative_threshold_band_lies_below(void **state)
{
    (void)state;
    notes log;
    dbmgmt_alerts *a = alerts_with(&log);
    int32_t m = DBMGMT_HEALTH_GROWTH_BYTES_PER_DAY;
    assert_int_equal(dbmgmt_alerts_set_rule(a, "shrinking_stopped", m, -1000,
                                            DBMGMT_ALERT_WARNING, 0, 0.1),
                     DBMGMT_OK);
    assert_int_equal(dbmgmt_alerts_observe(a, m, -500, 1), 1);
    assert_int_equal(dbmgmt_alerts_observe(a, m, -1050, 2), 1); /* above -1100 */
    assert_int_equal(dbmgmt_alerts_observe(a, m, -1100, 3), 0);
    assert_int_equal(log.count, 2);
    dbmgmt_alerts_free(a);
}

/* A NaN value is no figure: the state stays. */
static void test_nan_value_keeps_the_state(void **state)
{
    (void)state;
    notes log;
    dbmgmt_alerts *a = alerts_with(&log);
    int32_t m = DBMGMT_HEALTH_POOL_USAGE_RATIO;
    assert_int_equal(dbmgmt_alerts_observe(a, m, 0.9, 1), 1);
    assert_int_equal(dbmgmt_alerts_observe(a, m, NAN, 2), 1);
    assert_rule_json_has(a, "pool_usage_high", "\"value\":0.9");
    assert_int_equal(log.count, 1);
    dbmgmt_alerts_free(a);
}

/* ---- evaluate on a snapshot ------------------------------------------------- */

static void test_evaluate_uses_present_figures_and_the_snapshot_time(void **state)
{
    (void)state;
    notes log;
    dbmgmt_alerts *a = alerts_with(&log);
    dbmgmt_health *h = dm_health_new(DBMGMT_ENGINE_SQLITE, 5000);
    assert_non_null(h);
    dm_health_set(h, DBMGMT_HEALTH_DISK_USED_RATIO, 0.9);
    dm_health_set(h, DBMGMT_HEALTH_POOL_WAITING, 3);
    assert_int_equal(dbmgmt_alerts_evaluate(a, h), 1);
    assert_int_equal(log.count, 1);
    assert_string_equal(log.n[0].rule, "disk_usage_high");
    assert_rule_json_has(a, "disk_usage_high", "\"since_ms\":5000}");
    assert_rule_json_has(a, "pool_waiting_high", "\"value\":3,");
    /* absent figures leave their rules alone */
    assert_rule_json_has(a, "pool_usage_high", "\"value\":null");
    dbmgmt_health *h2 = dm_health_new(DBMGMT_ENGINE_SQLITE, 6000);
    assert_non_null(h2);
    assert_int_equal(dbmgmt_alerts_evaluate(a, h2), 1);
    dm_health_set(h2, DBMGMT_HEALTH_DISK_USED_RATIO, 0.5);
    assert_int_equal(dbmgmt_alerts_evaluate(a, h2), 0);
    assert_int_equal(log.count, 2);
    assert_rule_json_has(a, "disk_usage_high", "\"since_ms\":6000}");
    dbmgmt_health_free(h);
    dbmgmt_health_free(h2);
    dbmgmt_alerts_free(a);
}

/* ---- JSON ---------------------------------------------------------------------- */

static void test_json_shows_every_setting_and_the_firing_count(void **state)
{
    (void)state;
    notes log;
    dbmgmt_alerts *a = alerts_with(&log);
    dbmgmt_alerts_observe(a, DBMGMT_HEALTH_POOL_WAITING, 11, 1234);
    dbmgmt_alerts_observe(a, DBMGMT_HEALTH_DEADLOCKS_PER_HOUR, 7, 1235);
    char *obj = rule_json(a, "pool_waiting_high");
    assert_string_equal(obj, "{\"name\":\"pool_waiting_high\",\"metric\":\"pool_waiting\","
                             "\"threshold\":10,\"severity\":\"critical\",\"for_ms\":0,"
                             "\"hysteresis\":0.10000000000000001,\"resolve_at\":9,"
                             "\"state\":\"firing\",\"value\":11,\"since_ms\":1234}");
    free(obj);
    char *json = dbmgmt_alerts_to_json(a);
    assert_non_null(json);
    assert_memory_equal(json, "{\"rules\":[{\"name\":\"pool_usage_high\"", 35);
    size_t len = strlen(json);
    assert_true(len > 13);
    assert_string_equal(json + len - 13, "],\"firing\":2}");
    dbmgmt_free(json);
    /* a name that needs escaping stays valid JSON */
    assert_int_equal(dbmgmt_alerts_set_rule(a, "say \"hi\"\n", DBMGMT_HEALTH_LOCK_WAITS, 1,
                                            DBMGMT_ALERT_WARNING, 0, 0.1),
                     DBMGMT_OK);
    json = dbmgmt_alerts_to_json(a);
    assert_non_null(strstr(json, "{\"name\":\"say \\\"hi\\\"\\n\",\"metric\":\"lock_waits\""));
    dbmgmt_free(json);
    dbmgmt_alerts_free(a);
}

/* ---- errors ---------------------------------------------------------------------- */

typedef struct bad_rule {
    const char *name;
    int32_t metric;
    double threshold;
    int32_t severity;
    int64_t for_ms;
    double hysteresis;
    const char *message; /* the thread's error message */
} bad_rule;

static void test_bad_settings_are_refused_naming_rule_and_setting(void **state)
{
    (void)state;
    static const bad_rule bad[] = {
        {"r1", 32, 1, 1, 0, 0.1,
         "dbmgmt_alerts_set_rule: rule \"r1\": metric 32 is not a dbmgmt_health_metric"},
        {"r2", -1, 1, 1, 0, 0.1,
         "dbmgmt_alerts_set_rule: rule \"r2\": metric -1 is not a dbmgmt_health_metric"},
        {"r3", 0, NAN, 1, 0, 0.1,
         "dbmgmt_alerts_set_rule: rule \"r3\": threshold is NaN, not a finite number"},
        {"r4", 0, INFINITY, 1, 0, 0.1,
         "dbmgmt_alerts_set_rule: rule \"r4\": threshold is infinite, not a finite number"},
        {"r5", 0, 1, 1, 0, 1.5,
         "dbmgmt_alerts_set_rule: rule \"r5\": hysteresis is 1.5, outside 0..1"},
        {"r6", 0, 1, 1, 0, -0.1,
         "dbmgmt_alerts_set_rule: rule \"r6\": hysteresis is -0.1, outside 0..1"},
        {"r7", 0, 1, 1, 0, NAN,
         "dbmgmt_alerts_set_rule: rule \"r7\": hysteresis is nan, outside 0..1"},
        {"r8", 0, 1, 3, 0, 0.1,
         "dbmgmt_alerts_set_rule: rule \"r8\": severity 3 is neither DBMGMT_ALERT_WARNING (1) "
         "nor DBMGMT_ALERT_CRITICAL (2)"},
        {"r9", 0, 1, 1, -1, 0.1, "dbmgmt_alerts_set_rule: rule \"r9\": for_ms is -1, below 0"},
        {"", 0, 1, 1, 0, 0.1, "dbmgmt_alerts_set_rule: the rule's name is NULL or empty"},
        {NULL, 0, 1, 1, 0, 0.1, "dbmgmt_alerts_set_rule: the rule's name is NULL or empty"},
    };
    dbmgmt_alerts *a = NULL;
    assert_int_equal(dbmgmt_alerts_new(&a), DBMGMT_OK);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const bad_rule *b = &bad[i];
        assert_int_equal(dbmgmt_alerts_set_rule(a, b->name, b->metric, b->threshold,
                                                b->severity, b->for_ms, b->hysteresis),
                         DBMGMT_ERR_INVALID);
        assert_int_equal(dbmgmt_errcode(), DBMGMT_ERR_INVALID);
        assert_string_equal(dbmgmt_errmsg(), b->message);
    }
    char longname[200];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(dbmgmt_alerts_set_rule(a, longname, 0, 1, 1, 0, 0.1), DBMGMT_ERR_INVALID);
    assert_non_null(strstr(dbmgmt_errmsg(), "longer than 128 bytes"));
    /* nothing was added, and the default rule is untouched */
    assert_int_equal(dm_alerts_count(a), NDEFAULTS);
    assert_rule_json_has(a, "pool_usage_high", "\"threshold\":0.80000000000000004");
    /* a replacement with a bad setting leaves the rule as it was */
    assert_int_equal(dbmgmt_alerts_set_rule(a, "pool_usage_high", 30, 0.5, 1, 0, 2),
                     DBMGMT_ERR_INVALID);
    assert_string_equal(dbmgmt_errmsg(), "dbmgmt_alerts_set_rule: rule \"pool_usage_high\": "
                                         "hysteresis is 2, outside 0..1");
    assert_rule_json_has(a, "pool_usage_high", "\"threshold\":0.80000000000000004");
    dbmgmt_alerts_free(a);
}

static void test_null_handles_and_bad_metrics_are_invalid(void **state)
{
    (void)state;
    dbmgmt_alerts *a = NULL;
    assert_int_equal(dbmgmt_alerts_new(NULL), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_alerts_new(&a), DBMGMT_OK);
    assert_int_equal(dbmgmt_alerts_set_rule(NULL, "x", 0, 1, 1, 0, 0), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_alerts_remove_rule(NULL, "x"), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_alerts_remove_rule(a, NULL), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_alerts_set_callback(NULL, record, NULL), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_alerts_evaluate(NULL, NULL), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_alerts_evaluate(a, NULL), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_alerts_observe(NULL, 0, 1, 0), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_alerts_observe(a, DBMGMT_HEALTH_METRIC_COUNT, 1, 0),
                     DBMGMT_ERR_INVALID);
    assert_string_equal(dbmgmt_errmsg(),
                        "dbmgmt_alerts_observe: metric is not a dbmgmt_health_metric");
    assert_null(dbmgmt_alerts_to_json(NULL));
    assert_int_equal(dbmgmt_errcode(), DBMGMT_ERR_INVALID);
    dbmgmt_alerts_free(NULL);
    dbmgmt_alerts_free(a);
}

/* ---- the callback may read but not change the rule set -------------------------------- */

typedef struct reentry {
    dbmgmt_alerts *a;
    int calls;
    int set_rc, remove_rc, observe_rc;
    int json_ok;
} reentry;

static void reenter(void *userdata, const char *rule, int32_t state, int32_t severity,
                    double value, const char *message)
{
    (void)rule, (void)state, (void)severity, (void)value, (void)message;
    reentry *r = userdata;
    r->calls++;
    r->set_rc = dbmgmt_alerts_set_rule(r->a, "new", 0, 1, 1, 0, 0);
    r->remove_rc = dbmgmt_alerts_remove_rule(r->a, "pool_usage_high");
    r->observe_rc = dbmgmt_alerts_observe(r->a, DBMGMT_HEALTH_POOL_USAGE_RATIO, 0, 0);
    char *json = dbmgmt_alerts_to_json(r->a);
    r->json_ok = json && strstr(json, "\"state\":\"firing\"") != NULL;
    dbmgmt_free(json);
}

static void test_callback_cannot_change_the_rule_set_but_can_read_it(void **state)
{
    (void)state;
    dbmgmt_alerts *a = NULL;
    assert_int_equal(dbmgmt_alerts_new(&a), DBMGMT_OK);
    reentry r = {a, 0, 0, 0, 0, 0};
    assert_int_equal(dbmgmt_alerts_set_callback(a, reenter, &r), DBMGMT_OK);
    assert_int_equal(dbmgmt_alerts_observe(a, DBMGMT_HEALTH_POOL_USAGE_RATIO, 0.9, 1), 1);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.set_rc, DBMGMT_ERR_INVALID);
    assert_int_equal(r.remove_rc, DBMGMT_ERR_INVALID);
    assert_int_equal(r.observe_rc, DBMGMT_ERR_INVALID);
    assert_true(r.json_ok);
    assert_int_equal(dm_alerts_count(a), NDEFAULTS);
    /* after the call the set is usable again */
    assert_int_equal(dbmgmt_alerts_remove_rule(a, "pool_usage_high"), DBMGMT_OK);
    dbmgmt_alerts_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_the_seven_rules_in_order),
        cmocka_unit_test(test_each_default_rule_fires_above_and_resolves_at_its_bound),
        cmocka_unit_test(test_messages_name_rule_figure_value_and_threshold),
        cmocka_unit_test(test_pool_waiting_integers_resolve_at_nine),
        cmocka_unit_test(test_lag_above_a_minute_fires_both_lag_rules),
        cmocka_unit_test(test_wavering_at_the_threshold_notifies_once),
        cmocka_unit_test(test_for_ms_pends_then_fires_after_the_duration),
        cmocka_unit_test(test_for_ms_pending_ends_silently_below_the_threshold),
        cmocka_unit_test(test_set_rule_replaces_in_place_and_keeps_state_on_same_metric),
        cmocka_unit_test(test_set_rule_on_another_metric_starts_inactive),
        cmocka_unit_test(test_remove_rule_silences_a_firing_rule),
        cmocka_unit_test(test_custom_rules_with_zero_hysteresis_and_zero_threshold),
        cmocka_unit_test(test_negative_threshold_band_lies_below),
        cmocka_unit_test(test_nan_value_keeps_the_state),
        cmocka_unit_test(test_evaluate_uses_present_figures_and_the_snapshot_time),
        cmocka_unit_test(test_json_shows_every_setting_and_the_firing_count),
        cmocka_unit_test(test_bad_settings_are_refused_naming_rule_and_setting),
        cmocka_unit_test(test_null_handles_and_bad_metrics_are_invalid),
        cmocka_unit_test(test_callback_cannot_change_the_rule_set_but_can_read_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
