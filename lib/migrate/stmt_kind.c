/*
 * What a migration's statement may do beyond its own effect, read from its
 * first word (issue 23: round trips per migration on the network engines).
 * - Whether it may change the session (SET, USE, a procedure's SET, a
 *   MySQL conditional comment, PostgreSQL's set_config): only then does the
 *   migrator put the session back after the migration (docs/migrations.md,
 *   "Round trips").
 * - Whether its progress mark may travel with it in one round trip: a
 *   plain DDL or DML statement that returns at most one result, ended by
 *   ';' (not a DELIMITER block, not CALL, which return several).
 */
#include <ctype.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "conn/conn.h"
#include "migrator.h"
#include "sql/split.h"

#define WORD_MAX 16

/* The first word of sql, upper or lower case as written, in word ("" when
 * there is none); "(conditional)" when a MySQL conditional comment (slash,
 * star, bang) comes first. */
static void first_word(const char *sql, char word[WORD_MAX])
{
    const char *p = sql;
    word[0] = '\0';
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if ((p[0] == '-' && p[1] == '-') || p[0] == '#') {
            p += strcspn(p, "\n");
        } else if (p[0] == '/' && p[1] == '*') {
            if (p[2] == '!' || (p[2] == 'M' && p[3] == '!')) {
                strcpy(word, "(conditional)");
                return;
            }
            const char *end = strstr(p + 2, "*/");
            if (!end)
                return;
            p = end + 2;
        } else {
            break;
        }
    }
    size_t n = 0;
    while (n + 1 < WORD_MAX && (isalpha((unsigned char)p[n]) || p[n] == '_')) {
        word[n] = p[n];
        n++;
    }
    word[n] = '\0';
}

static int word_in(const char *word, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strcasecmp(word, list[i]) == 0)
            return 1;
    return 0;
}

/* Case-insensitive: whether sql contains needle (lower case). */
static int contains_folded(const char *sql, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = sql; *p; p++)
        if (strncasecmp(p, needle, n) == 0)
            return 1;
    return 0;
}

int dm_stmt_may_change_session(const dm_mig_statement *st)
{
    static const char *const changing[] = {
        "SET", "USE", "RESET", "DISCARD", "CALL", "EXECUTE", "DO", "SELECT", "WITH",
        "BEGIN", "START", "LOCK", "SOURCE", NULL};
    if (!st->split) /* a goose StatementBegin/End block: may hold anything */
        return 1;
    char word[WORD_MAX];
    first_word(st->sql, word);
    if (!word[0] || !strcmp(word, "(conditional)") || word_in(word, changing))
        return 1;
    return contains_folded(st->sql, "set_config");
}

int dm_stmt_can_carry_mark(const dm_mig_statement *st)
{
    static const char *const plain[] = {"CREATE", "ALTER",  "DROP",    "RENAME", "TRUNCATE",
                                        "INSERT", "UPDATE", "DELETE",  "REPLACE", "GRANT",
                                        "REVOKE", "COMMENT", NULL};
    if (!st->split || strcmp(st->split->delimiter, ";") != 0 ||
        st->split->command_len < st->split->len)
        return 0;
    char word[WORD_MAX];
    first_word(st->sql, word);
    return word_in(word, plain);
}
