/*
 * libFuzzer target for the DSN parser (lib/core/dsn.c). The input, up to its
 * first NUL byte, is a DSN. Checks, for any input:
 *  - no crash; parse fails with DBMGMT_ERR_PARSE and no result, or succeeds;
 *  - on success, URL form with a password: raw[password_at, +password_len]
 *    sits between the user-info's ':' and the '@' that ends it, and the
 *    redacted rendering does not contain the password (decoded or as
 *    written) unless that text occurs in the DSN outside the password too;
 *  - parse(render(x)): the rendering parses again to the same engine and
 *    form; when redaction changed nothing but the password (dsn.h: "the
 *    password replaced by ***"), every field agrees and the password is
 *    "***".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/dsn.h"
#include "fuzz_common.h"

static int same_string(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* The DSN with the password span cut out: where the password may occur
 * legitimately outside the secret. */
static char *raw_without_password(const dm_dsn *d)
{
    size_t len = strlen(d->raw);
    char *s = malloc(len + 2);
    CHECK(s != NULL);
    memcpy(s, d->raw, d->password_at);
    s[d->password_at] = '\x01'; /* never in a DSN: no match across the cut */
    strcpy(s + d->password_at + 1, d->raw + d->password_at + d->password_len);
    return s;
}

static void check_password_hidden(const dm_dsn *d, const char *shown)
{
    if (!d->password || d->password_len == 0)
        return;
    CHECK(d->password_at > 0 && d->password_at + d->password_len <= strlen(d->raw));
    CHECK(d->raw[d->password_at - 1] == ':');
    CHECK(d->raw[d->password_at + d->password_len] == '@');
    char *rest = raw_without_password(d);
    char *as_written = malloc(d->password_len + 1);
    CHECK(as_written != NULL);
    memcpy(as_written, d->raw + d->password_at, d->password_len);
    as_written[d->password_len] = '\0';
    /* shown with every "***" cut out the same way: a marker and the text
     * around it may spell a password ("*@" in postgres://:*@@ shows as
     * :***@@), and the rendering also masks password-like key=value text
     * elsewhere (";pwd=..." inside a user name); neither is a leak */
    char *shown_cut = strdup(shown);
    CHECK(shown_cut != NULL);
    for (char *m; (m = strstr(shown_cut, "***")) != NULL;) {
        *m = '\x01';
        memmove(m + 1, m + 3, strlen(m + 3) + 1);
    }
    if (*d->password && !strstr(rest, d->password))
        CHECK(strstr(shown_cut, d->password) == NULL);
    if (!strstr(rest, as_written))
        CHECK(strstr(shown_cut, as_written) == NULL);
    free(shown_cut);
    free(as_written);
    free(rest);
}

/* raw with the password span replaced by "***": the rendering dsn.h promises. */
static char *expected_rendering(const dm_dsn *d)
{
    size_t len = strlen(d->raw);
    char *s = malloc(len + 4);
    CHECK(s != NULL);
    if (!d->password || d->password_len == 0) {
        memcpy(s, d->raw, len + 1);
        return s;
    }
    memcpy(s, d->raw, d->password_at);
    memcpy(s + d->password_at, "***", 3);
    strcpy(s + d->password_at + 3, d->raw + d->password_at + d->password_len);
    return s;
}

static void check_reparse(const dm_dsn *d, const char *shown)
{
    dm_dsn *again = NULL;
    int rc = dm_dsn_parse(shown, &again, NULL);
    char *expected = expected_rendering(d);
    int exact = strcmp(expected, shown) == 0;
    free(expected);
    if (exact)
        CHECK(rc == DBMGMT_OK);
    if (rc != DBMGMT_OK) {
        CHECK(again == NULL);
        return;
    }
    CHECK(again->engine == d->engine && again->keyword_form == d->keyword_form);
    if (exact) {
        CHECK(same_string(again->user, d->user) && same_string(again->host, d->host));
        CHECK(again->port == d->port && same_string(again->database, d->database));
        if (d->password && d->password_len > 0)
            CHECK(again->password && strcmp(again->password, "***") == 0);
        else
            CHECK(same_string(again->password, d->password));
        CHECK(again->nparams == d->nparams);
        for (size_t i = 0; i < d->nparams; i++) {
            CHECK(strcmp(again->params[i].key, d->params[i].key) == 0);
            CHECK(strcmp(again->params[i].value, d->params[i].value) == 0);
        }
    }
    dm_dsn_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len = strnlen((const char *)data, size);
    char *text = malloc(len + 1);
    CHECK(text != NULL);
    memcpy(text, data, len);
    text[len] = '\0';
    dm_dsn *d = NULL;
    int rc = dm_dsn_parse(text, &d, NULL);
    if (rc != DBMGMT_OK) {
        CHECK(rc == DBMGMT_ERR_PARSE && d == NULL);
        free(text);
        return 0;
    }
    CHECK(d != NULL && strcmp(d->raw, text) == 0);
    CHECK(d->port >= 0 && d->port <= 65535);
    char *shown = dm_dsn_render_redacted(d);
    CHECK(shown != NULL);
    check_password_hidden(d, shown);
    check_reparse(d, shown);
    dm_free(shown);
    dm_dsn_free(d);
    free(text);
    return 0;
}
