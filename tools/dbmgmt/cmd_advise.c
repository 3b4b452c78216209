/* dbmgmt advise: index advice for a workload (docs/advise.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Findings grouped by table, each with its DDL ready to paste. */
static void print_human(const dbmgmt_advice *adv)
{
    size_t n = dbmgmt_advice_count(adv);
    const char *last = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *table = dbmgmt_advice_table(adv, i);
        if (!last || strcmp(last, table) != 0)
            printf("%s== %s\n", last ? "\n" : "", table);
        last = table;
        int32_t kind = dbmgmt_advice_kind(adv, i);
        printf("  %s%s (%s)", dbmgmt_advice_kind_name(kind),
               kind == DBMGMT_ADVICE_MISSING && !dbmgmt_advice_confirmed(adv, i) ? ", unconfirmed"
                                                                                 : "",
               dbmgmt_advice_columns(adv, i));
        if (dbmgmt_advice_cost_before(adv, i) >= 0)
            printf(" cost %.2f -> %.2f", dbmgmt_advice_cost_before(adv, i),
                   dbmgmt_advice_cost_after(adv, i));
        printf("\n    %s\n", dbmgmt_advice_reason(adv, i));
        if (*dbmgmt_advice_ddl(adv, i))
            printf("    %s;\n", dbmgmt_advice_ddl(adv, i));
        size_t nq = dbmgmt_advice_queries(adv, i);
        for (size_t q = 0; q < nq && q < 3; q++)
            printf("    -- helps: %s\n", dbmgmt_advice_query_at(adv, i, q));
        if (nq > 3)
            printf("    -- ... and %zu more\n", nq - 3);
    }
    if (*dbmgmt_advice_note(adv))
        printf("%snote: %s\n", n ? "\n" : "", dbmgmt_advice_note(adv));
    printf("%s%zu finding%s, %zu statement%s skipped\n", n ? "\n" : "", n, n == 1 ? "" : "s",
           dbmgmt_advice_skipped(adv), dbmgmt_advice_skipped(adv) == 1 ? "" : "s");
}

int cmd_advise(int argc, char **argv)
{
    const char *queries = NULL;
    int from_stats = 0, json = cli_globals.json;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--queries") == 0 && i + 1 < argc)
            queries = argv[++i];
        else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
            cli_globals.url = argv[++i];
        else if (strcmp(argv[i], "--from-stats") == 0)
            from_stats = 1;
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else
            return cli_usage_error("advise: unexpected argument '%s'", argv[i]);
    }
    dbmgmt_conn *conn = NULL;
    dbmgmt_advisor *a = NULL;
    dbmgmt_advice *adv = NULL;
    int status = CLI_EXIT_FAILURE;
    if (dbmgmt_conn_open(&conn, cli_globals.url) != DBMGMT_OK) {
        fprintf(stderr, "dbmgmt advise: %s\n", dbmgmt_errmsg());
        return CLI_EXIT_FAILURE;
    }
    if (dbmgmt_advisor_new(&a, conn) != DBMGMT_OK ||
        (queries && dbmgmt_advisor_add_file(a, queries) != DBMGMT_OK) ||
        (from_stats && dbmgmt_advisor_use_engine_stats(a) != DBMGMT_OK) ||
        dbmgmt_advisor_run(a, &adv) != DBMGMT_OK) {
        fprintf(stderr, "dbmgmt advise: %s\n", dbmgmt_errmsg());
        goto out;
    }
    if (json) {
        char *text = dbmgmt_advice_to_json(adv);
        if (!text) {
            fprintf(stderr, "dbmgmt advise: out of memory\n");
            goto out;
        }
        printf("%s\n", text);
        dbmgmt_free(text);
    } else {
        print_human(adv);
    }
    status = CLI_EXIT_OK;
out:
    dbmgmt_advice_free(adv);
    dbmgmt_advisor_free(a);
    dbmgmt_conn_close(conn);
    return status;
}
