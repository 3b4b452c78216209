/* Building, ordering and rendering the engine-neutral catalog. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/json.h"
#include "driver.h"

#define EXPRESSION_KEY "(expression)"

/* Grow *items (count *n, element size size) by one zeroed element. */
static void *grow_one(dm_catalog *cat, void **items, size_t *n, size_t size)
{
    if (cat->failed)
        return NULL;
    char *grown = dm_realloc(*items, (*n + 1) * size);
    if (!grown) {
        cat->failed = 1;
        return NULL;
    }
    *items = grown;
    memset(grown + *n * size, 0, size);
    return grown + (*n)++ * size;
}

static char *cat_strdup(dm_catalog *cat, const char *s)
{
    if (cat->failed)
        return NULL;
    char *copy = dm_strdup(s ? s : "");
    if (!copy)
        cat->failed = 1;
    return copy;
}

dm_cat_table *dm_catalog_add_table(dm_catalog *cat, const char *name, int64_t row_estimate)
{
    dm_cat_table *t = grow_one(cat, (void **)&cat->tables, &cat->ntables, sizeof *t);
    if (!t)
        return NULL;
    t->name = cat_strdup(cat, name);
    t->row_estimate = row_estimate;
    return cat->failed ? NULL : t;
}

dm_cat_table *dm_catalog_find_table(dm_catalog *cat, const char *name)
{
    for (size_t i = 0; i < cat->ntables; i++)
        if (cat->tables[i].name && strcmp(cat->tables[i].name, name) == 0)
            return &cat->tables[i];
    return NULL;
}

void dm_catalog_add_column(dm_catalog *cat, dm_cat_table *t, const char *name, const char *type,
                           int nullable, int pk_position)
{
    if (!t)
        return;
    dm_cat_column *c = grow_one(cat, (void **)&t->columns, &t->ncolumns, sizeof *c);
    if (!c)
        return;
    c->name = cat_strdup(cat, name);
    c->type = cat_strdup(cat, type);
    if (c->type)
        for (char *p = c->type; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    c->nullable = nullable;
    c->pk_position = pk_position;
}

dm_cat_index *dm_catalog_add_index(dm_catalog *cat, const char *name, const char *table,
                                   int unique, int primary, int partial, int64_t scans)
{
    dm_cat_index *ix = grow_one(cat, (void **)&cat->indexes, &cat->nindexes, sizeof *ix);
    if (!ix)
        return NULL;
    ix->name = cat_strdup(cat, name);
    ix->table = cat_strdup(cat, table);
    ix->unique = unique || primary;
    ix->primary = primary;
    ix->partial = partial;
    ix->scans = scans;
    return cat->failed ? NULL : ix;
}

/* Store a copy of name at names[n], growing the array. Returns 1 when the
 * array has the slot (its copy may be NULL if that allocation failed); the
 * caller counts the slot only when the catalog has not failed. */
static int add_name(dm_catalog *cat, char ***names, size_t n, const char *name)
{
    if (cat->failed)
        return 0;
    char **grown = dm_realloc(*names, (n + 1) * sizeof *grown);
    if (!grown) {
        cat->failed = 1;
        return 0;
    }
    *names = grown;
    grown[n] = cat_strdup(cat, name);
    return 1;
}

void dm_catalog_index_add_column(dm_catalog *cat, dm_cat_index *ix, const char *column)
{
    if (!ix || cat->failed)
        return;
    add_name(cat, &ix->columns, ix->ncolumns, column ? column : EXPRESSION_KEY);
    if (cat->failed)
        return;
    ix->ncolumns++;
    if (!column)
        ix->expression = 1;
}

dm_cat_fk *dm_catalog_add_fk(dm_catalog *cat, const char *name, const char *table,
                             const char *ref_table)
{
    dm_cat_fk *fk = grow_one(cat, (void **)&cat->fks, &cat->nfks, sizeof *fk);
    if (!fk)
        return NULL;
    fk->name = cat_strdup(cat, name);
    fk->table = cat_strdup(cat, table);
    fk->ref_table = cat_strdup(cat, ref_table);
    return cat->failed ? NULL : fk;
}

void dm_catalog_fk_add_column(dm_catalog *cat, dm_cat_fk *fk, const char *column,
                              const char *ref_column)
{
    if (!fk || cat->failed)
        return;
    size_t n = fk->ncolumns;
    int has_slot = add_name(cat, &fk->columns, n, column);
    add_name(cat, &fk->ref_columns, n, ref_column);
    if (cat->failed) { /* keep both arrays the same length */
        if (has_slot) {
            dm_free(fk->columns[n]);
            fk->columns[n] = NULL;
        }
        return;
    }
    fk->ncolumns++;
}

static int compare_names(char *const *a, size_t na, char *const *b, size_t nb)
{
    for (size_t i = 0; i < na && i < nb; i++) {
        int c = strcmp(a[i], b[i]);
        if (c)
            return c;
    }
    return na < nb ? -1 : na > nb;
}

static int compare_tables(const void *a, const void *b)
{
    return strcmp(((const dm_cat_table *)a)->name, ((const dm_cat_table *)b)->name);
}

/* Indexes by table, then primary first, then columns, then name: engines
 * name indexes differently, so names only break ties. */
static int compare_indexes(const void *a, const void *b)
{
    const dm_cat_index *x = a, *y = b;
    int c = strcmp(x->table, y->table);
    if (!c)
        c = y->primary - x->primary;
    if (!c)
        c = compare_names(x->columns, x->ncolumns, y->columns, y->ncolumns);
    if (!c)
        c = y->unique - x->unique;
    return c ? c : strcmp(x->name, y->name);
}

static int compare_fks(const void *a, const void *b)
{
    const dm_cat_fk *x = a, *y = b;
    int c = strcmp(x->table, y->table);
    if (!c)
        c = compare_names(x->columns, x->ncolumns, y->columns, y->ncolumns);
    if (!c)
        c = strcmp(x->ref_table, y->ref_table);
    return c ? c : strcmp(x->name, y->name);
}

void dm_catalog_sort(dm_catalog *cat)
{
    if (cat->failed)
        return;
    if (cat->ntables)
        qsort(cat->tables, cat->ntables, sizeof *cat->tables, compare_tables);
    if (cat->nindexes)
        qsort(cat->indexes, cat->nindexes, sizeof *cat->indexes, compare_indexes);
    if (cat->nfks)
        qsort(cat->fks, cat->nfks, sizeof *cat->fks, compare_fks);
}

static void json_names(dm_json *j, const char *key, char *const *names, size_t n)
{
    dm_json_key(j, key);
    dm_json_array_begin(j);
    for (size_t i = 0; i < n; i++)
        dm_json_string(j, names[i]);
    dm_json_array_end(j);
}

static void json_table(dm_json *j, const dm_cat_table *t)
{
    dm_json_object_begin(j);
    dm_json_key(j, "name");
    dm_json_string(j, t->name);
    dm_json_key(j, "row_estimate");
    dm_json_int(j, t->row_estimate);
    dm_json_key(j, "columns");
    dm_json_array_begin(j);
    for (size_t i = 0; i < t->ncolumns; i++) {
        const dm_cat_column *c = &t->columns[i];
        dm_json_object_begin(j);
        dm_json_key(j, "name");
        dm_json_string(j, c->name);
        dm_json_key(j, "type");
        dm_json_string(j, c->type);
        dm_json_key(j, "nullable");
        dm_json_bool(j, c->nullable);
        dm_json_key(j, "primary_key");
        dm_json_int(j, c->pk_position);
        dm_json_object_end(j);
    }
    dm_json_array_end(j);
    dm_json_object_end(j);
}

static void json_index(dm_json *j, const dm_cat_index *ix)
{
    dm_json_object_begin(j);
    dm_json_key(j, "name");
    dm_json_string(j, ix->name);
    dm_json_key(j, "table");
    dm_json_string(j, ix->table);
    json_names(j, "columns", ix->columns, ix->ncolumns);
    dm_json_key(j, "unique");
    dm_json_bool(j, ix->unique);
    dm_json_key(j, "primary");
    dm_json_bool(j, ix->primary);
    dm_json_key(j, "partial");
    dm_json_bool(j, ix->partial);
    dm_json_key(j, "expression");
    dm_json_bool(j, ix->expression);
    dm_json_key(j, "scans");
    dm_json_int(j, ix->scans);
    dm_json_object_end(j);
}

static void json_fk(dm_json *j, const dm_cat_fk *fk)
{
    dm_json_object_begin(j);
    dm_json_key(j, "name");
    dm_json_string(j, fk->name);
    dm_json_key(j, "table");
    dm_json_string(j, fk->table);
    json_names(j, "columns", fk->columns, fk->ncolumns);
    dm_json_key(j, "ref_table");
    dm_json_string(j, fk->ref_table);
    json_names(j, "ref_columns", fk->ref_columns, fk->ncolumns);
    dm_json_object_end(j);
}

void dm_catalog_to_json(const dm_catalog *cat, dm_buf *out)
{
    dm_json j;
    dm_json_init(&j, out);
    dm_json_object_begin(&j);
    dm_json_key(&j, "tables");
    dm_json_array_begin(&j);
    for (size_t i = 0; i < cat->ntables; i++)
        json_table(&j, &cat->tables[i]);
    dm_json_array_end(&j);
    dm_json_key(&j, "indexes");
    dm_json_array_begin(&j);
    for (size_t i = 0; i < cat->nindexes; i++)
        json_index(&j, &cat->indexes[i]);
    dm_json_array_end(&j);
    dm_json_key(&j, "foreign_keys");
    dm_json_array_begin(&j);
    for (size_t i = 0; i < cat->nfks; i++)
        json_fk(&j, &cat->fks[i]);
    dm_json_array_end(&j);
    dm_json_object_end(&j);
}

static void free_names(char **names, size_t n)
{
    if (!names)
        return;
    for (size_t i = 0; i < n; i++)
        dm_free(names[i]);
    dm_free(names);
}

void dm_catalog_clear(dm_catalog *cat)
{
    for (size_t i = 0; i < cat->ntables; i++) {
        dm_cat_table *t = &cat->tables[i];
        for (size_t k = 0; k < t->ncolumns; k++) {
            dm_free(t->columns[k].name);
            dm_free(t->columns[k].type);
        }
        dm_free(t->columns);
        dm_free(t->name);
    }
    for (size_t i = 0; i < cat->nindexes; i++) {
        dm_free(cat->indexes[i].name);
        dm_free(cat->indexes[i].table);
        free_names(cat->indexes[i].columns, cat->indexes[i].ncolumns);
    }
    for (size_t i = 0; i < cat->nfks; i++) {
        dm_cat_fk *fk = &cat->fks[i];
        dm_free(fk->name);
        dm_free(fk->table);
        dm_free(fk->ref_table);
        free_names(fk->columns, fk->ncolumns);
        free_names(fk->ref_columns, fk->ncolumns);
    }
    dm_free(cat->tables);
    dm_free(cat->indexes);
    dm_free(cat->fks);
    memset(cat, 0, sizeof *cat);
}

void dm_quote_ident_standard(dm_buf *out, const char *name)
{
    dm_buf_putc(out, '"');
    for (const char *p = name; *p; p++) {
        if (*p == '"')
            dm_buf_putc(out, '"');
        dm_buf_putc(out, *p);
    }
    dm_buf_putc(out, '"');
}

void dm_session_state_clear(dm_session_state *st)
{
    dm_free(st->restore);
    memset(st, 0, sizeof *st);
}
