/* dbmgmt snapshot: an anonymised snapshot of a backup (docs/snapshots.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int progress(void *userdata, const char *table, int64_t masked, int64_t total)
{
    (void)userdata;
    fprintf(stderr, "dbmgmt snapshot: %s: %lld of %lld rows masked\n", table, (long long)masked,
            (long long)total);
    return 0;
}

int cmd_snapshot(int argc, char **argv)
{
    const char *from = NULL, *id = NULL, *to = NULL, *mask = NULL;
    const char *key_file = getenv("DBMGMT_SNAPSHOT_KEY_FILE");
    const char *backup_key_file = getenv("DBMGMT_BACKUP_KEY_FILE");
    int json = cli_globals.json;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
            from = argv[++i];
        else if (strcmp(argv[i], "--id") == 0 && i + 1 < argc)
            id = argv[++i];
        else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
            to = argv[++i];
        else if (strcmp(argv[i], "--mask") == 0 && i + 1 < argc)
            mask = argv[++i];
        else if (strcmp(argv[i], "--mask-key-file") == 0 && i + 1 < argc)
            key_file = argv[++i];
        else if (strcmp(argv[i], "--backup-key-file") == 0 && i + 1 < argc)
            backup_key_file = argv[++i];
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else
            return cli_usage_error("snapshot: unexpected argument '%s'", argv[i]);
    }
    if (!from || !to || !mask)
        return cli_usage_error("snapshot: --from BACKUP_DIR, --to DSN and --mask RULES_FILE are "
                               "required");
    dbmgmt_snapshot *s = NULL;
    int status = CLI_EXIT_FAILURE;
    if (dbmgmt_snapshot_new(&s, from) != DBMGMT_OK) {
        fprintf(stderr, "dbmgmt snapshot: %s\n", dbmgmt_errmsg());
        return CLI_EXIT_FAILURE;
    }
    if ((id && dbmgmt_snapshot_set_backup_id(s, id) != DBMGMT_OK) ||
        dbmgmt_snapshot_set_rules_file(s, mask) != DBMGMT_OK ||
        (key_file && dbmgmt_snapshot_set_key_file(s, key_file) != DBMGMT_OK) ||
        (backup_key_file &&
         dbmgmt_snapshot_set_backup_key_file(s, backup_key_file) != DBMGMT_OK) ||
        dbmgmt_snapshot_set_progress(s, progress, NULL) != DBMGMT_OK ||
        dbmgmt_snapshot_run(s, to) != DBMGMT_OK) {
        fprintf(stderr, "dbmgmt snapshot: %s\n", dbmgmt_snapshot_errmsg(s));
        goto out;
    }
    if (json)
        printf("%s\n", dbmgmt_snapshot_result_json(s));
    else
        printf("snapshot written to %s\n", to);
    status = CLI_EXIT_OK;
out:
    dbmgmt_snapshot_free(s);
    return status;
}
