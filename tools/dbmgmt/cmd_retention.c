/* dbmgmt retention [--keep-* N] [--keep-within* D] [--json] < times (issue 8):
 * which snapshot times a restic-style policy keeps, and why. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct snapshot_line {
    char *text; /* exactly as given (without the line break) */
    int64_t unix_s;
    int32_t nanos;
    size_t line; /* 1-based, for messages and stable ordering */
} snapshot_line;

static const struct {
    const char *option;
    dbmgmt_keep which;
} count_options[] = {
    {"--keep-last", DBMGMT_KEEP_LAST},       {"--keep-hourly", DBMGMT_KEEP_HOURLY},
    {"--keep-daily", DBMGMT_KEEP_DAILY},     {"--keep-weekly", DBMGMT_KEEP_WEEKLY},
    {"--keep-monthly", DBMGMT_KEEP_MONTHLY}, {"--keep-yearly", DBMGMT_KEEP_YEARLY},
};

static const struct {
    const char *option;
    int32_t which;
} within_options[] = {
    {"--keep-within", -1},
    {"--keep-within-hourly", DBMGMT_KEEP_HOURLY},
    {"--keep-within-daily", DBMGMT_KEEP_DAILY},
    {"--keep-within-weekly", DBMGMT_KEEP_WEEKLY},
    {"--keep-within-monthly", DBMGMT_KEEP_MONTHLY},
    {"--keep-within-yearly", DBMGMT_KEEP_YEARLY},
};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* N, -1 or "unlimited". */
static int parse_count(const char *s, int32_t *count)
{
    char *end;
    if (strcmp(s, "unlimited") == 0) {
        *count = -1;
        return 0;
    }
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < -1 || v > 2147483647L)
        return -1;
    *count = (int32_t)v;
    return 0;
}

/* One policy option at argv[*i]; 1 if it was one, 0 if not, or a CLI exit status + 100. */
static int apply_option(dbmgmt_retention *r, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    for (size_t k = 0; k < COUNT_OF(count_options) + COUNT_OF(within_options); k++) {
        int is_count = k < COUNT_OF(count_options);
        const char *name = is_count ? count_options[k].option
                                    : within_options[k - COUNT_OF(count_options)].option;
        if (strcmp(arg, name) != 0)
            continue;
        if (*i + 1 >= argc)
            return 100 + cli_usage_error("retention: %s needs a value", name);
        const char *value = argv[++*i];
        if (is_count) {
            int32_t count;
            if (parse_count(value, &count) != 0)
                return 100 + cli_usage_error("retention: %s takes a count or 'unlimited', not '%s'",
                                             name, value);
            dbmgmt_retention_set_keep(r, count_options[k].which, count);
        } else if (dbmgmt_retention_set_within(r, within_options[k - COUNT_OF(count_options)].which,
                                               value) != DBMGMT_OK) {
            return 100 + cli_usage_error("retention: %s: %s", name, dbmgmt_errmsg());
        }
        return 1;
    }
    return 0;
}

static void free_lines(snapshot_line *lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(lines[i].text);
    free(lines);
}

/* Splits stdin into non-blank lines and parses each as an RFC 3339 time. */
static int read_times(snapshot_line **out, size_t *count)
{
    char *data = NULL;
    size_t len = 0, n = 0, cap = 0, line_no = 0;
    snapshot_line *lines = NULL;
    if (cli_read_file(NULL, &data, &len) != 0)
        return CLI_EXIT_FAILURE;
    for (size_t at = 0; at < len;) {
        size_t end = at;
        while (end < len && data[end] != '\n')
            end++;
        size_t stop = end;
        while (stop > at && (data[stop - 1] == '\r' || data[stop - 1] == ' ' || data[stop - 1] == '\t'))
            stop--;
        size_t start = at;
        while (start < stop && (data[start] == ' ' || data[start] == '\t'))
            start++;
        line_no++;
        at = end + 1;
        if (start == stop)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            snapshot_line *grown = realloc(lines, ncap * sizeof *grown);
            if (!grown)
                goto nomem;
            lines = grown;
            cap = ncap;
        }
        snapshot_line *l = &lines[n];
        l->text = malloc(stop - start + 1);
        if (!l->text)
            goto nomem;
        memcpy(l->text, data + start, stop - start);
        l->text[stop - start] = '\0';
        l->line = line_no;
        n++;
        if (cli_parse_rfc3339(l->text, &l->unix_s, &l->nanos) != 0) {
            fprintf(stderr, "dbmgmt: retention: line %zu: \"%s\" is not an RFC 3339 time "
                            "(2024-01-02T03:04:05Z)\n", line_no, l->text);
            free_lines(lines, n);
            free(data);
            return CLI_EXIT_FAILURE;
        }
    }
    free(data);
    *out = lines;
    *count = n;
    return CLI_EXIT_OK;
nomem:
    fprintf(stderr, "dbmgmt: out of memory reading <stdin>\n");
    free_lines(lines, n);
    free(data);
    return CLI_EXIT_FAILURE;
}

/* Oldest first, by the full time with its fraction, then by line: the
 * library treats the later of two same-second times as the newer, so this
 * order keeps sub-second pairs in their true order. */
static int compare_oldest_first(const void *a, const void *b)
{
    const snapshot_line *x = *(const snapshot_line *const *)a;
    const snapshot_line *y = *(const snapshot_line *const *)b;
    if (x->unix_s != y->unix_s)
        return x->unix_s < y->unix_s ? -1 : 1;
    if (x->nanos != y->nanos)
        return x->nanos < y->nanos ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* The reasons "a, b" as a JSON array ["a","b"]. */
static void print_reasons_json(const char *reasons)
{
    putchar('[');
    for (const char *p = reasons; *p;) {
        const char *comma = strstr(p, ", ");
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[256];
        snprintf(item, sizeof item, "%.*s", (int)len, p);
        printf("%s%s", p == reasons ? "" : ",", cli_json_quote(item));
        p += len + (comma ? 2 : 0);
    }
    putchar(']');
}

static void print_result(const snapshot_line *lines, size_t n, const uint8_t *keep,
                         const char *const *reasons, int json)
{
    if (!json) {
        for (size_t i = 0; i < n; i++)
            printf(keep[i] ? "keep   %s  %s\n" : "remove %s%s\n", lines[i].text,
                   keep[i] ? reasons[i] : "");
        return;
    }
    const char *sep = "";
    printf("{\"keep\":[");
    for (size_t i = 0; i < n; i++) {
        if (!keep[i])
            continue;
        printf("%s{\"time\":%s,\"reasons\":", sep, cli_json_quote(lines[i].text));
        print_reasons_json(reasons[i]);
        putchar('}');
        sep = ",";
    }
    printf("],\"remove\":[");
    sep = "";
    for (size_t i = 0; i < n; i++) {
        if (keep[i])
            continue;
        printf("%s{\"time\":%s}", sep, cli_json_quote(lines[i].text));
        sep = ",";
    }
    printf("]}\n");
}

static int retention_run(dbmgmt_retention *r, snapshot_line *lines, size_t n, int json)
{
    int status = CLI_EXIT_FAILURE;
    snapshot_line **sorted = calloc(n ? n : 1, sizeof *sorted);
    int64_t *times = calloc(n ? n : 1, sizeof *times);
    uint8_t *sorted_keep = calloc(n ? n : 1, 1), *keep = calloc(n ? n : 1, 1);
    const char **reasons = calloc(n ? n : 1, sizeof *reasons);
    if (!sorted || !times || !sorted_keep || !keep || !reasons) {
        fprintf(stderr, "dbmgmt: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        sorted[i] = &lines[i];
    qsort(sorted, n, sizeof *sorted, compare_oldest_first);
    for (size_t i = 0; i < n; i++)
        times[i] = sorted[i]->unix_s;
    if (dbmgmt_retention_apply(r, times, n, sorted_keep) != DBMGMT_OK) {
        fprintf(stderr, "dbmgmt: retention: %s\n", dbmgmt_errmsg());
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        size_t original = (size_t)(sorted[i] - lines);
        keep[original] = sorted_keep[i];
        reasons[original] = dbmgmt_retention_reasons(r, i);
    }
    print_result(lines, n, keep, reasons, json);
    status = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
out:
    free(sorted);
    free(times);
    free(sorted_keep);
    free(keep);
    free(reasons);
    return status;
}

int cmd_retention(int argc, char **argv)
{
    dbmgmt_retention *r = NULL;
    snapshot_line *lines = NULL;
    size_t n = 0;
    int json = cli_globals.json, status;
    if (dbmgmt_retention_new(&r) != DBMGMT_OK) {
        fprintf(stderr, "dbmgmt: %s\n", dbmgmt_errmsg());
        return CLI_EXIT_FAILURE;
    }
    for (int i = 1; i < argc; i++) {
        int used = apply_option(r, argc, argv, &i);
        if (used >= 100) {
            dbmgmt_retention_free(r);
            return used - 100;
        }
        if (used)
            continue;
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else {
            dbmgmt_retention_free(r);
            return cli_usage_error("retention: unknown argument '%s'", argv[i]);
        }
    }
    status = read_times(&lines, &n);
    if (status == CLI_EXIT_OK)
        status = retention_run(r, lines, n, json);
    free_lines(lines, n);
    dbmgmt_retention_free(r);
    return status;
}
