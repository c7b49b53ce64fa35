/*
 * fakecloud-lambda-host: a real host for fakecloud Lambda backend plugins.
 *
 * Loads the backend named by FAKECLOUD_LAMBDA_BACKEND (or --backend), lends
 * it the host services, and runs one command: backends, launch, invoke,
 * terminate, reap, prepull, logs, status, help. See docs/host.md and
 * `fakecloud-lambda-host help`. This file only dispatches: cli.c parses,
 * commands_*.c run the commands, run.c holds what they share, signals.c
 * handles interruption.
 */
#include "cli.h"
#include "commands.h"
#include "output.h"
#include "run.h"
#include "serve.h"

#include <curl/curl.h>

#include <stdio.h>
#include <string.h>

extern char **environ;

static const struct {
    const char *name;
    int (*fn)(run *r);
} commands[] = {
    {"backends", cmd_backends},   {"launch", cmd_launch}, {"invoke", cmd_invoke},
    {"terminate", cmd_terminate}, {"reap", cmd_reap},     {"prepull", cmd_prepull},
    {"logs", cmd_logs},           {"status", cmd_status}, {"serve", cmd_serve},
};

/*
 * No command, `help`, or --help: print the help asked for. Returns true
 * (with *status) when that was all there was to do.
 */
static bool answer_help(const cli_options *o, int *status)
{
    const char *command = o->command;
    *status = HOST_EXIT_OK;
    if (command != NULL && strcmp(command, "help") != 0) {
        const char *text = cli_help(command);
        if (text == NULL) {
            fprintf(stderr, HOST_PROG ": unknown command \"%s\" (see --help)\n", command);
            *status = HOST_EXIT_USAGE;
            return true;
        }
        if (o->help)
            fputs(text, stdout);
        return o->help;
    }
    const char *topic = command != NULL ? o->handle : NULL;
    if (command != NULL && topic == NULL && o->help)
        topic = "help"; /* `help --help` */
    const char *text = cli_help(topic);
    if (text == NULL) {
        fprintf(stderr, HOST_PROG ": help: unknown command \"%s\"\n", o->handle);
        *status = HOST_EXIT_USAGE;
    } else if (command == NULL && !o->help) {
        fputs(text, stderr);
        *status = HOST_EXIT_USAGE;
    } else {
        fputs(text, stdout);
    }
    return true;
}

/* Release everything the run holds (the backend is released already). */
static void run_cleanup(run *r)
{
    signals_destroy(&r->sig);
    artifact_server_stop(r->artifacts);
    r->artifacts = NULL;
    function_desc_free(r->desc);
    free(r->code);
    for (size_t i = 0; i < CLI_MAX_LAYERS; i++)
        free(r->layers[i]);
    free(r->layers_tar);
    explicit_bzero(r->token, sizeof r->token);
    credentials_free(&r->creds);
    json_object_put(r->out);
    host_services_free(r->hs);
}

/*
 * After the command: stop the signal thread, close and unload the backend,
 * stop the watchdog. A signal that came while the command finished anyway
 * still makes the status 130.
 */
static int end_command(run *r, int rc)
{
    signals_stop(&r->sig);
    rc = run_backend_release(r, rc);
    signals_finish(&r->sig);
    /* A signal is how `serve` is stopped: its status is that of the stop. */
    if (!run_interrupted(r) || rc == HOST_EXIT_INTERRUPTED || strcmp(r->opt.command, "serve") == 0)
        return rc;
    if (r->out != NULL || !r->opt.json)
        return run_fail(r, HOST_EXIT_INTERRUPTED, FCB_ERR_CANCELLED,
                        "interrupted (the command had finished: exit status %d)", rc);
    fprintf(stderr, HOST_PROG ": interrupted\n"); /* the error is already printed */
    return HOST_EXIT_INTERRUPTED;
}

static int dispatch(run *r)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return run_fail(r, HOST_EXIT_FAILED, FCB_ERR_INTERNAL, "curl_global_init failed");
    int rc = HOST_EXIT_USAGE;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(r->opt.command, commands[i].name) == 0)
            rc = commands[i].fn(r);
    }
    if (r->opt.stats)
        run_print_stats(r);
    rc = end_command(r, rc);
    curl_global_cleanup();
    return rc;
}

int main(int argc, char **argv)
{
    run r;
    memset(&r, 0, sizeof r);
    char why[HOST_WHY_MAX];
    if (cli_parse(argc, argv, &r.opt, why, sizeof why) != 0) {
        fprintf(stderr, HOST_PROG ": %s\n", why);
        return HOST_EXIT_USAGE;
    }
    int rc = HOST_EXIT_OK;
    if (answer_help(&r.opt, &rc))
        return rc;
    if (cli_check(&r.opt, why, sizeof why) != 0)
        return run_fail(&r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "%s", why);
    if (host_services_new(environ, stderr, &r.hs, why, sizeof why) != 0)
        return run_fail(&r, HOST_EXIT_USAGE, FCB_ERR_CONFIG, "%s", why);
    if (r.opt.verbose)
        host_services_set_min_level(r.hs, FCB_LOG_DEBUG);
    r.out = json_object_new_object(); /* the result; printed with --json */
    signals_init(&r.sig, r.hs, r.opt.json);
    signals_start(&r.sig);
    rc = dispatch(&r);
    if (r.out != NULL && r.opt.json) {
        if (json_object_object_get(r.out, "ok") == NULL)
            json_object_object_add(r.out, "ok", json_object_new_boolean(rc == HOST_EXIT_OK));
        json_object_object_add(r.out, "exit_code", json_object_new_int(rc));
        output_json_print(r.out);
    }
    fflush(stdout);
    run_cleanup(&r);
    return rc;
}
