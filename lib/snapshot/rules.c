/*
 * Masking rules (docs/snapshots.md): one rule a line, `table.column = rule`
 * with rule one of hash, email, phone, null, keep; `#` starts a comment.
 * Errors name the file and line. The names that look personal.
 */
#include "snapshot_impl.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

static const char *const rule_names[] = {"keep", "hash", "email", "phone", "null"};

const char *dm_snap_rule_name(dm_snap_rule_kind kind)
{
    return (size_t)kind < sizeof rule_names / sizeof *rule_names ? rule_names[kind] : "?";
}

void dm_snap_rules_clear(dm_snap_rules *r)
{
    for (size_t i = 0; i < r->n; i++) {
        dm_free(r->v[i].table);
        dm_free(r->v[i].column);
    }
    dm_free(r->v);
    dm_free(r->file);
    memset(r, 0, sizeof *r);
}

const dm_snap_rule *dm_snap_rules_find(const dm_snap_rules *r, const char *table,
                                       const char *column)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->v[i].table, table) && !strcmp(r->v[i].column, column))
            return &r->v[i];
    return NULL;
}

static char *trim(char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int valid_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '$')
            return 0;
    return 1;
}

static int add_rule(dm_snap_rules *r, const char *table, const char *column,
                    dm_snap_rule_kind kind, int line)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        dm_snap_rule *v = dm_realloc(r->v, cap * sizeof *v);
        if (!v)
            return -1;
        r->v = v;
        r->cap = cap;
    }
    dm_snap_rule *x = &r->v[r->n];
    x->table = dm_strdup(table);
    x->column = dm_strdup(column);
    x->kind = kind;
    x->line = line;
    if (!x->table || !x->column) {
        dm_free(x->table);
        dm_free(x->column);
        return -1;
    }
    r->n++;
    return 0;
}

/* One line (comment already cut); 0, or a status with err set. */
static int parse_line(dm_snap_rules *r, char *text, const char *path, int line, dm_error *err)
{
    char *s = trim(text);
    if (!*s)
        return DBMGMT_OK;
    char *eq = strchr(s, '=');
    if (!eq)
        return dm_error_set(err, DBMGMT_ERR_PARSE,
                            "%s:%d: expected 'table.column = rule'", path, line);
    *eq = '\0';
    char *lhs = trim(s), *rhs = trim(eq + 1);
    char *dot = strchr(lhs, '.');
    if (!dot)
        return dm_error_set(err, DBMGMT_ERR_PARSE, "%s:%d: '%s' is not 'table.column'", path,
                            line, lhs);
    *dot = '\0';
    const char *table = lhs, *column = dot + 1;
    if (!valid_name(table) || !valid_name(column))
        return dm_error_set(err, DBMGMT_ERR_PARSE, "%s:%d: '%s.%s' is not 'table.column'",
                            path, line, table, column);
    int kind = -1;
    for (size_t i = 0; i < sizeof rule_names / sizeof *rule_names; i++)
        if (!strcmp(rhs, rule_names[i]))
            kind = (int)i;
    if (kind < 0)
        return dm_error_set(err, DBMGMT_ERR_PARSE,
                            "%s:%d: unknown rule '%s' (hash, email, phone, null or keep)", path,
                            line, rhs);
    const dm_snap_rule *dup = dm_snap_rules_find(r, table, column);
    if (dup)
        return dm_error_set(err, DBMGMT_ERR_PARSE, "%s:%d: %s.%s already has a rule (line %d)",
                            path, line, table, column, dup->line);
    if (add_rule(r, table, column, (dm_snap_rule_kind)kind, line) != 0)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading %s", path);
    return DBMGMT_OK;
}

int dm_snap_rules_load(dm_snap_rules *r, const char *path, dm_error *err)
{
    dm_snap_rules_clear(r);
    FILE *f = fopen(path, "r");
    if (!f)
        return dm_error_set(err, DBMGMT_ERR_IO, "cannot open the rules file %s", path);
    if (!(r->file = dm_strdup(path))) {
        fclose(f);
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading %s", path);
    }
    char buf[4096];
    int line = 0, rc = DBMGMT_OK;
    while (rc == DBMGMT_OK && fgets(buf, sizeof buf, f)) {
        line++;
        size_t n = strlen(buf);
        if (n == sizeof buf - 1 && buf[n - 1] != '\n') {
            rc = dm_error_set(err, DBMGMT_ERR_PARSE, "%s:%d: line too long", path, line);
            break;
        }
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = '\0';
        rc = parse_line(r, buf, path, line, err);
    }
    if (rc == DBMGMT_OK && ferror(f))
        rc = dm_error_set(err, DBMGMT_ERR_IO, "cannot read the rules file %s", path);
    fclose(f);
    if (rc != DBMGMT_OK)
        dm_snap_rules_clear(r);
    return rc;
}

/* The words of a column name (split on '_', lower case) that make it look
 * personal; docs/snapshots.md lists them. */
static const char *const personal_words[] = {
    "name", "firstname", "lastname", "fullname", "surname", "forename", "username",
    "email", "mail", "phone", "mobile", "tel", "telephone", "fax",
    "address", "street", "city", "zip", "zipcode", "postcode", "postal",
    "birth", "birthday", "birthdate", "dob", "ssn", "iban", "ip", "passport",
};

int dm_snap_looks_personal(const char *column)
{
    char word[128];
    const char *p = column;
    while (*p) {
        size_t n = 0;
        while (*p && *p != '_') {
            if (n < sizeof word - 1)
                word[n++] = (char)tolower((unsigned char)*p);
            p++;
        }
        word[n] = '\0';
        for (size_t i = 0; i < sizeof personal_words / sizeof *personal_words; i++)
            if (!strcmp(word, personal_words[i]))
                return 1;
        if (*p == '_')
            p++;
    }
    return 0;
}

static const dm_cat_column *find_column(const dm_cat_table *t, const char *name)
{
    for (size_t i = 0; i < t->ncolumns; i++)
        if (!strcmp(t->columns[i].name, name))
            return &t->columns[i];
    return NULL;
}

int dm_snap_rules_check(const dm_snap_rules *r, const dm_catalog *cat, dm_error *err)
{
    for (size_t i = 0; i < r->n; i++) {
        const dm_snap_rule *x = &r->v[i];
        const dm_cat_table *t = NULL;
        for (size_t k = 0; k < cat->ntables && !t; k++)
            if (!strcmp(cat->tables[k].name, x->table))
                t = &cat->tables[k];
        if (!t)
            return dm_error_set(err, DBMGMT_ERR_NOTFOUND, "%s:%d: unknown table '%s'", r->file,
                                x->line, x->table);
        if (!find_column(t, x->column))
            return dm_error_set(err, DBMGMT_ERR_NOTFOUND,
                                "%s:%d: table '%s' has no column '%s'", r->file, x->line,
                                x->table, x->column);
    }
    dm_buf missing = {0};
    size_t nmissing = 0;
    for (size_t k = 0; k < cat->ntables; k++) {
        const dm_cat_table *t = &cat->tables[k];
        for (size_t c = 0; c < t->ncolumns; c++) {
            if (!dm_snap_looks_personal(t->columns[c].name) ||
                dm_snap_rules_find(r, t->name, t->columns[c].name))
                continue;
            dm_buf_printf(&missing, "%s%s.%s", nmissing ? ", " : "", t->name,
                          t->columns[c].name);
            nmissing++;
        }
    }
    int rc = DBMGMT_OK;
    if (dm_buf_failed(&missing))
        rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory checking the rules");
    else if (nmissing)
        rc = dm_error_set(err, DBMGMT_ERR_POLICY,
                          "%s: %zu column(s) look personal and have no rule (add hash, email, "
                          "phone, null or keep): %s",
                          r->file, nmissing, missing.data);
    dm_buf_free(&missing);
    return rc;
}
