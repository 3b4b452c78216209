/* dbmgmt: entry point and command table. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const cli_command commands[] = {
    {"split", "--engine sqlite|postgres|mysql [FILE|-]",
     "split an SQL script into statements, one JSON object per line", cmd_split},
};

#define COMMAND_COUNT (sizeof commands / sizeof commands[0])

static void print_usage(FILE *f)
{
    fprintf(f, "usage: dbmgmt COMMAND [OPTIONS] [ARGS]\n"
               "       dbmgmt --version | --help | help\n\ncommands:\n");
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        fprintf(f, "  %s %s\n      %s\n", commands[i].name, commands[i].synopsis,
                commands[i].summary);
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("dbmgmt: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    print_usage(stderr);
    return CLI_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("missing command");
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0) {
        printf("dbmgmt %s\n", dbmgmt_version());
        return CLI_EXIT_OK;
    }
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        print_usage(stdout);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    return cli_usage_error("unknown command '%s'", name);
}
