/* Migration versions (1, 20240101, 1.2.3) and the checksum of a migration's text. */
#include "source.h"

#include <ctype.h>
#include <string.h>

#include "core/sha256.h"

/* ---- versions ------------------------------------------------------------ */

int dm_version_valid(const char *v)
{
    if (!v || !isdigit((unsigned char)*v))
        return 0;
    for (const char *p = v; *p; p++) {
        if (*p == '.') {
            if (!isdigit((unsigned char)p[1]))
                return 0;
        } else if (!isdigit((unsigned char)*p)) {
            return 0;
        }
    }
    return 1;
}

/* Compare one numeric part [a, a+alen) with [b, b+blen) by value. */
static int compare_number(const char *a, size_t alen, const char *b, size_t blen)
{
    while (alen > 1 && *a == '0')
        a++, alen--;
    while (blen > 1 && *b == '0')
        b++, blen--;
    if (alen != blen)
        return alen < blen ? -1 : 1;
    int c = memcmp(a, b, alen);
    return (c > 0) - (c < 0);
}

int dm_version_compare(const char *a, const char *b)
{
    size_t alen = strlen(a), blen = strlen(b);
    if (!memchr(a, '.', alen) && !memchr(b, '.', blen)) /* the common case: plain digits */
        return compare_number(a, alen, b, blen);
    for (;;) {
        size_t apart = strcspn(a, "."), bpart = strcspn(b, ".");
        int c = compare_number(a, apart, b, bpart);
        if (c)
            return c;
        a += apart;
        b += bpart;
        if (!*a || !*b) { /* "1.0" == "1": missing parts count as zero */
            const char *rest = *a ? a : b;
            int sign = *a ? 1 : -1;
            for (; *rest; rest++)
                if (*rest != '.' && *rest != '0')
                    return sign;
            return 0;
        }
        a++;
        b++;
    }
}

/* ---- checksums ------------------------------------------------------------- */

void dm_checksum_normalised(const char *text, size_t len, char hex[65])
{
    dm_sha256 ctx;
    dm_sha256_init(&ctx);
    size_t i = 0;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    size_t run = i;
    const char *cr;
    while (i < len && (cr = memchr(text + i, '\r', len - i)) != NULL) {
        i = (size_t)(cr - text);
        if (i + 1 < len && text[i + 1] == '\n') {
            dm_sha256_update(&ctx, text + run, i - run);
            run = i + 1; /* drop the CR, keep the LF */
        }
        i++;
    }
    dm_sha256_update(&ctx, text + run, len - run);
    dm_sha256_final_hex(&ctx, hex);
}
