/*
 * Internal: the Prometheus text exposition's format (0.0.4), shared by the
 * health exposition (prometheus.c) and the archive jobs' (lib/archive).
 */
#ifndef DM_HEALTH_PROM_TEXT_H
#define DM_HEALTH_PROM_TEXT_H

#include "core/buf.h"

/* A sample value as Prometheus parses it (NaN, +Inf, -Inf, exact decimals). */
void dm_prom_number(dm_buf *b, double v);
/* A label value in double quotes, escaped; invalid UTF-8 becomes U+FFFD. */
void dm_prom_label_value(dm_buf *b, const char *v);
/* A family's HELP and TYPE lines. */
void dm_prom_family(dm_buf *b, const char *name, const char *type, const char *help);

#endif
