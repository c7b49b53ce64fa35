/*
 * cli: the sample host's command line: options, commands and help texts.
 *
 * Pure: parses argv into a cli_options (pointers into argv, nothing
 * allocated) and checks that the options fit the command. No I/O; the help
 * texts are constants. Not thread-safe (GNU getopt's globals).
 */
#ifndef FCB_HOST_CLI_H
#define FCB_HOST_CLI_H

#include <stdbool.h>
#include <stddef.h>

#define HOST_PROG "fakecloud-lambda-host"

#ifndef FCB_HOST_PLUGIN_BUILD_DIR
#define FCB_HOST_PLUGIN_BUILD_DIR ""
#endif
#ifndef FCB_HOST_PLUGIN_INSTALL_DIR
#define FCB_HOST_PLUGIN_INSTALL_DIR "/usr/local/lib/fakecloud/backends"
#endif

#define CLI_MAX_LAYERS 5

typedef struct cli_options {
    const char *command; /* NULL when none was given */
    const char *handle;  /* the command's argument: HANDLE, IMAGE or help's COMMAND */
    const char *backend;
    const char *function_file;
    const char *code_file;
    const char *code_dir; /* --code-dir DIR: hot reload (ABI 1.1 code_dir) */
    const char *layer_files[CLI_MAX_LAYERS];
    size_t n_layers;
    const char *image;
    const char *payload;
    const char *payload_file;
    const char *artifact_listen;
    const char *role_credentials; /* --role-credentials FILE */
    const char *aws_endpoint_url; /* --aws-endpoint-url URL */
    const char *listen;           /* serve --listen ADDR:PORT */
    const char *tail;             /* logs --tail N, as given */
    const char *since;            /* logs --since DURATION, as given */
    bool follow;                  /* logs --follow */
    bool log_tail;                /* invoke --log-tail */
    bool stats;                   /* --stats */
    bool keep;
    bool json;
    bool verbose;
    bool help;
} cli_options;

/*
 * Parse ARGV into *O (zeroed first; GNU getopt: options may come before or
 * after the command). The strings stay argv's. Returns 0, or -1 with `why`
 * naming the option at fault (a usage error).
 */
int cli_parse(int argc, char **argv, cli_options *o, char *why, size_t why_size);

/*
 * Refuse what means nothing for o->command (a known command, not "help"):
 * options of other commands, a missing or extra argument, --function
 * missing, --payload with --payload-file, stdin read twice. Returns 0 or -1
 * with `why`.
 */
int cli_check(const cli_options *o, char *why, size_t why_size);

/* The help text of COMMAND (NULL: the general help); NULL for an unknown command. */
const char *cli_help(const char *command);

/* launch and invoke read a function and start the artifact server. */
bool cli_is_launching(const char *command);

/* Commands that take one argument (HANDLE or IMAGE). */
bool cli_takes_argument(const char *command);

/*
 * logs --tail N: 0 (not given) or 1..CLI_TAIL_MAX. Returns 0 or -1 with `why`.
 */
#define CLI_TAIL_MAX 100000
int cli_tail_lines(const char *text, unsigned *lines, char *why, size_t why_size);

/*
 * logs --since DURATION ("90s", "15m", "2h", digits then one unit; at most
 * 30 days) in milliseconds. Returns 0 or -1 with `why`.
 */
int cli_since_ms(const char *text, long long *ms, char *why, size_t why_size);

#endif
