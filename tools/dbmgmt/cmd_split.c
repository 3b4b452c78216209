/* dbmgmt split --engine ENGINE [FILE|-]: statements as JSON lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct split_args {
    dbmgmt_engine engine;
    const char *path; /* NULL: stdin */
} split_args;

static int split_parse_args(int argc, char **argv, split_args *a)
{
    const char *engine = NULL;
    a->path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--engine") == 0 || strcmp(arg, "-e") == 0) {
            if (++i >= argc)
                return cli_usage_error("split: --engine needs a value");
            engine = argv[i];
        } else if (strncmp(arg, "--engine=", 9) == 0) {
            engine = arg + 9;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            return cli_usage_error("split: unknown option '%s'", arg);
        } else if (a->path) {
            return cli_usage_error("split: more than one FILE given");
        } else {
            a->path = arg;
        }
    }
    if (!engine)
        return cli_usage_error("split: --engine is required");
    a->engine = cli_parse_engine(engine);
    if (a->engine == DBMGMT_ENGINE_NONE)
        return cli_usage_error("split: unknown engine '%s' (sqlite, postgres, mysql)", engine);
    return CLI_EXIT_OK;
}

static int split_print(const dbmgmt_statements *list)
{
    size_t n = dbmgmt_statements_count(list);
    for (size_t i = 0; i < n; i++) {
        char *json = dbmgmt_statement_to_json(list, i);
        if (!json) {
            fprintf(stderr, "dbmgmt: %s\n", dbmgmt_errmsg());
            return CLI_EXIT_FAILURE;
        }
        puts(json);
        dbmgmt_free(json);
    }
    return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

int cmd_split(int argc, char **argv)
{
    split_args a;
    char *sql = NULL;
    size_t len = 0;
    dbmgmt_statements *list = NULL;
    int status = split_parse_args(argc, argv, &a);
    if (status != CLI_EXIT_OK)
        return status;
    if (cli_read_file(a.path, &sql, &len) != 0)
        return CLI_EXIT_FAILURE;
    const char *name = a.path && strcmp(a.path, "-") != 0 ? a.path : "<stdin>";
    if (dbmgmt_split(a.engine, sql, len, &list) != DBMGMT_OK) {
        fprintf(stderr, "%s:%s\n", name, dbmgmt_errmsg());
        status = CLI_EXIT_FAILURE;
    } else {
        status = split_print(list);
    }
    dbmgmt_statements_free(list);
    free(sql);
    return status;
}
