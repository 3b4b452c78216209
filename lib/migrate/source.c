/* Reading migrations from folders (every layout) and compiled-in tables. */
#include "source.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "source_impl.h"

static const char *const layout_names[] = {
    "none", "native (-- migrate:up/down)", "plain up file (+ _rollback.sql)",
    "golang-migrate (.up.sql/.down.sql)", "Flyway (V__/U__)", "goose (-- +goose Up/Down)",
    "embedded table"};

/* ---- file names -------------------------------------------------------------- */

typedef enum name_kind {
    NAME_IGNORED,       /* not a migration (README.md, .gitkeep) */
    NAME_BAD,           /* looks like a migration but does not parse */
    NAME_VERSIONED,     /* VERSION_desc.sql: native, goose or plain by content */
    NAME_ROLLBACK,      /* VERSION_desc_rollback.sql */
    NAME_GOLANG_UP,     /* VERSION_desc.up.sql */
    NAME_GOLANG_DOWN,   /* VERSION_desc.down.sql */
    NAME_FLYWAY_UP,     /* V1_2__desc.sql */
    NAME_FLYWAY_UNDO    /* U1_2__desc.sql */
} name_kind;

typedef struct parsed_name {
    name_kind kind;
    char version[64];
    char description[256];
    const char *why; /* for NAME_BAD */
} parsed_name;

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int looks_like_migration(const char *name)
{
    return isdigit((unsigned char)name[0]) ||
           ((name[0] == 'V' || name[0] == 'U') && isdigit((unsigned char)name[1]));
}

/* Copy [s, s+len) into out (cap bytes); 0 if it does not fit. */
static int copy_part(char *out, size_t cap, const char *s, size_t len)
{
    if (len + 1 > cap)
        return 0;
    memcpy(out, s, len);
    out[len] = '\0';
    return 1;
}

static void parse_flyway_name(const char *name, parsed_name *p)
{
    const char *sep = strstr(name, "__");
    p->kind = NAME_BAD;
    if (!sep || !ends_with(name, ".sql")) {
        p->why = "a Flyway file is named V<version>__<description>.sql";
        return;
    }
    if (!copy_part(p->version, sizeof p->version, name + 1, (size_t)(sep - name - 1))) {
        p->why = "the version is too long";
        return;
    }
    for (char *c = p->version; *c; c++)
        if (*c == '_')
            *c = '.'; /* Flyway writes 1.2 as 1_2 */
    size_t dlen = strlen(sep + 2) - 4;
    if (!dm_version_valid(p->version) || dlen == 0 ||
        !copy_part(p->description, sizeof p->description, sep + 2, dlen)) {
        p->why = "a Flyway file is named V<version>__<description>.sql";
        return;
    }
    p->kind = name[0] == 'V' ? NAME_FLYWAY_UP : NAME_FLYWAY_UNDO;
}

/* VERSION_rest: version = digits and dots up to the first '_'. */
static void parse_versioned_name(const char *name, parsed_name *p)
{
    p->kind = NAME_BAD;
    p->why = "a migration file is named <version>_<description>.sql (version: digits or 1.2.3)";
    size_t vlen = strspn(name, "0123456789.");
    if (name[vlen] != '_' || !copy_part(p->version, sizeof p->version, name, vlen) ||
        !dm_version_valid(p->version))
        return;
    const char *rest = name + vlen + 1;
    static const struct { const char *suffix; name_kind kind; } suffixes[] = {
        {".up.sql", NAME_GOLANG_UP},
        {".down.sql", NAME_GOLANG_DOWN},
        {"_rollback.sql", NAME_ROLLBACK},
        {".sql", NAME_VERSIONED},
    };
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        if (!ends_with(rest, suffixes[i].suffix))
            continue;
        size_t dlen = strlen(rest) - strlen(suffixes[i].suffix);
        if (dlen == 0 || !copy_part(p->description, sizeof p->description, rest, dlen)) {
            p->why = "the description after the version is empty or too long";
            return;
        }
        p->kind = suffixes[i].kind;
        return;
    }
    p->why = "a file that looks like a migration must end in .sql";
}

static parsed_name parse_name(const char *name)
{
    parsed_name p;
    memset(&p, 0, sizeof p);
    if (name[0] == '.' || !looks_like_migration(name)) {
        p.kind = ends_with(name, ".sql") ? NAME_BAD : NAME_IGNORED;
        p.why = "a migration file is named <version>_<description>.sql, "
                "V<version>__<description>.sql or <version>_<description>.up.sql";
        return p;
    }
    if ((name[0] == 'V' || name[0] == 'U') && isdigit((unsigned char)name[1]))
        parse_flyway_name(name, &p);
    else
        parse_versioned_name(name, &p);
    return p;
}

/* ---- file contents ----------------------------------------------------------- */

/* A file of a migrations folder: where it is and how to read it. */
typedef struct folder_file {
    int dir_fd;
    const char *name;  /* within the folder */
    const char *path;  /* folder/name (messages) */
    int regular;       /* readdir says a regular file: a short read is its end */
} folder_file;

/* Read a whole file into scratch (reused from file to file, so a folder of
 * 500 migrations costs no allocation per file). A regular file is read in
 * one read() when it fits: POSIX returns fewer bytes than asked only at the
 * end of a regular file. Anything else is read until read() returns 0. */
static int read_file(const folder_file *ff, dm_buf *scratch, dm_file_text *f, dm_error *err)
{
    int fd = openat(ff->dir_fd, ff->name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dm_error_set(err, DBMGMT_ERR_IO, "%s: cannot open: %s", ff->path, strerror(errno));
    dm_buf_clear(scratch);
    int rc = DBMGMT_OK;
    for (;;) {
        if (scratch->cap - scratch->len < 4096 && dm_buf_reserve(scratch, 16384) != DBMGMT_OK) {
            rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "%s: out of memory", ff->path);
            break;
        }
        size_t want = scratch->cap - scratch->len - 1; /* the buffer keeps its NUL */
        ssize_t n = read(fd, scratch->data + scratch->len, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = dm_error_set(err, DBMGMT_ERR_IO, "%s: read error: %s", ff->path, strerror(errno));
            break;
        }
        scratch->len += (size_t)n;
        if (n == 0 || (ff->regular && (size_t)n < want))
            break;
    }
    close(fd);
    if (rc != DBMGMT_OK)
        return rc;
    scratch->data[scratch->len] = '\0';
    f->path = ff->path;
    f->text = scratch->data;
    f->len = scratch->len;
    return DBMGMT_OK;
}

static int32_t line_of(const dm_file_text *f, size_t offset);

/* The end of the line at pos (its '\n', or the end of the text). */
static size_t line_end(const dm_file_text *f, size_t pos)
{
    const char *nl = memchr(f->text + pos, '\n', f->len - pos);
    return nl ? (size_t)(nl - f->text) : f->len;
}

/* Find the first line that starts with prefix (after optional spaces),
 * from offset `from`; returns 1 and fills m if found. */
int dm_find_marker(const dm_file_text *f, size_t from, const char *prefix, dm_marker *m)
{
    size_t plen = strlen(prefix);
    int32_t line = line_of(f, from);
    size_t pos = from;
    while (pos < f->len) {
        size_t eol = line_end(f, pos);
        size_t p = pos;
        while (p < eol && (f->text[p] == ' ' || f->text[p] == '\t'))
            p++;
        if (eol - p >= plen && f->text[p] == prefix[0] &&
            strncasecmp(f->text + p, prefix, plen) == 0 &&
            (eol - p == plen || isspace((unsigned char)f->text[p + plen]))) {
            m->line_start = pos;
            m->next_line = eol < f->len ? eol + 1 : eol;
            m->line = line;
            m->args = f->text + p + plen;
            m->args_len = eol - p - plen;
            while (m->args_len && isspace((unsigned char)m->args[m->args_len - 1]))
                m->args_len--;
            return 1;
        }
        pos = eol + 1;
        line++;
    }
    return 0;
}

static int32_t line_of(const dm_file_text *f, size_t offset)
{
    int32_t line = 1;
    const char *p = f->text, *end = f->text + (offset < f->len ? offset : f->len);
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        line++;
        p++;
    }
    return line;
}

static int set_section(dm_section *s, const dm_file_text *f, size_t start, size_t end,
                       dm_error *err)
{
    if (start == 0 && end - start >= 3 && memcmp(f->text, "\xEF\xBB\xBF", 3) == 0)
        start = 3; /* a BOM is not SQL */
    s->sql = dm_arena_strndup(f->arena, f->text + start, end - start);
    s->len = end - start;
    s->file = (char *)f->path; /* in the arena already */
    s->line = line_of(f, start);
    if (!s->sql || !s->file)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "%s: out of memory", f->path);
    return DBMGMT_OK;
}

/* Options on a `-- migrate:up` line: only transaction:true|false. */
static int parse_native_options(const dm_file_text *f, const dm_marker *m, int *no_transaction,
                                dm_error *err)
{
    const char *p = m->args, *end = m->args + m->args_len;
    while (p < end) {
        while (p < end && isspace((unsigned char)*p))
            p++;
        const char *w = p;
        while (p < end && !isspace((unsigned char)*p))
            p++;
        size_t wlen = (size_t)(p - w);
        if (wlen == 0)
            break;
        if (wlen == 17 && strncmp(w, "transaction:false", 17) == 0)
            *no_transaction = 1;
        else if (!(wlen == 16 && strncmp(w, "transaction:true", 16) == 0))
            return dm_error_set(err, DBMGMT_ERR_PARSE,
                                "%s:%d: unknown option '%.*s' on the marker line (known: "
                                "transaction:false)", f->path, (int)m->line, (int)wlen, w);
    }
    return DBMGMT_OK;
}

/* -- migrate:up [options] ... -- migrate:down [options] ... */
static int parse_native(dm_migration *mig, const dm_file_text *f, dm_error *err)
{
    dm_marker up, down;
    if (!dm_find_marker(f, 0, "-- migrate:up", &up))
        return dm_error_set(err, DBMGMT_ERR_PARSE,
                            "%s: no '-- migrate:up' section (a native migration needs one)",
                            f->path);
    int has_down = dm_find_marker(f, 0, "-- migrate:down", &down);
    if (has_down && down.line_start < up.line_start)
        return dm_error_set(err, DBMGMT_ERR_PARSE,
                            "%s:%d: '-- migrate:down' comes before '-- migrate:up'", f->path,
                            (int)down.line);
    int rc = parse_native_options(f, &up, &mig->no_transaction, err);
    if (rc == DBMGMT_OK && has_down) {
        int down_no_tx = 0;
        rc = parse_native_options(f, &down, &down_no_tx, err);
    }
    if (rc == DBMGMT_OK)
        rc = set_section(&mig->up, f, up.next_line, has_down ? down.line_start : f->len, err);
    if (rc == DBMGMT_OK && has_down)
        rc = set_section(&mig->down, f, down.next_line, f->len, err);
    mig->layout = DM_LAYOUT_NATIVE;
    return rc;
}

/* -- +goose Up / -- +goose Down, NO TRANSACTION, StatementBegin/End. */
static int parse_goose(dm_migration *mig, const dm_file_text *f, dm_error *err)
{
    dm_marker up, down, flag;
    if (!dm_find_marker(f, 0, "-- +goose Up", &up))
        return dm_error_set(err, DBMGMT_ERR_PARSE, "%s: no '-- +goose Up' section", f->path);
    int has_down = dm_find_marker(f, 0, "-- +goose Down", &down);
    if (has_down && down.line_start < up.line_start)
        return dm_error_set(err, DBMGMT_ERR_PARSE,
                            "%s:%d: '-- +goose Down' comes before '-- +goose Up'", f->path,
                            (int)down.line);
    mig->no_transaction = dm_find_marker(f, 0, "-- +goose NO TRANSACTION", &flag);
    int explicit_blocks = dm_find_marker(f, 0, "-- +goose StatementBegin", &flag);
    int rc = set_section(&mig->up, f, up.next_line, has_down ? down.line_start : f->len, err);
    if (rc == DBMGMT_OK && has_down)
        rc = set_section(&mig->down, f, down.next_line, f->len, err);
    mig->up.explicit_statements = mig->down.explicit_statements = explicit_blocks;
    mig->layout = DM_LAYOUT_GOOSE;
    return rc;
}

/* A whole file is one section (plain, golang-migrate, Flyway, rollback). */
static int whole_file_section(dm_section *s, const dm_file_text *f, dm_error *err)
{
    return set_section(s, f, 0, f->len, err);
}

/* Decide the layout of a VERSION_desc.sql file from its content. */
static int parse_versioned_file(dm_migration *mig, const dm_file_text *f, dm_error *err)
{
    dm_marker m;
    if (dm_find_marker(f, 0, "-- migrate:up", &m) || dm_find_marker(f, 0, "-- migrate:down", &m))
        return parse_native(mig, f, err);
    if (dm_find_marker(f, 0, "-- +goose", &m))
        return parse_goose(mig, f, err);
    mig->layout = DM_LAYOUT_COMPANION;
    return whole_file_section(&mig->up, f, err);
}

/* ---- loading a folder ------------------------------------------------------- */

/* A listed file whose name matters; its strings are in the listing's arena
 * (a parsed_name is 330 bytes: 500 of them cost more to grow, sort and copy
 * than to read). */
typedef struct dir_entry {
    const char *file;        /* name within the folder */
    const char *version;
    const char *description;
    const char *why;         /* NAME_BAD: what is wrong with the name */
    name_kind kind;
    int regular;             /* readdir's type says a regular file */
} dir_entry;

static int compare_entries(const void *a, const void *b)
{
    return strcmp(((const dir_entry *)a)->file, ((const dir_entry *)b)->file);
}

/* A folder's listing: its entries, their names, and the open folder (files
 * are opened relative to it, sparing the kernel a walk of the full path). */
typedef struct listing {
    DIR *dir;
    dir_entry *entries;
    size_t count;
    dm_arena names;
} listing;

static void listing_free(listing *ls)
{
    if (ls->dir)
        closedir(ls->dir);
    dm_free(ls->entries);
    dm_arena_free(&ls->names);
    memset(ls, 0, sizeof *ls);
}

/* The files of dir whose names matter, sorted. */
static int list_dir(const char *dir, listing *ls, dm_error *err)
{
    memset(ls, 0, sizeof *ls);
    DIR *d = opendir(dir);
    if (!d)
        return dm_error_set(err, DBMGMT_ERR_IO, "%s: cannot open the migrations folder: %s", dir,
                            strerror(errno));
    ls->dir = d;
    dir_entry *list = NULL;
    size_t n = 0, cap = 0;
    int rc = DBMGMT_OK;
    struct dirent *de;
    while (rc == DBMGMT_OK && (de = readdir(d)) != NULL) {
        parsed_name pn = parse_name(de->d_name);
        if (pn.kind == NAME_IGNORED)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            dir_entry *grown = dm_realloc(list, cap * sizeof *grown);
            if (!grown) {
                rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory listing %s", dir);
                break;
            }
            list = grown;
        }
        dir_entry *e = &list[n];
        e->file = dm_arena_strdup(&ls->names, de->d_name);
        e->version = dm_arena_strdup(&ls->names, pn.version);
        e->description = dm_arena_strdup(&ls->names, pn.description);
        e->why = pn.why;
        e->kind = pn.kind;
        e->regular = de->d_type == DT_REG;
        if (!e->file || !e->version || !e->description)
            rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory listing %s", dir);
        else
            n++;
    }
    ls->entries = list;
    ls->count = n;
    /* readdir's order is the folder's hash order */
    if (rc == DBMGMT_OK && n > 1)
        qsort(list, n, sizeof *list, compare_entries);
    if (rc != DBMGMT_OK)
        listing_free(ls);
    return rc;
}

/* A growing list of migrations being loaded; their strings are in arena
 * (handed to the source with them), files are read through scratch. */
typedef struct loading {
    dm_migration *items;
    size_t count, cap;
    dm_arena arena;
    dm_buf scratch;
} loading;

/* The file of a listing entry, its path (dir/name) kept in l's arena. */
static int folder_file_of(loading *l, const listing *ls, const char *dir, const dir_entry *e,
                          folder_file *ff, dm_error *err)
{
    size_t dlen = strlen(dir), flen = strlen(e->file);
    size_t avail = 0;
    char *path = dm_arena_reserve(&l->arena, dlen + flen + 2, &avail);
    if (!path)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory loading %s", dir);
    memcpy(path, dir, dlen);
    path[dlen] = '/';
    memcpy(path + dlen + 1, e->file, flen + 1);
    dm_arena_commit(&l->arena, dlen + flen + 2);
    ff->dir_fd = dirfd(ls->dir);
    ff->name = e->file;
    ff->path = path;
    ff->regular = e->regular;
    return DBMGMT_OK;
}

/* Binary search; the items must be sorted (loading_sort_and_check). */
static dm_migration *loading_find(loading *l, const char *version)
{
    size_t lo = 0, hi = l->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = dm_version_compare(l->items[mid].version, version);
        if (c == 0)
            return &l->items[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int compare_migrations(const void *a, const void *b);

/* Sort by version and report the first version used twice, naming both
 * files (the one later in file-name order first). */
static int loading_sort_and_check(loading *l, dm_error *err)
{
    int sorted = 1; /* files come in name order: usually version order too */
    for (size_t i = 1; i < l->count && sorted; i++)
        sorted = dm_version_compare(l->items[i - 1].version, l->items[i].version) <= 0;
    if (!sorted)
        qsort(l->items, l->count, sizeof *l->items, compare_migrations);
    for (size_t i = 1; i < l->count; i++) {
        const dm_migration *a = &l->items[i - 1], *b = &l->items[i];
        if (dm_version_compare(a->version, b->version) == 0) {
            const char *af = a->up.file ? a->up.file : "(table)";
            const char *bf = b->up.file ? b->up.file : "(table)";
            int a_first = strcmp(af, bf) < 0;
            return dm_error_set(err, DBMGMT_ERR_PARSE, "%s: version %s is already used by %s",
                                a_first ? bf : af, b->version, a_first ? af : bf);
        }
    }
    return DBMGMT_OK;
}

/* A migration's version and name, copied into arena; the rest zeroed. */
static int migration_init(dm_migration *m, dm_arena *arena, const char *version,
                          const char *description, dm_error *err)
{
    memset(m, 0, sizeof *m);
    m->version = dm_arena_strdup(arena, version);
    m->name = dm_arena_strdup(arena, description);
    if (!m->version || !m->name)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory loading migrations");
    return DBMGMT_OK;
}

static dm_migration *loading_add(loading *l, const char *version, const char *description,
                                 dm_error *err)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        dm_migration *grown = dm_realloc(l->items, cap * sizeof *grown);
        if (!grown) {
            dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory loading migrations");
            return NULL;
        }
        l->items = grown;
        l->cap = cap;
    }
    dm_migration *m = &l->items[l->count];
    if (migration_init(m, &l->arena, version, description, err) != DBMGMT_OK)
        return NULL;
    l->count++;
    return m;
}

static int up_kind(name_kind k)
{
    return k == NAME_VERSIONED || k == NAME_GOLANG_UP || k == NAME_FLYWAY_UP;
}

/* Load the up-side file of one version into m, its strings into l's arena,
 * and take the checksum of its up section. */
static int load_up_file(loading *l, const listing *ls, const char *dir, const dir_entry *e,
                        dm_migration *m, dm_error *err)
{
    folder_file ff;
    dm_file_text f = {0};
    int rc = folder_file_of(l, ls, dir, e, &ff, err);
    if (rc == DBMGMT_OK)
        rc = read_file(&ff, &l->scratch, &f, err);
    if (rc == DBMGMT_OK)
        rc = migration_init(m, &l->arena, e->version, e->description, err);
    if (rc != DBMGMT_OK)
        return rc;
    f.arena = &l->arena;
    if (e->kind == NAME_VERSIONED) {
        rc = parse_versioned_file(m, &f, err);
    } else {
        m->layout = e->kind == NAME_GOLANG_UP ? DM_LAYOUT_GOLANG : DM_LAYOUT_FLYWAY;
        rc = whole_file_section(&m->up, &f, err);
    }
    if (rc == DBMGMT_OK)
        dm_checksum_normalised(m->up.sql, m->up.len, m->checksum);
    return rc;
}

static dm_layout down_layout(name_kind k)
{
    return k == NAME_ROLLBACK ? DM_LAYOUT_COMPANION
           : k == NAME_GOLANG_DOWN ? DM_LAYOUT_GOLANG
                                   : DM_LAYOUT_FLYWAY;
}

/* Attach a down-side file (rollback, .down.sql, U__) to its version. */
static int load_down_file(loading *l, const listing *ls, const char *dir, const dir_entry *e,
                          dm_error *err)
{
    folder_file ff;
    int rc = folder_file_of(l, ls, dir, e, &ff, err);
    if (rc != DBMGMT_OK)
        return rc;
    const char *path = ff.path;
    dm_migration *m = loading_find(l, e->version);
    if (!m)
        rc = dm_error_set(err, DBMGMT_ERR_PARSE,
                          "%s: a down migration for version %s, which has no up file", path,
                          e->version);
    else if (m->layout != down_layout(e->kind))
        rc = dm_error_set(err, DBMGMT_ERR_PARSE,
                          "%s: mixed layouts: this is %s but %s is %s", path,
                          layout_names[down_layout(e->kind)], m->up.file,
                          layout_names[m->layout]);
    else if (m->down.sql)
        rc = dm_error_set(err, DBMGMT_ERR_PARSE, "%s: version %s already has a down section in %s",
                          path, e->version, m->down.file);
    if (rc == DBMGMT_OK) {
        dm_file_text f = {0};
        rc = read_file(&ff, &l->scratch, &f, err);
        f.arena = &l->arena;
        if (rc == DBMGMT_OK)
            rc = whole_file_section(&m->down, &f, err);
    }
    return rc;
}

/* Every file of one folder must follow one layout. */
static int check_one_layout(loading *l, dm_error *err)
{
    const dm_migration *first = NULL;
    for (size_t i = 0; i < l->count; i++) {
        const dm_migration *m = &l->items[i];
        if (!first) {
            first = m;
        } else if (m->layout != first->layout) {
            return dm_error_set(err, DBMGMT_ERR_PARSE,
                                "mixed layouts in one folder: %s is %s but %s is %s", m->up.file,
                                layout_names[m->layout], first->up.file,
                                layout_names[first->layout]);
        }
    }
    return DBMGMT_OK;
}

static int compare_migrations(const void *a, const void *b)
{
    return dm_version_compare(((const dm_migration *)a)->version,
                              ((const dm_migration *)b)->version);
}

/* Merge the loaded migrations into src, checking versions across sources. */
static int source_merge(dm_source *src, loading *l, dm_error *err)
{
    for (size_t i = 0; i < l->count; i++) {
        const dm_migration *dup = dm_source_find(src, l->items[i].version);
        if (dup)
            return dm_error_set(err, DBMGMT_ERR_PARSE, "%s: version %s is already used by %s",
                                l->items[i].up.file ? l->items[i].up.file : "(table)",
                                l->items[i].version, dup->up.file ? dup->up.file : "(table)");
    }
    if (l->count == 0)
        return DBMGMT_OK; /* an empty folder adds nothing */
    if (src->count == 0 && l->count == l->cap) {
        /* the first source, its list full (a folder's is sized to it): l is
         * sorted already and its list becomes the source's as it is, so a
         * boot's 500 entries are not copied again */
        dm_free(src->items);
        src->items = l->items;
        src->count = l->count;
    } else {
        dm_migration *grown = dm_realloc(src->items, (src->count + l->count) * sizeof *grown);
        if (!grown)
            return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory loading migrations");
        src->items = grown;
        memcpy(src->items + src->count, l->items, l->count * sizeof *l->items);
        int was_empty = src->count == 0;
        src->count += l->count;
        if (!was_empty) /* l is sorted already; only a second source needs a sort */
            qsort(src->items, src->count, sizeof *src->items, compare_migrations);
        dm_free(l->items);
    }
    l->items = NULL;
    l->count = 0;
    dm_arena_adopt(&src->arena, &l->arena); /* the strings go with the items */
    return DBMGMT_OK;
}

static void loading_free(loading *l)
{
    dm_free(l->items);
    dm_arena_free(&l->arena);
    dm_buf_free(&l->scratch);
}

/* ---- reading a folder on one or two threads ----------------------------------- */

/* Up-side files are handed out in runs of this many: few enough claims that
 * the two readers do not contend, small enough that they finish together. */
#define DIR_READ_RUN 16

/* What one thread reading a share of a folder keeps: the strings of the
 * migrations it read (loading's arena), its read buffer, its first error. */
typedef struct dir_reader {
    loading own;      /* arena and scratch; items unused */
    size_t failed_at; /* the slot of its error */
    int rc;
    dm_error err;
} dir_reader;

struct dm_dir_load {
    const char *dir;
    listing ls;
    size_t *up;          /* the listing index of each up-side file */
    dm_migration *items; /* one slot per up-side file, in listing order */
    size_t nup;
    int list_done;       /* reader 0's (or, before any thread, the caller's) */
    int rc;              /* the listing's status */
    dm_error err;
    int listed;          /* atomic: 1 once the listing and slots are ready */
    size_t next;         /* atomic: the next slot to hand out */
    int stop;            /* atomic: a reader failed: hand out no more */
    dir_reader readers[DM_DIR_READERS];
};

dm_dir_load *dm_dir_load_new(const char *dir)
{
    dm_dir_load *dl = dm_calloc(1, sizeof *dl);
    if (dl)
        dl->dir = dir;
    return dl;
}

/* Reader 0's first step: the listing, its bad names (a clear error before
 * any file is read), and a slot for each up-side file. */
void dm_dir_load_list(dm_dir_load *dl)
{
    if (dl->list_done)
        return;
    dl->list_done = 1;
    int rc = list_dir(dl->dir, &dl->ls, &dl->err);
    const dir_entry *entries = dl->ls.entries;
    size_t n = rc == DBMGMT_OK ? dl->ls.count : 0;
    for (size_t i = 0; i < n && rc == DBMGMT_OK; i++)
        if (entries[i].kind == NAME_BAD)
            rc = dm_error_set(&dl->err, DBMGMT_ERR_PARSE,
                              "%s/%s: not a valid migration file name: %s", dl->dir,
                              entries[i].file, entries[i].why);
    for (size_t i = 0; i < n; i++)
        dl->nup += up_kind(entries[i].kind) != 0;
    if (rc == DBMGMT_OK && dl->nup) {
        dl->up = dm_malloc(dl->nup * sizeof *dl->up);
        dl->items = dm_calloc(dl->nup, sizeof *dl->items);
        if (!dl->up || !dl->items)
            rc = dm_error_set(&dl->err, DBMGMT_ERR_NOMEM, "out of memory loading %s", dl->dir);
    }
    for (size_t i = 0, k = 0; rc == DBMGMT_OK && i < n; i++)
        if (up_kind(entries[i].kind))
            dl->up[k++] = i;
    dl->rc = rc;
    __atomic_store_n(&dl->listed, rc == DBMGMT_OK, __ATOMIC_RELEASE);
}

/* Reads runs of up-side files until none is left or a reader failed. A run
 * handed out is read to its end or to the reader's error, and runs go out
 * in order: so the first error of the folder (the lowest slot that fails,
 * the one a single reader would report) is always found. */
static void dir_load_share(dm_dir_load *dl, dir_reader *r)
{
    while (!__atomic_load_n(&dl->stop, __ATOMIC_ACQUIRE)) {
        size_t first = __atomic_fetch_add(&dl->next, DIR_READ_RUN, __ATOMIC_RELAXED);
        size_t end = first + DIR_READ_RUN < dl->nup ? first + DIR_READ_RUN : dl->nup;
        for (size_t k = first; k < end; k++) {
            const dir_entry *e = &dl->ls.entries[dl->up[k]];
            r->rc = load_up_file(&r->own, &dl->ls, dl->dir, e, &dl->items[k], &r->err);
            if (r->rc != DBMGMT_OK) {
                r->failed_at = k;
                __atomic_store_n(&dl->stop, 1, __ATOMIC_RELEASE);
                return;
            }
        }
        if (end == dl->nup)
            return;
    }
}

void dm_dir_load_read(dm_dir_load *dl, int reader)
{
    if (reader == 0)
        dm_dir_load_list(dl);
    else if (!__atomic_load_n(&dl->listed, __ATOMIC_ACQUIRE))
        return; /* not listed yet (or it failed): reader 0 reads it all */
    if (dl->rc == DBMGMT_OK && reader >= 0 && reader < DM_DIR_READERS)
        dir_load_share(dl, &dl->readers[reader]);
}

/* The rest, on the caller's thread once every reader is done: the error a
 * single reader would have met first, then the version check, the down-side
 * files, the one-layout check, and the merge into src. */
int dm_dir_load_finish(dm_dir_load *dl, dm_source *src, dm_error *err)
{
    if (dl->rc != DBMGMT_OK)
        return dm_error_copy(err, &dl->err);
    const dir_reader *failed = NULL;
    for (int i = 0; i < DM_DIR_READERS; i++)
        if (dl->readers[i].rc != DBMGMT_OK &&
            (!failed || dl->readers[i].failed_at < failed->failed_at))
            failed = &dl->readers[i];
    if (failed)
        return dm_error_copy(err, &failed->err);
    loading l;
    memset(&l, 0, sizeof l);
    l.items = dl->items;
    l.count = l.cap = dl->nup;
    dl->items = NULL;
    for (int i = 0; i < DM_DIR_READERS; i++)
        dm_arena_adopt(&l.arena, &dl->readers[i].own.arena);
    const dir_entry *entries = dl->ls.entries;
    int rc = loading_sort_and_check(&l, err);
    for (size_t i = 0; i < dl->ls.count && rc == DBMGMT_OK; i++)
        if (!up_kind(entries[i].kind))
            rc = load_down_file(&l, &dl->ls, dl->dir, &entries[i], err);
    if (rc == DBMGMT_OK)
        rc = check_one_layout(&l, err);
    if (rc == DBMGMT_OK)
        rc = source_merge(src, &l, err);
    if (rc == DBMGMT_OK)
        src->from_dir = 1;
    loading_free(&l);
    return rc;
}

void dm_dir_load_free(dm_dir_load *dl)
{
    if (!dl)
        return;
    for (int i = 0; i < DM_DIR_READERS; i++)
        loading_free(&dl->readers[i].own);
    dm_free(dl->items);
    dm_free(dl->up);
    listing_free(&dl->ls);
    dm_free(dl);
}

int dm_source_add_dir(dm_source *src, const char *dir, dm_error *err)
{
    dm_dir_load *dl = dm_dir_load_new(dir);
    if (!dl)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory loading %s", dir);
    dm_dir_load_read(dl, 0);
    int rc = dm_dir_load_finish(dl, src, err);
    dm_dir_load_free(dl);
    return rc;
}

int dm_source_parse_file(const char *name, const char *text, size_t len, dm_arena *arena,
                         dm_migration *out, dm_error *err)
{
    memset(out, 0, sizeof *out);
    parsed_name pn = parse_name(name);
    if (pn.kind == NAME_IGNORED)
        return DBMGMT_OK;
    if (pn.kind == NAME_BAD)
        return dm_error_set(err, DBMGMT_ERR_PARSE, "%s: not a valid migration file name: %s",
                            name, pn.why);
    dm_file_text f = {.path = dm_arena_strdup(arena, name), .text = text, .len = len,
                   .arena = arena};
    out->version = dm_arena_strdup(arena, pn.version);
    out->name = dm_arena_strdup(arena, pn.description);
    if (!f.path || !out->version || !out->name)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "%s: out of memory", name);
    if (pn.kind == NAME_VERSIONED)
        return parse_versioned_file(out, &f, err);
    if (up_kind(pn.kind)) {
        out->layout = pn.kind == NAME_GOLANG_UP ? DM_LAYOUT_GOLANG : DM_LAYOUT_FLYWAY;
        return whole_file_section(&out->up, &f, err);
    }
    out->layout = down_layout(pn.kind);
    return whole_file_section(&out->down, &f, err);
}

/* ---- compiled-in tables ------------------------------------------------------ */

static int table_entry_add(loading *l, const dbmgmt_migration_def *d, size_t index, dm_error *err)
{
    if (!d->version || !dm_version_valid(d->version) || !d->name || !d->up_sql)
        return dm_error_set(err, DBMGMT_ERR_INVALID,
                            "embedded migration #%zu (%s): version (digits or 1.2.3), name and "
                            "up_sql are required", index, d->version ? d->version : "no version");
    dm_migration *m = loading_add(l, d->version, d->name, err);
    if (!m)
        return DBMGMT_ERR_NOMEM; /* err may be NULL */
    m->layout = DM_LAYOUT_EMBEDDED;
    m->no_transaction = (d->flags & DBMGMT_MIGRATION_NO_TRANSACTION) != 0;
    const char *file = d->source ? d->source : "(embedded)";
    m->up.sql = dm_arena_strdup(&l->arena, d->up_sql);
    m->up.len = strlen(d->up_sql);
    m->up.file = dm_arena_strdup(&l->arena, file);
    m->up.line = 1;
    if (d->down_sql) {
        m->down.sql = dm_arena_strdup(&l->arena, d->down_sql);
        m->down.len = strlen(d->down_sql);
        m->down.file = m->up.file;
        m->down.line = 1;
    }
    if (!m->up.sql || !m->up.file || (d->down_sql && (!m->down.sql || !m->down.file)))
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory loading embedded migrations");
    dm_checksum_normalised(m->up.sql, m->up.len, m->checksum);
    if (d->checksum && strcmp(d->checksum, m->checksum) != 0)
        return dm_error_set(err, DBMGMT_ERR_CHECKSUM,
                            "embedded migration %s (%s): its up_sql does not match the checksum "
                            "recorded when the table was generated (%s, now %s)", d->version,
                            file, d->checksum, m->checksum);
    return DBMGMT_OK;
}

int dm_source_add_table(dm_source *src, const dbmgmt_migration_def *defs, dm_error *err)
{
    loading l;
    memset(&l, 0, sizeof l);
    int rc = DBMGMT_OK;
    size_t i = 0;
    for (; defs[i].struct_version != 0 && rc == DBMGMT_OK; i++) {
        if (defs[i].struct_version != DBMGMT_MIGRATION_DEF_VERSION)
            rc = dm_error_set(err, DBMGMT_ERR_UNSUPPORTED,
                              "embedded migration #%zu has layout version %u; this libdbmgmt "
                              "reads version %u (regenerate the table with dbmgmt embed)", i,
                              (unsigned)defs[i].struct_version, DBMGMT_MIGRATION_DEF_VERSION);
        else
            rc = table_entry_add(&l, &defs[i], i, err);
    }
    if (rc == DBMGMT_OK)
        rc = loading_sort_and_check(&l, err);
    if (rc == DBMGMT_OK)
        rc = source_merge(src, &l, err);
    if (rc == DBMGMT_OK)
        src->from_table = 1;
    loading_free(&l);
    return rc;
}

void dm_source_clear(dm_source *src)
{
    dm_free(src->items);
    dm_arena_free(&src->arena);
    memset(src, 0, sizeof *src);
}

const dm_migration *dm_source_find(const dm_source *src, const char *version)
{
    size_t lo = 0, hi = src->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = dm_version_compare(src->items[mid].version, version);
        if (c == 0)
            return &src->items[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
