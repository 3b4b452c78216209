/*
 * Splitter throughput: generates a realistic ~50 MB script per dialect
 * (DDL, comments, multi-row INSERTs with quoted strings, routines with
 * bodies, PostgreSQL COPY data) and reports MB/s and the ratio to a naive
 * memchr(';') split of the same buffer measured in the same run (best of
 * several rounds each). Run on demand: `meson test -C BUILD --benchmark
 * --suite sql -v` or directly `BUILD/tests/bench/bench-split [MB]`.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dbmgmt.h>

#define ROUNDS 5

typedef struct text {
    char *data;
    size_t len, cap;
} text;

static void put(text *t, const char *s)
{
    size_t n = strlen(s);
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->data = realloc(t->data, t->cap);
        if (!t->data) {
            fprintf(stderr, "bench: out of memory\n");
            exit(1);
        }
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
}

static uint32_t rng_state = 12345;
static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return (rng_state >> 8) % n;
}

static const char *const names[] = {"alice", "bob", "carol", "dave", "eve", "frank", "grace"};

static void gen_table(text *t, dbmgmt_engine e, unsigned k)
{
    char b[1024];
    const char *q = e == DBMGMT_ENGINE_MYSQL ? "`" : "\"";
    snprintf(b, sizeof b,
             "-- table %u: customer accounts; keep in sync with the API\n"
             "CREATE TABLE %saccount_%u%s (\n  id BIGINT PRIMARY KEY,\n"
             "  email VARCHAR(255) NOT NULL UNIQUE, -- login name\n"
             "  display_name TEXT DEFAULT 'anonymous',\n  balance NUMERIC(12,2) DEFAULT 0,\n"
             "  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP\n);\n"
             "CREATE INDEX idx_account_%u_email ON account_%u (email);\n\n",
             k, q, k, q, k, k);
    put(t, b);
}

static void gen_inserts(text *t, dbmgmt_engine e, unsigned k)
{
    char b[512];
    snprintf(b, sizeof b, "INSERT INTO account_%u (id, email, display_name, balance) VALUES\n", k);
    put(t, b);
    for (unsigned r = 0; r < 8; r++) {
        const char *name = names[rnd(7)];
        snprintf(b, sizeof b, "  (%u, '%s.%u@example.com', '%s%s', %u.%02u)%s\n", r + 1, name,
                 rnd(100000), name, rnd(4) ? "" : (e == DBMGMT_ENGINE_MYSQL ? "\\'s" : "''s"),
                 rnd(10000), rnd(100), r == 7 ? ";" : ",");
        put(t, b);
    }
    snprintf(b, sizeof b,
             "UPDATE account_%u SET balance = balance * 1.01 WHERE created_at < '2024-01-01'; "
             "/* yearly interest */\n",
             k);
    put(t, b);
}

static void gen_routine(text *t, dbmgmt_engine e, unsigned k)
{
    char b[1024];
    if (e == DBMGMT_ENGINE_POSTGRES)
        snprintf(b, sizeof b,
                 "CREATE OR REPLACE FUNCTION touch_%u() RETURNS trigger AS $$\nBEGIN\n"
                 "  NEW.updated_at := now(); -- keep ; in body\n  RETURN NEW;\nEND;\n"
                 "$$ LANGUAGE plpgsql;\n"
                 "COPY account_%u (id, email) FROM stdin;\n1\ta@example.com\n2\tb@example.com\n\\.\n",
                 k, k);
    else if (e == DBMGMT_ENGINE_MYSQL)
        snprintf(b, sizeof b,
                 "DELIMITER $$\nCREATE PROCEDURE touch_%u(IN n INT)\nBEGIN\n"
                 "  IF n > 0 THEN\n    UPDATE account_%u SET balance = 0 WHERE id = n;\n"
                 "  END IF;\nEND$$\nDELIMITER ;\n",
                 k, k);
    else
        snprintf(b, sizeof b,
                 "CREATE TRIGGER touch_%u AFTER UPDATE ON account_%u BEGIN\n"
                 "  UPDATE account_%u SET created_at = CURRENT_TIMESTAMP WHERE id = new.id;\n"
                 "END;\n",
                 k, k, k);
    put(t, b);
}

static text generate(dbmgmt_engine e, size_t bytes)
{
    text t = {NULL, 0, 0};
    rng_state = 12345;
    for (unsigned k = 0; t.len < bytes; k++) {
        if (k % 20 == 0)
            gen_table(&t, e, k);
        gen_inserts(&t, e, k);
        if (k % 10 == 0)
            gen_routine(&t, e, k);
    }
    return t;
}

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The reference: cut at every ';' and record each piece's offset and length. */
static size_t naive_split(const char *s, size_t n, size_t *offsets, size_t cap)
{
    size_t count = 0, start = 0;
    while (start < n) {
        const char *p = memchr(s + start, ';', n - start);
        size_t end = p ? (size_t)(p - s) : n;
        if (count < cap)
            offsets[count * 2] = start, offsets[count * 2 + 1] = end - start;
        count++;
        start = end + 1;
    }
    return count;
}

/* The same, producing what a caller gets from dbmgmt_split: a NUL-terminated
 * copy of each piece (one malloc each, as naive code does). */
static size_t naive_split_copies(const char *s, size_t n, char **pieces, size_t cap)
{
    size_t count = 0, start = 0;
    while (start < n) {
        const char *p = memchr(s + start, ';', n - start);
        size_t end = p ? (size_t)(p - s) : n;
        if (count < cap) {
            pieces[count] = malloc(end - start + 1);
            memcpy(pieces[count], s + start, end - start);
            pieces[count][end - start] = '\0';
        }
        count++;
        start = end + 1;
    }
    for (size_t i = 0; i < count && i < cap; i++)
        free(pieces[i]);
    return count;
}

static int bench_dialect(dbmgmt_engine e, size_t bytes)
{
    text t = generate(e, bytes);
    char *exact = malloc(t.len); /* exact-sized, not NUL-terminated */
    size_t cap = t.len / 8 + 1;
    size_t *offsets = malloc(cap * 2 * sizeof *offsets);
    char **pieces = malloc(cap * sizeof *pieces);
    double best_split = 1e9, best_naive = 1e9, best_copies = 1e9;
    size_t statements = 0, npieces = 0;
    memcpy(exact, t.data, t.len);
    for (int r = 0; r < ROUNDS; r++) {
        dbmgmt_statements *list = NULL;
        double t0 = now_sec();
        if (dbmgmt_split(e, exact, t.len, &list) != DBMGMT_OK) {
            fprintf(stderr, "bench: split failed: %s\n", dbmgmt_errmsg());
            return 1;
        }
        double t1 = now_sec();
        statements = dbmgmt_statements_count(list);
        dbmgmt_statements_free(list);
        double t2 = now_sec();
        npieces = naive_split(exact, t.len, offsets, cap);
        double t3 = now_sec();
        double t4 = now_sec();
        naive_split_copies(exact, t.len, pieces, cap);
        double t5 = now_sec();
        if (t5 - t4 < best_copies)
            best_copies = t5 - t4;
        if (t1 - t0 < best_split)
            best_split = t1 - t0;
        if (t3 - t2 < best_naive)
            best_naive = t3 - t2;
    }
    double mb = (double)t.len / 1e6;
    printf("%-8s %5.1f MB %7zu statements | dbmgmt_split %6.0f MB/s | naive memchr %6.0f MB/s "
           "(%zu pieces), ratio %.1fx | naive memchr+copies %6.0f MB/s, ratio %.1fx\n",
           dbmgmt_engine_name(e), mb, statements, mb / best_split, mb / best_naive, npieces,
           best_split / best_naive, mb / best_copies, best_split / best_copies);
    free(pieces);
    free(offsets);
    free(exact);
    free(t.data);
    return 0;
}

int main(int argc, char **argv)
{
    size_t mb = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 50;
    int rc = 0;
    rc |= bench_dialect(DBMGMT_ENGINE_POSTGRES, mb * 1000000);
    rc |= bench_dialect(DBMGMT_ENGINE_MYSQL, mb * 1000000);
    rc |= bench_dialect(DBMGMT_ENGINE_SQLITE, mb * 1000000);
    return rc;
}
