/* A snapshot as JSON (docs/health.md): the engine, when it was made, every
 * figure by name (null when absent), the largest tables and the replicas. */
#include "health_impl.h"

#include "core/buf.h"
#include "core/error.h"
#include "core/json.h"

DBMGMT_API char *dbmgmt_health_to_json(const dbmgmt_health *h)
{
    if (!h)
        return NULL;
    dm_buf b = DM_BUF_INIT;
    dm_json j;
    dm_json_init(&j, &b);
    dm_json_object_begin(&j);
    dm_json_key(&j, "engine");
    dm_json_string(&j, dbmgmt_engine_name(h->engine));
    dm_json_key(&j, "collected_at_ms");
    dm_json_int(&j, h->collected_at_ms);
    for (int32_t m = 0; m < DBMGMT_HEALTH_METRIC_COUNT; m++) {
        dm_json_key(&j, dbmgmt_health_metric_name(m));
        if (h->present[m])
            dm_json_double(&j, h->value[m]);
        else
            dm_json_null(&j);
    }
    dm_json_key(&j, "tables");
    dm_json_array_begin(&j);
    for (size_t i = 0; i < h->ntables; i++) {
        dm_json_object_begin(&j);
        dm_json_key(&j, "name");
        dm_json_string(&j, h->tables[i].name);
        dm_json_key(&j, "bytes");
        dm_json_int(&j, h->tables[i].bytes);
        dm_json_object_end(&j);
    }
    dm_json_array_end(&j);
    dm_json_key(&j, "replicas");
    dm_json_array_begin(&j);
    for (size_t i = 0; i < h->nreplicas; i++) {
        dm_json_object_begin(&j);
        dm_json_key(&j, "name");
        dm_json_string(&j, h->replicas[i].name);
        dm_json_key(&j, "lag_seconds");
        dm_json_double(&j, h->replicas[i].lag_seconds);
        dm_json_object_end(&j);
    }
    dm_json_array_end(&j);
    dm_json_object_end(&j);
    char *out = dm_json_failed(&j) ? NULL : dm_buf_detach(&b);
    if (!out) {
        dm_buf_free(&b);
        dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory rendering health as JSON");
    }
    return out;
}
