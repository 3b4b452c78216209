/*
 * Token matching shared by the statement readers and the rules: names,
 * word lists, optional clauses and searches at parenthesis depth 0. The
 * one-token tests (is_word, is_op, ...) are inline in lint_impl.h.
 */
#include <string.h>
#include <strings.h>

#include "lint/lint_impl.h"

lname lint_name_at(const section_ctx *c, size_t i, size_t *next)
{
    lname n = {"", 0};
    while (is_name_tok(c, i)) {
        n.s = c->text + TOK(c, i)->value_offset;
        n.len = TOK(c, i)->value_len;
        i++;
        if (!is_op(c, i, '.') || !is_name_tok(c, i + 1))
            break;
        i++;
    }
    if (next)
        *next = i;
    return n;
}

int lint_same_name(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && strncasecmp(a, b, alen) == 0;
}

int lint_word_in(const section_ctx *c, size_t i, const char *const *words)
{
    for (size_t k = 0; words[k]; k++)
        if (is_word(c, i, words[k]))
            return 1;
    return 0;
}

size_t lint_skip_words(const section_ctx *c, size_t i, const char *const *words)
{
    while (lint_word_in(c, i, words))
        i++;
    return i;
}

size_t lint_skip_if_exists(const section_ctx *c, size_t i, int not, int *found)
{
    *found = 0;
    if (is_word(c, i, "IF") && (not ? is_word(c, i + 1, "NOT") && is_word(c, i + 2, "EXISTS")
                                    : is_word(c, i + 1, "EXISTS"))) {
        *found = 1;
        return i + (not ? 3u : 2u);
    }
    return i;
}

size_t lint_find_depth0(const section_ctx *c, size_t from, size_t to, const char *const *words)
{
    int depth = 0;
    for (size_t i = from; i < to; i++)
        if (!is_paren(c, i, &depth) && depth == 0 && lint_word_in(c, i, words))
            return i;
    return to;
}

size_t lint_find_word_depth0(const section_ctx *c, size_t from, size_t to, const char *word)
{
    const char *const words[] = {word, NULL};
    return lint_find_depth0(c, from, to, words);
}

int lint_has_words_depth0(const section_ctx *c, size_t from, size_t to, const char *w1,
                          const char *w2)
{
    for (size_t i = lint_find_word_depth0(c, from, to, w1); i < to;
         i = lint_find_word_depth0(c, i + 1, to, w1))
        if (!w2 || is_word(c, i + 1, w2))
            return 1;
    return 0;
}

size_t lint_count_newlines(const char *s, size_t n)
{
    size_t lines = 0;
    for (const char *end = s + n; (s = memchr(s, '\n', (size_t)(end - s))) != NULL; s++)
        lines++;
    return lines;
}

int32_t lint_line_of_tok(const section_ctx *c, size_t i)
{
    size_t end = i < NT(c) ? TOK(c, i)->offset : 0;
    return c->line + (int32_t)lint_count_newlines(c->text, end);
}
