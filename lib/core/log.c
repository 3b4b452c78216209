/* Logging through the host's hook, with passwords redacted. */
#include "log.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct logger {
    dbmgmt_log_fn fn;
    void *userdata;
    dbmgmt_log_level min_level;
} logger;

static logger current_logger = {NULL, NULL, DBMGMT_LOG_INFO};

DBMGMT_API int dbmgmt_set_logger(dbmgmt_log_fn fn, void *userdata, dbmgmt_log_level min_level)
{
    if ((int)min_level < DBMGMT_LOG_DEBUG || (int)min_level > DBMGMT_LOG_ERROR)
        return dm_error_invalid("dbmgmt_set_logger", "min_level must be DBMGMT_LOG_DEBUG..ERROR");
    current_logger.fn = fn;
    current_logger.userdata = userdata;
    current_logger.min_level = min_level;
    return DBMGMT_OK;
}

int dm_log_enabled(dbmgmt_log_level level)
{
    return current_logger.fn && level >= current_logger.min_level;
}

void dm_log(dbmgmt_log_level level, const char *fmt, ...)
{
    if (!dm_log_enabled(level))
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    dm_redact(line, sizeof line);
    current_logger.fn(current_logger.userdata, level, line);
}

/* Replace text[start, end) with "***" in place (the text shrinks or grows by
 * at most 3 bytes, bounded by cap). Returns the index just after "***". */
static size_t mask_span(char *text, size_t cap, size_t start, size_t end)
{
    static const char mask[] = "***";
    size_t len = strlen(text);
    size_t tail = len - end; /* bytes after the span, without the NUL */
    size_t new_len = start + 3 + tail;
    if (new_len + 1 > cap) { /* would not fit: truncate the tail */
        if (start + 3 + 1 > cap) {
            text[start < cap ? start : cap - 1] = '\0';
            return strlen(text);
        }
        tail = cap - 1 - start - 3;
    }
    memmove(text + start + 3, text + end, tail);
    memcpy(text + start, mask, 3);
    text[start + 3 + tail] = '\0';
    return start + 3;
}

/* "scheme://user:SECRET@host": mask SECRET. */
static void redact_url_userinfo(char *text, size_t cap)
{
    size_t i = 0;
    for (char *p = strstr(text, "://"); p; p = strstr(text + i, "://")) {
        size_t auth = (size_t)(p - text) + 3;
        size_t end = auth;
        while (text[end] && !strchr("/?# \t\r\n'\"", text[end]))
            end++;
        /* the last '@' in the authority ends the user-info */
        size_t at = end;
        while (at > auth && text[at - 1] != '@')
            at--;
        i = end;
        if (at == auth)
            continue;
        char *colon = memchr(text + auth, ':', at - 1 - auth);
        if (!colon)
            continue;
        size_t pw = (size_t)(colon - text) + 1;
        if (pw == at - 1 && text[pw] == '@')
            continue; /* empty password */
        size_t after = mask_span(text, cap, pw, at - 1);
        /* step over the '@', unless truncation ended the text there */
        i = text[after] ? after + 1 : after;
    }
}

static int is_key_boundary(const char *text, size_t pos)
{
    return pos == 0 || !(isalnum((unsigned char)text[pos - 1]) || text[pos - 1] == '_');
}

/* password=SECRET / pwd=SECRET / pass=SECRET (keyword strings, query strings,
 * option files). A quoted value ('...') is masked whole. */
static void redact_keywords(char *text, size_t cap)
{
    static const char *const keys[] = {"password", "passwd", "pwd", "pass"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        size_t klen = strlen(keys[k]);
        size_t i = 0;
        while (text[i]) {
            if (strncasecmp(text + i, keys[k], klen) != 0 || !is_key_boundary(text, i)) {
                i++;
                continue;
            }
            size_t j = i + klen;
            while (text[j] == ' ' || text[j] == '\t')
                j++;
            if (text[j] != '=' && text[j] != ':') {
                i++;
                continue;
            }
            j++;
            while (text[j] == ' ' || text[j] == '\t')
                j++;
            size_t start = j, end;
            if (text[j] == '\'' || text[j] == '"') {
                char q = text[j];
                end = j + 1;
                while (text[end] && text[end] != q) {
                    if (text[end] == '\\' && text[end + 1])
                        end++;
                    end++;
                }
                if (text[end] == q)
                    end++;
            } else {
                end = j;
                while (text[end] && !strchr(" \t\r\n&;,)", text[end]))
                    end++;
            }
            if (end == start || (end - start == 3 && strncmp(text + start, "***", 3) == 0)) {
                i = end > i ? end : i + 1;
                continue;
            }
            i = mask_span(text, cap, start, end);
        }
    }
}

void dm_redact(char *text, size_t cap)
{
    if (!text || cap == 0)
        return;
    redact_url_userinfo(text, cap);
    redact_keywords(text, cap);
}

void dm_redact_secret(char *text, size_t cap, const char *secret)
{
    if (!text || !secret || !*secret)
        return;
    size_t slen = strlen(secret);
    size_t i = 0;
    char *hit;
    while ((hit = strstr(text + i, secret)) != NULL)
        i = mask_span(text, cap, (size_t)(hit - text), (size_t)(hit - text) + slen);
}
