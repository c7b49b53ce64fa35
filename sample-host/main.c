/*
 * fakecloud-lambda-host: a real host for fakecloud Lambda backend plugins.
 *
 * Loads the backend named by FAKECLOUD_LAMBDA_BACKEND (or --backend), lends
 * it the host services, and runs one command: backends, launch, invoke,
 * terminate, reap, help. See docs/host.md and `fakecloud-lambda-host help`.
 */
#include "artifact_server.h"
#include "code_bundle.h"
#include "function_json.h"
#include "host_services.h"
#include "invoker.h"
#include "loader.h"

#include <curl/curl.h>
#include <json-c/json.h>

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#ifndef FCB_HOST_PLUGIN_BUILD_DIR
#define FCB_HOST_PLUGIN_BUILD_DIR ""
#endif
#ifndef FCB_HOST_PLUGIN_INSTALL_DIR
#define FCB_HOST_PLUGIN_INSTALL_DIR "/usr/local/lib/fakecloud/backends"
#endif
#ifndef FCB_HOST_VERSION
#define FCB_HOST_VERSION "0.0.0"
#endif

#define PROG "fakecloud-lambda-host"

enum host_exit {
    HOST_EXIT_OK = 0,
    HOST_EXIT_FAILED = 1,         /* the operation failed (plugin error, invoke failed) */
    HOST_EXIT_USAGE = 2,          /* bad command line, function JSON, zip or payload */
    HOST_EXIT_LOAD = 3,           /* backend not found, refused, init or open failed */
    HOST_EXIT_LEAK = 4,           /* everything worked but the plugin leaked memory */
    HOST_EXIT_NOT_TERMINATED = 5, /* invoke answered, but terminating the instance failed */
    HOST_EXIT_TEMPFAIL = 75,      /* unreachable, throttled or timed out: retry may help */
    HOST_EXIT_INTERRUPTED = 130,  /* SIGINT, SIGTERM or SIGHUP */
};

/*
 * After SIGINT/SIGTERM/SIGHUP the host exits within this long even when the
 * plugin call in progress cannot be cancelled (ABI 1.0 cancels only launch).
 */
#define HOST_INTERRUPT_GRACE_MS 500

#define WHY_MAX    2048
#define MAX_LAYERS 5
#define FILE_MAX   ((size_t)16 * 1024 * 1024)

typedef struct options {
    const char *command;
    const char *handle;
    const char *backend;
    const char *function_file;
    const char *code_file;
    const char *layer_files[MAX_LAYERS];
    size_t n_layers;
    const char *image;
    const char *payload;
    const char *payload_file;
    const char *artifact_listen;
    bool keep;
    bool json;
    bool verbose;
    bool help;
} options;

/* Everything one run owns; released by run_cleanup. */
typedef struct run {
    options opt;
    host_services *hs;
    loader_plugin *plugin;
    fcb_backend *backend;
    function_desc *desc;
    unsigned char *code;
    size_t code_len;
    unsigned char *layers[MAX_LAYERS];
    size_t layer_lens[MAX_LAYERS];
    unsigned char *layers_tar;
    size_t layers_tar_len;
    char deploy_id[17];
    char token[65];
    artifact_server *artifacts;
    json_object *out; /* --json document */
    /*
     * Interruption: SIGINT/SIGTERM/SIGHUP are blocked in every thread and
     * taken by signal_thread, which sets `interrupted` and, while a launch
     * runs, closes the backend (the ABI lets close() cancel in-flight
     * launches). sig_lock guards in_launch and close_state.
     */
    atomic_int interrupted;
    pthread_t signal_thread;
    bool signal_thread_started;
    pthread_mutex_t sig_lock;
    pthread_cond_t sig_cond;
    bool in_launch;
    int close_state; /* 0, 1 = signal thread closing the backend, 2 = closed */
    /*
     * Watchdog: started by the first signal; unless `finished` is set within
     * HOST_INTERRUPT_GRACE_MS it prints `phase` (what may be left half-done)
     * and _exit(130)s. Guarded by sig_lock.
     */
    pthread_t watchdog;
    bool watchdog_started;
    bool finished;
    char phase[FCB_HANDLE_MAX + 256];
} run;

static int is_interrupted(void *ctx);
static void set_phase(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- help ------------------------------------------------------------- */

static const char help_main[] =
    "Usage: " PROG " [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Run AWS Lambda functions through a fakecloud backend plugin\n"
    "(fakecloud-backend-<name>.so) chosen at run time.\n"
    "\n"
    "Commands:\n"
    "  backends          list the plugins found and whether this host accepts them\n"
    "  launch            start one instance of a function; print endpoint and handle\n"
    "  invoke            launch, POST an event, print the response, terminate\n"
    "  terminate HANDLE  stop an instance started by launch (idempotent)\n"
    "  reap              remove instances a previous host left behind\n"
    "  prepull IMAGE     make IMAGE present where the backend runs functions\n"
    "  help [COMMAND]    this text, or a command's options\n"
    "\n"
    "Options for every command:\n"
    "  --backend NAME|PATH  backend to load (default: $FAKECLOUD_LAMBDA_BACKEND)\n"
    "  --json               machine-readable output on stdout (one JSON object)\n"
    "  -v, --verbose        log at debug level and report the plugin's memory at exit\n"
    "  -h, --help           help (after a command: that command's help)\n"
    "\n"
    "Backend search: a NAME is looked up as fakecloud-backend-NAME.so in each\n"
    "directory of $FAKECLOUD_BACKEND_PATH (':'-separated), then in\n"
    "  " FCB_HOST_PLUGIN_BUILD_DIR "\n"
    "  " FCB_HOST_PLUGIN_INSTALL_DIR "\n"
    "A value containing '/' or ending in .so is a path to the plugin file.\n"
    "\n"
    "Environment: FAKECLOUD_LAMBDA_BACKEND, FAKECLOUD_BACKEND_PATH,\n"
    "FAKECLOUD_LOG_LEVEL=trace|debug|info|warn|error (default info),\n"
    "FAKECLOUD_LOG_FORMAT=text|json (default text; logs go to stderr).\n"
    "Plugins read their own settings (e.g. KUBECONFIG, FAKECLOUD_K8S_*) from the\n"
    "environment through the host.\n"
    "\n"
    "Exit status:\n"
    "  0  success\n"
    "  1  the operation failed (plugin error, runtime did not answer 2xx)\n"
    "  2  usage error or bad input (options, function JSON, zip, payload,\n"
    "     a handle or description the plugin refused, prepull unsupported)\n"
    "  3  the backend could not be loaded (not found, refused by the ABI check,\n"
    "     init failed) or its configuration is wrong (open failed, or an\n"
    "     operation answered FCB_ERR_CONFIG)\n"
    "  4  the command succeeded but the plugin leaked memory\n"
    "  5  invoke: the response was printed, but terminating the instance\n"
    "     failed (it may still run: `terminate HANDLE` or `reap`)\n"
    "  75  temporary failure, retry may help: the orchestrator was unreachable,\n"
    "     throttled or too slow after the plugin's retries (FCB_ERR_UNAVAILABLE,\n"
    "     FCB_ERR_TIMEOUT)\n"
    "  130  interrupted (SIGINT, SIGTERM or SIGHUP), within 1 s: a launch in\n"
    "     progress is cancelled, a launched instance is terminated; a call that\n"
    "     cannot be cancelled (open, terminate, reap, prepull) is abandoned\n"
    "     after 0.5 s (a second signal exits at once)\n";

static const char help_backends[] =
    "Usage: " PROG " backends [--json]\n"
    "\n"
    "List every fakecloud-backend-*.so in the search directories (see `help`)\n"
    "with its name, file, ABI, version and summary, or the reason this host\n"
    "refuses it. Only the plugin's descriptor is read: no plugin function runs.\n"
    "Exit status 0 even when some plugins are refused.\n";

static const char help_launch[] =
    "Usage: " PROG " launch --function FILE|- [--code ZIP] [--layer ZIP]...\n"
    "                      [--image URI] [--artifact-listen ADDR:PORT] [--backend B]\n"
    "\n"
    "Start one instance of the function and print its endpoint (host:port of the\n"
    "Runtime Interface Emulator) and handle. The instance keeps running after the\n"
    "host exits; stop it with `terminate HANDLE`. (The in-process test backends\n"
    "are the exception: their instances end with the host.)\n"
    "\n"
    "  --function FILE|-   function description: the JSON printed by\n"
    "                      `aws lambda get-function-configuration` (or get-function)\n"
    "  --code ZIP          the code zip; required for PackageType Zip\n"
    "  --layer ZIP         a layer zip, in the function's Layers order (repeatable, max 5)\n"
    "  --image URI         image URI for PackageType Image (overrides the JSON)\n"
    "  --artifact-listen ADDR:PORT  where the artifact server listens while the\n"
    "                      command runs (default 127.0.0.1:0 = any free port)\n"
    "\n"
    "The deploy id is the first 16 hex characters of the SHA-256 of the code zip\n"
    "(of the image URI for Image functions).\n";

static const char help_invoke[] =
    "Usage: " PROG " invoke --function FILE|- [--code ZIP] [--layer ZIP]...\n"
    "                      [--payload JSON | --payload-file FILE] [--keep] ...\n"
    "\n"
    "Launch the function (options as for `launch`), POST the payload to\n"
    "http://ENDPOINT/2015-03-31/functions/function/invocations, print the\n"
    "runtime's response on stdout, then terminate the instance.\n"
    "\n"
    "  --payload JSON      the event (default {})\n"
    "  --payload-file FILE the event read from FILE ('-' = stdin)\n"
    "  --keep              do not terminate; the handle is printed on stderr\n"
    "                      (in the JSON output with --json)\n"
    "\n"
    "Exit status 1 when the runtime answers with a non-2xx status or not at all;\n"
    "5 when it answered but terminating the instance failed (the response is\n"
    "still printed; the instance may still run).\n";

static const char help_terminate[] =
    "Usage: " PROG " terminate HANDLE [--backend B] [--json]\n"
    "\n"
    "Stop and remove the instance named by HANDLE (printed by launch). An\n"
    "instance that is already gone is success.\n";

static const char help_reap[] =
    "Usage: " PROG " reap [--backend B] [--json]\n"
    "\n"
    "Open the backend and remove every instance that a previous host process\n"
    "left behind (the backend's reap_stale); print how many were removed.\n";

static const char help_prepull[] =
    "Usage: " PROG " prepull IMAGE [--backend B] [--json]\n"
    "\n"
    "Ask the backend to make IMAGE (an image reference, e.g.\n"
    "public.ecr.aws/lambda/python:3.12) present where it runs functions, so a\n"
    "later launch does not wait for the pull (k8s: a short-lived Pod on a node;\n"
    "docker: an image pull). A backend without the optional prepull operation\n"
    "is a usage error (exit status 2).\n";

static const char help_help[] = "Usage: " PROG " help [COMMAND]\n"
                                "\n"
                                "Print the general help, or COMMAND's help.\n";

static const char *help_for(const char *command)
{
    if (command == NULL)
        return help_main;
    static const struct {
        const char *name;
        const char *text;
    } table[] = {{"backends", help_backends}, {"launch", help_launch},
                 {"invoke", help_invoke},     {"terminate", help_terminate},
                 {"reap", help_reap},         {"prepull", help_prepull},
                 {"help", help_help}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(command, table[i].name) == 0)
            return table[i].text;
    }
    return NULL;
}

/* ---- output ----------------------------------------------------------- */

static void json_set_str(json_object *o, const char *key, const char *value)
{
    json_object_object_add(o, key, value != NULL ? json_object_new_string(value) : NULL);
}

static void json_print(json_object *o)
{
    fputs(
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
        stdout);
    fputc('\n', stdout);
}

/*
 * Report a failure: stderr line always (and the log), a JSON error object on
 * stdout with --json. Returns EXIT_CODE.
 */
static int fail(run *r, int exit_code, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(run *r, int exit_code, int status, const char *fmt, ...)
{
    char message[WHY_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    fprintf(stderr, PROG ": %s\n", message);
    if (r->opt.json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "ok", json_object_new_boolean(0));
        json_object_object_add(o, "exit_code", json_object_new_int(exit_code));
        json_object *e = json_object_new_object();
        json_set_str(e, "code", fcb_status_name(status));
        json_set_str(e, "message", message);
        json_object_object_add(o, "error", e);
        json_print(o);
        json_object_put(o);
        json_object_put(r->out);
        r->out = NULL; /* printed: nothing more goes to stdout */
    }
    return exit_code;
}

/*
 * Exit status for a plugin's failure STATUS: retry may help (75), bad
 * configuration (3), bad input (2), else OTHERWISE.
 */
static int exit_for(int status, int otherwise)
{
    switch (status) {
    case FCB_ERR_UNAVAILABLE:
    case FCB_ERR_TIMEOUT: return HOST_EXIT_TEMPFAIL;
    case FCB_ERR_CONFIG: return HOST_EXIT_LOAD;
    case FCB_ERR_INVALID_ARGUMENT: return HOST_EXIT_USAGE;
    default: return otherwise;
    }
}

/* ---- options ---------------------------------------------------------- */

enum {
    OPT_BACKEND = 256,
    OPT_JSON,
    OPT_FUNCTION,
    OPT_CODE,
    OPT_LAYER,
    OPT_IMAGE,
    OPT_PAYLOAD,
    OPT_PAYLOAD_FILE,
    OPT_KEEP,
    OPT_ARTIFACT_LISTEN,
};

static const struct option long_options[] = {
    {"backend", required_argument, NULL, OPT_BACKEND},
    {"json", no_argument, NULL, OPT_JSON},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"function", required_argument, NULL, OPT_FUNCTION},
    {"code", required_argument, NULL, OPT_CODE},
    {"layer", required_argument, NULL, OPT_LAYER},
    {"image", required_argument, NULL, OPT_IMAGE},
    {"payload", required_argument, NULL, OPT_PAYLOAD},
    {"payload-file", required_argument, NULL, OPT_PAYLOAD_FILE},
    {"keep", no_argument, NULL, OPT_KEEP},
    {"artifact-listen", required_argument, NULL, OPT_ARTIFACT_LISTEN},
    {NULL, 0, NULL, 0},
};

static bool is_launching(const char *command)
{
    return strcmp(command, "launch") == 0 || strcmp(command, "invoke") == 0;
}

/*
 * Parse argv into r->opt (GNU getopt: options may come before or after the
 * command). Returns -1 with `why` on a usage error.
 */
static int parse_options(run *r, int argc, char **argv, char *why, size_t why_size)
{
    options *o = &r->opt;
    opterr = 0;
    optind = 1;
    for (int guard = 0; guard <= argc; guard++) {
        int c = getopt_long(argc, argv, "vh", long_options, NULL);
        if (c == -1)
            break;
        switch (c) {
        case OPT_BACKEND: o->backend = optarg; break;
        case OPT_JSON: o->json = true; break;
        case 'v': o->verbose = true; break;
        case 'h': o->help = true; break;
        case OPT_FUNCTION: o->function_file = optarg; break;
        case OPT_CODE: o->code_file = optarg; break;
        case OPT_LAYER:
            if (o->n_layers == MAX_LAYERS) {
                snprintf(why, why_size, "--layer: at most %d layers", MAX_LAYERS);
                return -1;
            }
            o->layer_files[o->n_layers++] = optarg;
            break;
        case OPT_IMAGE: o->image = optarg; break;
        case OPT_PAYLOAD: o->payload = optarg; break;
        case OPT_PAYLOAD_FILE: o->payload_file = optarg; break;
        case OPT_KEEP: o->keep = true; break;
        case OPT_ARTIFACT_LISTEN: o->artifact_listen = optarg; break;
        default:
            if (optopt >= OPT_BACKEND)
                snprintf(why, why_size, "%s: missing value (see --help)", argv[optind - 1]);
            else if (optopt != 0)
                snprintf(why, why_size, "unknown option -%c (see --help)", optopt);
            else
                snprintf(why, why_size, "unknown option %s (see --help)", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc)
        o->command = argv[optind++];
    if (optind < argc)
        o->handle = argv[optind++];
    if (optind < argc) {
        snprintf(why, why_size, "unexpected argument \"%s\" (see --help)", argv[optind]);
        return -1;
    }
    return 0;
}

/* Refuse options that mean nothing for the command (so typos do not pass). */
static int check_options(const options *o, char *why, size_t why_size)
{
    const char *cmd = o->command;
    bool launching = is_launching(cmd);
    bool invoke = strcmp(cmd, "invoke") == 0;
    const struct {
        bool given;
        bool allowed;
        const char *name;
    } rules[] = {
        {o->function_file != NULL, launching, "--function"},
        {o->code_file != NULL, launching, "--code"},
        {o->n_layers > 0, launching, "--layer"},
        {o->image != NULL, launching, "--image"},
        {o->artifact_listen != NULL, launching, "--artifact-listen"},
        {o->payload != NULL, invoke, "--payload"},
        {o->payload_file != NULL, invoke, "--payload-file"},
        {o->keep, invoke, "--keep"},
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        if (rules[i].given && !rules[i].allowed) {
            snprintf(why, why_size, "%s: not an option of `%s` (see `%s --help`)", rules[i].name,
                     cmd, cmd);
            return -1;
        }
    }
    if (o->handle != NULL && strcmp(cmd, "terminate") != 0 && strcmp(cmd, "prepull") != 0 &&
        strcmp(cmd, "help") != 0) {
        snprintf(why, why_size, "unexpected argument \"%s\" (see `%s --help`)", o->handle, cmd);
        return -1;
    }
    if (strcmp(cmd, "terminate") == 0 && (o->handle == NULL || o->handle[0] == '\0')) {
        snprintf(why, why_size, "terminate: HANDLE required (see `terminate --help`)");
        return -1;
    }
    if (strcmp(cmd, "prepull") == 0 && (o->handle == NULL || o->handle[0] == '\0')) {
        snprintf(why, why_size, "prepull: IMAGE required (see `prepull --help`)");
        return -1;
    }
    if (launching && o->function_file == NULL) {
        snprintf(why, why_size, "%s: --function FILE required (see `%s --help`)", cmd, cmd);
        return -1;
    }
    if (o->payload != NULL && o->payload_file != NULL) {
        snprintf(why, why_size, "--payload and --payload-file: give one, not both");
        return -1;
    }
    if (o->payload_file != NULL && o->function_file != NULL && strcmp(o->payload_file, "-") == 0 &&
        strcmp(o->function_file, "-") == 0) {
        snprintf(why, why_size, "--function and --payload-file cannot both read stdin");
        return -1;
    }
    return 0;
}

/* ---- helpers ---------------------------------------------------------- */

/* Read PATH ("-" = stdin) up to LIMIT bytes; NUL-terminated, malloc'd. */
static int read_all(const char *path, size_t limit, char **data, size_t *len, char *why,
                    size_t why_size)
{
    *data = NULL;
    *len = 0;
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (f == NULL) {
        snprintf(why, why_size, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    int rc = -1;
    for (size_t rounds = 0; buf != NULL && rounds < limit / 1024 + 2; rounds++) {
        if (n + 1 >= cap) {
            char *p = realloc(buf, cap * 2);
            if (p == NULL)
                break;
            buf = p;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n > limit) {
            snprintf(why, why_size, "%s: larger than %zu bytes", is_stdin ? "<stdin>" : path,
                     limit);
            goto out;
        }
        if (got == 0) {
            if (ferror(f)) {
                snprintf(why, why_size, "%s: read error", is_stdin ? "<stdin>" : path);
                goto out;
            }
            buf[n] = '\0';
            *data = buf;
            *len = n;
            buf = NULL;
            rc = 0;
            goto out;
        }
    }
    snprintf(why, why_size, "%s: out of memory", path);
out:
    free(buf);
    if (!is_stdin)
        fclose(f);
    return rc;
}

static void log_level_from_options(run *r)
{
    if (r->opt.verbose)
        host_services_set_min_level(r->hs, FCB_LOG_DEBUG);
}

static bool report_memory(run *r)
{
    return r->opt.verbose || host_services_min_level(r->hs) <= FCB_LOG_DEBUG;
}

/* Resolve and load the backend; returns an exit code. */
static int backend_load(run *r)
{
    char why[LOADER_WHY_MAX];
    const char *name = r->opt.backend;
    if (name == NULL)
        name = host_services_config(r->hs, "FAKECLOUD_LAMBDA_BACKEND");
    if (name == NULL || name[0] == '\0')
        return fail(r, HOST_EXIT_USAGE, FCB_ERR_CONFIG,
                    "no backend chosen: set FAKECLOUD_LAMBDA_BACKEND or pass --backend "
                    "(see `backends`)");
    const char *defaults[3] = {NULL, NULL, NULL};
    size_t nd = 0;
    if (FCB_HOST_PLUGIN_BUILD_DIR[0] != '\0')
        defaults[nd++] = FCB_HOST_PLUGIN_BUILD_DIR;
    defaults[nd++] = FCB_HOST_PLUGIN_INSTALL_DIR;
    char *path = NULL;
    if (loader_resolve(name, host_services_config(r->hs, "FAKECLOUD_BACKEND_PATH"), defaults, &path,
                       why) != 0)
        return fail(r, HOST_EXIT_LOAD, FCB_ERR_NOT_FOUND, "%s", why);
    int rc = loader_load(path, host_services_table(r->hs), &r->plugin, why);
    if (rc != FCB_OK) {
        int ret = fail(r, HOST_EXIT_LOAD, rc, "%s", why);
        free(path);
        return ret;
    }
    host_log(r->hs, FCB_LOG_DEBUG, "backend loaded", "file", path, "name",
             r->plugin->descriptor->name, "version", r->plugin->descriptor->version, NULL);
    free(path);
    return HOST_EXIT_OK;
}

static int backend_open(run *r, const char *token)
{
    fcb_open_params params = {sizeof params, token};
    fcb_error err = FCB_ERROR_INIT;
    set_phase(r, "the backend's open cannot be cancelled (ABI 1.0) and was abandoned; it "
                 "creates nothing, so nothing is left behind");
    int rc = r->plugin->ops->open(host_services_table(r->hs), &params, &r->backend, &err);
    set_phase(r, NULL);
    if (rc != FCB_OK) {
        r->backend = NULL;
        int exit = rc == FCB_ERR_UNAVAILABLE || rc == FCB_ERR_TIMEOUT ? HOST_EXIT_TEMPFAIL
                                                                      : HOST_EXIT_LOAD;
        if (is_interrupted(r))
            exit = HOST_EXIT_INTERRUPTED;
        return fail(r, exit, rc, "backend %s: open failed: %s (%s)", r->plugin->ops->name,
                    err.message[0] ? err.message : "no reason given", fcb_status_name(rc));
    }
    if (is_interrupted(r))
        return fail(r, HOST_EXIT_INTERRUPTED, FCB_ERR_CANCELLED, "interrupted during open");
    return HOST_EXIT_OK;
}

/*
 * Close the backend, unload the plugin and check the plugin's memory.
 * Returns EXIT (or HOST_EXIT_LEAK when EXIT was OK and the plugin leaked).
 */
static int backend_release(run *r, int exit)
{
    if (r->plugin == NULL)
        return exit;
    if (r->backend != NULL)
        r->plugin->ops->close(r->backend);
    r->backend = NULL;
    size_t bytes = host_services_outstanding_bytes(r->hs);
    size_t blocks = host_services_outstanding_blocks(r->hs);
    char name[64];
    snprintf(name, sizeof name, "%s", r->plugin->descriptor->name);
    loader_unload(r->plugin);
    r->plugin = NULL;
    if (bytes != 0 || blocks != 0) {
        fprintf(stderr, PROG ": plugin %s leaked %zu bytes in %zu blocks after close\n", name,
                bytes, blocks);
        if (exit == HOST_EXIT_OK) {
            if (r->out != NULL) {
                json_object_object_add(r->out, "leaked_bytes",
                                       json_object_new_int64((int64_t)bytes));
                json_object_object_add(r->out, "ok", json_object_new_boolean(0));
            }
            return HOST_EXIT_LEAK;
        }
    } else if (report_memory(r)) {
        char b[32];
        snprintf(b, sizeof b, "%zu", bytes);
        host_log(r->hs, FCB_LOG_DEBUG, "plugin memory after close", "plugin", name,
                 "outstanding_bytes", b, NULL);
    }
    return exit;
}

/* ---- backends --------------------------------------------------------- */

static int filter_plugin_file(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    size_t lp = strlen(FCB_PLUGIN_FILE_PREFIX), ls = strlen(FCB_PLUGIN_FILE_SUFFIX);
    return n > lp + ls && strncmp(d->d_name, FCB_PLUGIN_FILE_PREFIX, lp) == 0 &&
           strcmp(d->d_name + n - ls, FCB_PLUGIN_FILE_SUFFIX) == 0;
}

static void list_dir(run *r, const char *dir, json_object *array, char seen[][PATH_MAX],
                     size_t *n_seen, size_t max_seen)
{
    char real[PATH_MAX];
    if (realpath(dir, real) == NULL)
        return;
    for (size_t i = 0; i < *n_seen; i++) {
        if (strcmp(seen[i], real) == 0)
            return;
    }
    if (*n_seen < max_seen)
        snprintf(seen[(*n_seen)++], PATH_MAX, "%s", real);
    struct dirent **entries = NULL;
    int n = scandir(dir, &entries, filter_plugin_file, alphasort);
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, entries[i]->d_name);
        free(entries[i]);
        loader_plugin *p = NULL;
        char why[LOADER_WHY_MAX];
        int rc = loader_inspect(path, &p, why);
        json_object *item = json_object_new_object();
        json_set_str(item, "file", path);
        json_set_str(item, "dir", dir);
        if (rc == FCB_OK) {
            const fcb_plugin_descriptor *d = p->descriptor;
            /* summary is the last field: read it only if the plugin's size covers it. */
            const char *summary =
                d->size >= offsetof(fcb_plugin_descriptor, summary) + sizeof d->summary ? d->summary
                                                                                        : NULL;
            char abi[16];
            snprintf(abi, sizeof abi, "%u.%u", (unsigned)d->abi_major, (unsigned)d->abi_minor);
            json_set_str(item, "name", d->name);
            json_set_str(item, "version", d->version);
            json_set_str(item, "abi", abi);
            json_set_str(item, "summary", summary);
            json_object_object_add(item, "accepted", json_object_new_boolean(1));
            if (!r->opt.json)
                printf("%-16s %-8s ABI %-5s %s\n%17s%s\n", d->name, d->version, abi, path, "",
                       summary != NULL ? summary : "");
            loader_unload(p);
        } else {
            /* File name is the only trustworthy name when the descriptor is refused. */
            char name[256];
            const char *fname = strrchr(path, '/') + 1;
            snprintf(name, sizeof name, "%.*s",
                     (int)(strlen(fname) - strlen(FCB_PLUGIN_FILE_PREFIX) -
                           strlen(FCB_PLUGIN_FILE_SUFFIX)),
                     fname + strlen(FCB_PLUGIN_FILE_PREFIX));
            json_set_str(item, "name", name);
            json_object_object_add(item, "accepted", json_object_new_boolean(0));
            json_set_str(item, "reason", why);
            if (!r->opt.json)
                printf("%-16s REFUSED  %s\n", name, why);
        }
        json_object_array_add(array, item);
    }
    free(entries);
}

static int cmd_backends(run *r)
{
    json_object *array = json_object_new_array();
    json_object *dirs = json_object_new_array();
    char seen[32][PATH_MAX];
    size_t n_seen = 0;
    const char *search = host_services_config(r->hs, "FAKECLOUD_BACKEND_PATH");
    char *copy = search != NULL ? strdup(search) : NULL;
    char *save = NULL;
    for (char *d = copy != NULL ? strtok_r(copy, ":", &save) : NULL; d != NULL;
         d = strtok_r(NULL, ":", &save)) {
        json_object_array_add(dirs, json_object_new_string(d));
        list_dir(r, d, array, seen, &n_seen, 32);
    }
    free(copy);
    const char *defaults[] = {FCB_HOST_PLUGIN_BUILD_DIR, FCB_HOST_PLUGIN_INSTALL_DIR};
    for (size_t i = 0; i < 2; i++) {
        if (defaults[i][0] == '\0')
            continue;
        json_object_array_add(dirs, json_object_new_string(defaults[i]));
        list_dir(r, defaults[i], array, seen, &n_seen, 32);
    }
    if (!r->opt.json && json_object_array_length(array) == 0)
        printf("no fakecloud-backend-*.so found (searched FAKECLOUD_BACKEND_PATH, %s, %s)\n",
               FCB_HOST_PLUGIN_BUILD_DIR, FCB_HOST_PLUGIN_INSTALL_DIR);
    json_object_object_add(r->out, "search_dirs", dirs);
    json_object_object_add(r->out, "backends", array);
    return HOST_EXIT_OK;
}

/* ---- interruption ----------------------------------------------------- */

static void interrupt_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGUSR2); /* internal: the host is done, stop waiting */
}

/*
 * Say what the host is doing that a signal could leave half-done (NULL:
 * nothing). Printed by the watchdog if it has to exit before the call returns.
 */
static void set_phase(run *r, const char *fmt, ...)
{
    pthread_mutex_lock(&r->sig_lock);
    r->phase[0] = '\0';
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->phase, sizeof r->phase, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&r->sig_lock);
}

/* The watchdog gave up waiting: report and _exit(130) (sig_lock held). */
static void watchdog_exit(run *r)
{
    char message[sizeof r->phase + 128];
    snprintf(message, sizeof message, "interrupted: exiting within %d ms%s%s",
             HOST_INTERRUPT_GRACE_MS, r->phase[0] ? ": " : "", r->phase);
    fprintf(stderr, PROG ": %s\n", message);
    fflush(stderr);
    if (r->opt.json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "ok", json_object_new_boolean(0));
        json_object_object_add(o, "exit_code", json_object_new_int(HOST_EXIT_INTERRUPTED));
        json_object *e = json_object_new_object();
        json_set_str(e, "code", "FCB_ERR_CANCELLED");
        json_set_str(e, "message", message);
        json_object_object_add(o, "error", e);
        json_print(o);
        fflush(stdout);
    }
    _exit(HOST_EXIT_INTERRUPTED);
}

static void *watchdog_main(void *arg)
{
    run *r = arg;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)HOST_INTERRUPT_GRACE_MS * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&r->sig_lock);
    for (unsigned i = 0; !r->finished && i < 100000; i++) {
        if (pthread_cond_timedwait(&r->sig_cond, &r->sig_lock, &until) == ETIMEDOUT)
            break;
    }
    if (!r->finished)
        watchdog_exit(r);
    pthread_mutex_unlock(&r->sig_lock);
    return NULL;
}

static void start_watchdog(run *r)
{
    pthread_mutex_lock(&r->sig_lock);
    if (!r->watchdog_started && !r->finished)
        r->watchdog_started = pthread_create(&r->watchdog, NULL, watchdog_main, r) == 0;
    pthread_mutex_unlock(&r->sig_lock);
}

/* The command is over (the backend is closed): stop the watchdog. */
static void finish_interruptible(run *r)
{
    pthread_mutex_lock(&r->sig_lock);
    r->finished = true;
    pthread_cond_broadcast(&r->sig_cond);
    bool join = r->watchdog_started;
    r->watchdog_started = false;
    pthread_mutex_unlock(&r->sig_lock);
    if (join)
        pthread_join(r->watchdog, NULL);
}

static void *signal_main(void *arg)
{
    run *r = arg;
    sigset_t set;
    interrupt_signals(&set);
    for (unsigned i = 0; i < 1000; i++) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGUSR2)
            break;
        if (atomic_exchange(&r->interrupted, sig) != 0) {
            static const char msg[] = PROG ": interrupted again: exiting now\n";
            ssize_t ignored = write(2, msg, sizeof msg - 1);
            (void)ignored;
            _exit(HOST_EXIT_INTERRUPTED);
        }
        start_watchdog(r);
        fcb_backend *to_close = NULL;
        pthread_mutex_lock(&r->sig_lock);
        if (r->in_launch && r->backend != NULL && r->close_state == 0) {
            to_close = r->backend;
            r->close_state = 1;
        }
        pthread_mutex_unlock(&r->sig_lock);
        host_log(r->hs, FCB_LOG_WARN,
                 to_close != NULL ? "interrupted: cancelling the launch" : "interrupted", "signal",
                 strsignal(sig), NULL);
        if (to_close != NULL) {
            r->plugin->ops->close(to_close);
            pthread_mutex_lock(&r->sig_lock);
            r->close_state = 2;
            pthread_cond_broadcast(&r->sig_cond);
            pthread_mutex_unlock(&r->sig_lock);
        }
    }
    return NULL;
}

static int is_interrupted(void *ctx)
{
    run *r = ctx;
    return atomic_load(&r->interrupted) != 0;
}

/* ---- launch / invoke -------------------------------------------------- */

/*
 * Generate the internal token and start the artifact server; answer
 * FAKECLOUD_K8S_SELF_URL with its URL when the environment does not. Every
 * command that opens a backend does this, so a backend that needs both at
 * open (k8s) also works for terminate and reap.
 */
static int start_artifacts(run *r)
{
    char why[WHY_MAX];
    if (bundle_token_new(r->token) != 0)
        return fail(r, HOST_EXIT_FAILED, FCB_ERR_INTERNAL, "random token: gnutls_rnd failed");
    const char *listen = r->opt.artifact_listen ? r->opt.artifact_listen : "127.0.0.1:0";
    if (artifact_server_start(listen, r->token, r->hs, &r->artifacts, why, sizeof why) != 0)
        return fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "%s", why);
    const char *url = artifact_server_url(r->artifacts);
    if (host_services_config(r->hs, "FAKECLOUD_K8S_SELF_URL") == NULL) {
        if (host_services_set_default(r->hs, "FAKECLOUD_K8S_SELF_URL", url) != 0)
            return fail(r, HOST_EXIT_FAILED, FCB_ERR_NO_MEMORY, "out of memory");
        host_log(r->hs, FCB_LOG_INFO,
                 "FAKECLOUD_K8S_SELF_URL not set: plugins see the artifact server's URL", "url",
                 url, NULL);
    }
    host_log(r->hs, FCB_LOG_DEBUG, "artifact server listening", "url", url, NULL);
    return HOST_EXIT_OK;
}

/* Read the function, code and layers; start the artifact server. */
static int prepare_launch(run *r)
{
    char why[WHY_MAX];
    const char *file = r->opt.function_file;
    const char *shown = strcmp(file, "-") == 0 ? "<stdin>" : file;
    char *text = NULL;
    size_t len = 0;
    if (read_all(file, FILE_MAX, &text, &len, why, sizeof why) != 0)
        return fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "--function: %s", why);
    char parse_why[FUNCTION_JSON_WHY_MAX];
    const char *region = host_services_config(r->hs, "AWS_REGION");
    if (region == NULL || region[0] == '\0')
        region = host_services_config(r->hs, "AWS_DEFAULT_REGION");
    int prc = function_json_parse_region(text, len, region != NULL && region[0] ? region : NULL,
                                         &r->desc, parse_why, sizeof parse_why);
    free(text);
    if (prc != 0)
        return fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "%s: %s", shown, parse_why);
    for (size_t i = 0; i < r->desc->n_warnings; i++)
        host_log(r->hs, FCB_LOG_WARN, r->desc->warnings[i], "file", shown, NULL);
    if (r->opt.image != NULL && function_desc_set_image_uri(r->desc, r->opt.image) != 0)
        return fail(r, HOST_EXIT_FAILED, FCB_ERR_NO_MEMORY, "out of memory");
    if (function_desc_check(r->desc, parse_why, sizeof parse_why) != 0)
        return fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "%s: %s", shown, parse_why);
    const fcb_function *fn = &r->desc->fn;
    if (fn->package_type == FCB_PACKAGE_ZIP) {
        if (r->opt.code_file == NULL)
            return fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT,
                        "--code ZIP: required for a Zip function (%s)", fn->function_name);
        if (bundle_read_zip(r->opt.code_file, &r->code, &r->code_len, why, sizeof why) != 0)
            return fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "--code: %s", why);
        if (bundle_deploy_id(r->code, r->code_len, r->deploy_id) != 0)
            return fail(r, HOST_EXIT_FAILED, FCB_ERR_INTERNAL, "SHA-256 of the code failed");
    } else {
        if (r->opt.code_file != NULL)
            return fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT,
                        "--code: an Image function takes no code zip (its code is the image)");
        if (bundle_deploy_id(fn->image_uri, strlen(fn->image_uri), r->deploy_id) != 0)
            return fail(r, HOST_EXIT_FAILED, FCB_ERR_INTERNAL, "SHA-256 of the image failed");
    }
    for (size_t i = 0; i < r->opt.n_layers; i++) {
        if (bundle_read_zip(r->opt.layer_files[i], &r->layers[i], &r->layer_lens[i], why,
                            sizeof why) != 0)
            return fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "--layer: %s", why);
    }
    if (r->desc->n_layers != r->opt.n_layers)
        host_log(r->hs, FCB_LOG_WARN,
                 "the function lists a different number of Layers than --layer zips given",
                 "function", fn->function_name, NULL);
    if (bundle_layers_tar((const void *const *)r->layers, r->layer_lens, r->opt.n_layers,
                          &r->layers_tar, &r->layers_tar_len, why, sizeof why) != 0)
        return fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "--layer: %s", why);
    int rc = start_artifacts(r);
    if (rc != HOST_EXIT_OK)
        return rc;
    if (artifact_server_add(r->artifacts, r->desc->account, fn->function_name, r->deploy_id,
                            r->code, r->code_len, r->layers_tar, r->layers_tar_len) != 0)
        return fail(r, HOST_EXIT_FAILED, FCB_ERR_NO_MEMORY, "artifact server: out of memory");
    host_log(r->hs, FCB_LOG_INFO, "serving the function's code", "deploy_id", r->deploy_id,
             "account", r->desc->account, "function", fn->function_name, NULL);
    return HOST_EXIT_OK;
}

static int do_launch(run *r, fcb_instance *inst)
{
    fcb_blob layer_blobs[MAX_LAYERS];
    for (size_t i = 0; i < r->opt.n_layers; i++) {
        layer_blobs[i].data = r->layers[i];
        layer_blobs[i].size = r->layer_lens[i];
    }
    fcb_launch_request req = {
        .size = sizeof req,
        .function = &r->desc->fn,
        .code = {r->code, r->code_len},
        .layers = r->opt.n_layers > 0 ? layer_blobs : NULL,
        .n_layers = r->opt.n_layers,
        .deploy_id = r->deploy_id,
        .deadline_ms = 0,
    };
    memset(inst, 0, sizeof *inst);
    inst->size = sizeof *inst;
    fcb_error err = FCB_ERROR_INIT;
    pthread_mutex_lock(&r->sig_lock);
    r->in_launch = !is_interrupted(r);
    pthread_mutex_unlock(&r->sig_lock);
    if (!r->in_launch)
        return fail(r, HOST_EXIT_INTERRUPTED, FCB_ERR_CANCELLED, "interrupted before launch");
    int rc = r->plugin->ops->launch(r->backend, &req, inst, &err);
    pthread_mutex_lock(&r->sig_lock);
    r->in_launch = false;
    for (unsigned i = 0; r->close_state == 1 && i < 1000000; i++)
        pthread_cond_wait(&r->sig_cond, &r->sig_lock);
    bool closed = r->close_state == 2;
    if (closed)
        r->backend = NULL; /* closed by the signal thread */
    pthread_mutex_unlock(&r->sig_lock);
    if (closed && rc == FCB_OK)
        return fail(r, HOST_EXIT_INTERRUPTED, FCB_ERR_CANCELLED,
                    "interrupted as the launch finished: instance %s is left running "
                    "(`terminate %s` or `reap` removes it)",
                    inst->handle, inst->handle);
    if (closed)
        return fail(r, HOST_EXIT_INTERRUPTED, FCB_ERR_CANCELLED,
                    "interrupted: launch of %s cancelled (%s)", r->desc->fn.function_name,
                    err.message[0] ? err.message : fcb_status_name(rc));
    if (rc != FCB_OK)
        return fail(r, exit_for(rc, HOST_EXIT_FAILED), rc, "launch %s on %s failed: %s (%s)",
                    r->desc->fn.function_name, r->plugin->ops->name,
                    err.message[0] ? err.message : "no reason given", fcb_status_name(rc));
    inst->endpoint[sizeof inst->endpoint - 1] = '\0';
    inst->handle[sizeof inst->handle - 1] = '\0';
    host_log(r->hs, FCB_LOG_INFO, "instance ready", "function", r->desc->fn.function_name,
             "endpoint", inst->endpoint, "handle", inst->handle, NULL);
    json_set_str(r->out, "backend", r->plugin->ops->name);
    json_set_str(r->out, "function", r->desc->fn.function_name);
    json_set_str(r->out, "deploy_id", r->deploy_id);
    json_set_str(r->out, "endpoint", inst->endpoint);
    json_set_str(r->out, "handle", inst->handle);
    return HOST_EXIT_OK;
}

/*
 * Terminate HANDLE. Returns FCB_OK or the plugin's status with `why` filled
 * (the caller reports it: the exit status depends on the command).
 */
static int terminate_handle(run *r, const char *handle, char *why, size_t why_size)
{
    fcb_error err = FCB_ERROR_INIT;
    set_phase(r,
              "terminate %s was in progress and may not have completed (run `terminate %s` "
              "again, or `reap`)",
              handle, handle);
    int rc = r->plugin->ops->terminate(r->backend, handle, &err);
    set_phase(r, NULL);
    if (rc != FCB_OK) {
        snprintf(why, why_size, "terminate %s failed: %s (%s)", handle,
                 err.message[0] ? err.message : "no reason given", fcb_status_name(rc));
        return rc;
    }
    host_log(r->hs, FCB_LOG_INFO, "instance terminated", "handle", handle, NULL);
    return FCB_OK;
}

static int do_terminate(run *r, const char *handle)
{
    char why[WHY_MAX];
    int rc = terminate_handle(r, handle, why, sizeof why);
    if (rc != FCB_OK)
        return fail(r, exit_for(rc, HOST_EXIT_FAILED), rc, "%s", why);
    return HOST_EXIT_OK;
}

static int cmd_launch(run *r)
{
    int rc = prepare_launch(r);
    if (rc == HOST_EXIT_OK)
        rc = backend_load(r);
    if (rc == HOST_EXIT_OK)
        rc = backend_open(r, r->token);
    fcb_instance inst;
    if (rc == HOST_EXIT_OK)
        rc = do_launch(r, &inst);
    if (rc == HOST_EXIT_OK && is_interrupted(r)) {
        do_terminate(r, inst.handle);
        return fail(r, HOST_EXIT_INTERRUPTED, FCB_ERR_CANCELLED,
                    "interrupted: instance %s terminated", inst.handle);
    }
    if (rc == HOST_EXIT_OK && !r->opt.json)
        printf("endpoint %s\nhandle %s\n", inst.endpoint, inst.handle);
    return rc;
}

static int read_payload(run *r, char **payload, size_t *len)
{
    char why[WHY_MAX];
    if (r->opt.payload_file != NULL) {
        if (read_all(r->opt.payload_file, INVOKER_RESPONSE_MAX, payload, len, why, sizeof why) != 0)
            return fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "--payload-file: %s", why);
    } else {
        *payload = strdup(r->opt.payload != NULL ? r->opt.payload : "{}");
        if (*payload == NULL)
            return fail(r, HOST_EXIT_FAILED, FCB_ERR_NO_MEMORY, "out of memory");
        *len = strlen(*payload);
    }
    json_tokener *tok = json_tokener_new();
    json_object *parsed = tok != NULL ? json_tokener_parse_ex(tok, *payload, (int)*len) : NULL;
    bool ok = parsed != NULL && json_tokener_get_parse_end(tok) == *len;
    if (!ok && parsed != NULL) {
        ok = true; /* trailing whitespace is fine */
        for (size_t i = json_tokener_get_parse_end(tok); i < *len; i++)
            ok = ok && ((*payload)[i] == ' ' || (*payload)[i] == '\n' || (*payload)[i] == '\r' ||
                        (*payload)[i] == '\t');
    }
    json_object_put(parsed);
    if (tok != NULL)
        json_tokener_free(tok);
    if (!ok) {
        free(*payload);
        *payload = NULL;
        return fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "%s: not valid JSON",
                    r->opt.payload_file != NULL ? "--payload-file" : "--payload");
    }
    return HOST_EXIT_OK;
}

/*
 * invoke's final terminate. A failure does not hide the runtime's answer
 * (already printed, or kept in the --json document next to an "error"): the
 * status is HOST_EXIT_NOT_TERMINATED when the invocation itself succeeded.
 */
static int invoke_terminate(run *r, const char *handle, int invoke_rc)
{
    char why[WHY_MAX];
    int trc = terminate_handle(r, handle, why, sizeof why);
    if (r->out != NULL)
        json_object_object_add(r->out, "terminated", json_object_new_boolean(trc == FCB_OK));
    if (trc == FCB_OK)
        return HOST_EXIT_OK;
    fprintf(stderr,
            PROG ": %s; the instance may still be running: `terminate %s` or `reap` removes "
                 "it\n",
            why, handle);
    if (r->out != NULL) {
        json_object *e = json_object_new_object();
        json_set_str(e, "code", fcb_status_name(trc));
        json_set_str(e, "message", why);
        json_object_object_add(r->out, "terminate_error", e);
        json_object_object_add(r->out, "ok", json_object_new_boolean(0));
    }
    return invoke_rc == HOST_EXIT_OK ? HOST_EXIT_NOT_TERMINATED : invoke_rc;
}

static int cmd_invoke(run *r)
{
    char *payload = NULL;
    size_t payload_len = 0;
    invoker_result res = {0};
    fcb_instance inst;
    bool launched = false;
    int rc = read_payload(r, &payload, &payload_len);
    if (rc == HOST_EXIT_OK)
        rc = prepare_launch(r);
    if (rc == HOST_EXIT_OK)
        rc = backend_load(r);
    if (rc == HOST_EXIT_OK)
        rc = backend_open(r, r->token);
    if (rc == HOST_EXIT_OK)
        rc = do_launch(r, &inst);
    if (rc != HOST_EXIT_OK)
        goto out;
    launched = true;
    uint32_t timeout_s = r->desc->fn.timeout_seconds ? r->desc->fn.timeout_seconds : 3;
    char why[WHY_MAX];
    if (invoker_post_cancellable(inst.endpoint, payload, payload_len,
                                 (long)timeout_s * 1000 + 10000, is_interrupted, r, &res, why,
                                 sizeof why) != 0) {
        if (is_interrupted(r))
            rc = fail(r, HOST_EXIT_INTERRUPTED, FCB_ERR_CANCELLED, "%s", why);
        else
            rc = fail(r, HOST_EXIT_FAILED, FCB_ERR_UNAVAILABLE, "%s", why);
        goto out;
    }
    char status[16], bytes[24];
    snprintf(status, sizeof status, "%ld", res.status);
    snprintf(bytes, sizeof bytes, "%zu", res.body_len);
    host_log(r->hs, FCB_LOG_INFO, "invoked", "function", r->desc->fn.function_name, "status",
             status, "bytes", bytes, NULL);
    if (r->opt.json) {
        json_object_object_add(r->out, "status", json_object_new_int((int)res.status));
        json_object *body = json_tokener_parse(res.body);
        json_object_object_add(r->out, "response",
                               body != NULL ? body : json_object_new_string(res.body));
    } else {
        fwrite(res.body, 1, res.body_len, stdout);
        if (res.body_len == 0 || res.body[res.body_len - 1] != '\n')
            fputc('\n', stdout);
    }
    if (res.status < 200 || res.status > 299) {
        fprintf(stderr, PROG ": the runtime answered HTTP %ld\n", res.status);
        rc = HOST_EXIT_FAILED;
        if (r->out != NULL)
            json_object_object_add(r->out, "ok", json_object_new_boolean(0));
    }
out:
    if (launched && (!r->opt.keep || is_interrupted(r))) {
        int trc = invoke_terminate(r, inst.handle, rc);
        if (rc == HOST_EXIT_OK)
            rc = trc;
    } else if (launched) {
        if (r->out != NULL)
            json_object_object_add(r->out, "terminated", json_object_new_boolean(0));
        if (!r->opt.json)
            fprintf(stderr, PROG ": kept instance: endpoint %s handle %s\n", inst.endpoint,
                    inst.handle);
    }
    invoker_result_free(&res);
    free(payload);
    return rc;
}

static int cmd_terminate(run *r)
{
    int rc = start_artifacts(r);
    if (rc == HOST_EXIT_OK)
        rc = backend_load(r);
    if (rc == HOST_EXIT_OK)
        rc = backend_open(r, r->token);
    if (rc == HOST_EXIT_OK)
        rc = do_terminate(r, r->opt.handle);
    if (rc == HOST_EXIT_OK) {
        json_set_str(r->out, "handle", r->opt.handle);
        json_object_object_add(r->out, "terminated", json_object_new_boolean(1));
        if (!r->opt.json)
            printf("terminated %s\n", r->opt.handle);
    }
    return rc;
}

static int cmd_reap(run *r)
{
    int rc = start_artifacts(r);
    if (rc == HOST_EXIT_OK)
        rc = backend_load(r);
    if (rc == HOST_EXIT_OK)
        rc = backend_open(r, r->token);
    if (rc != HOST_EXIT_OK)
        return rc;
    size_t reaped = 0;
    fcb_error err = FCB_ERROR_INIT;
    set_phase(r, "reap was in progress and may not have completed (run it again)");
    int frc = r->plugin->ops->reap_stale(r->backend, &reaped, &err);
    set_phase(r, NULL);
    if (frc != FCB_OK)
        return fail(r, exit_for(frc, HOST_EXIT_FAILED), frc, "reap failed: %s (%s)",
                    err.message[0] ? err.message : "no reason given", fcb_status_name(frc));
    json_set_str(r->out, "backend", r->plugin->ops->name);
    json_object_object_add(r->out, "reaped", json_object_new_int64((int64_t)reaped));
    if (!r->opt.json)
        printf("reaped %zu\n", reaped);
    return HOST_EXIT_OK;
}

/* An image reference: printable ASCII without spaces, 1..1023 bytes. */
static int check_image_ref(const char *image, char *why, size_t why_size)
{
    size_t n = strlen(image);
    if (n == 0 || n >= 1024) {
        snprintf(why, why_size, "prepull: IMAGE: expected 1 to 1023 bytes, got %zu", n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)image[i];
        if (c <= 0x20 || c >= 0x7f) {
            snprintf(why, why_size,
                     "prepull: IMAGE: byte %zu is not a printable ASCII character (0x%02x): not "
                     "an image reference",
                     i, c);
            return -1;
        }
    }
    return 0;
}

static int cmd_prepull(run *r)
{
    const char *image = r->opt.handle;
    char why[WHY_MAX];
    if (check_image_ref(image, why, sizeof why) != 0)
        return fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "%s", why);
    int rc = backend_load(r);
    if (rc != HOST_EXIT_OK)
        return rc;
    const fcb_backend_ops *ops = r->plugin->ops;
    if (r->plugin->ops_size < offsetof(fcb_backend_ops, prepull) + sizeof ops->prepull ||
        ops->prepull == NULL)
        return fail(r, HOST_EXIT_USAGE, FCB_ERR_UNSUPPORTED,
                    "prepull: backend %s has no prepull operation (it is optional in the ABI)",
                    ops->name);
    rc = start_artifacts(r);
    if (rc == HOST_EXIT_OK)
        rc = backend_open(r, r->token);
    if (rc != HOST_EXIT_OK)
        return rc;
    fcb_error err = FCB_ERROR_INIT;
    set_phase(r,
              "prepull %s was in progress; a prepull object the backend created may be left "
              "(`reap` removes it)",
              image);
    int frc = ops->prepull(r->backend, image, &err);
    set_phase(r, NULL);
    if (frc != FCB_OK)
        return fail(r, exit_for(frc, HOST_EXIT_FAILED), frc, "prepull %s failed: %s (%s)", image,
                    err.message[0] ? err.message : "no reason given", fcb_status_name(frc));
    host_log(r->hs, FCB_LOG_INFO, "image prepulled", "image", image, NULL);
    json_set_str(r->out, "backend", ops->name);
    json_set_str(r->out, "image", image);
    json_object_object_add(r->out, "prepulled", json_object_new_boolean(1));
    if (!r->opt.json)
        printf("prepulled %s\n", image);
    return HOST_EXIT_OK;
}

/* ---- main ------------------------------------------------------------- */

static void run_cleanup(run *r)
{
    if (r->signal_thread_started) {
        pthread_kill(r->signal_thread, SIGUSR2);
        pthread_join(r->signal_thread, NULL);
    }
    finish_interruptible(r);
    pthread_cond_destroy(&r->sig_cond);
    pthread_mutex_destroy(&r->sig_lock);
    artifact_server_stop(r->artifacts);
    r->artifacts = NULL;
    function_desc_free(r->desc);
    free(r->code);
    for (size_t i = 0; i < MAX_LAYERS; i++)
        free(r->layers[i]);
    free(r->layers_tar);
    explicit_bzero(r->token, sizeof r->token);
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
    if (r->signal_thread_started) {
        pthread_kill(r->signal_thread, SIGUSR2);
        pthread_join(r->signal_thread, NULL);
        r->signal_thread_started = false;
    }
    rc = backend_release(r, rc);
    finish_interruptible(r);
    if (!is_interrupted(r) || rc == HOST_EXIT_INTERRUPTED)
        return rc;
    if (r->out != NULL || !r->opt.json)
        return fail(r, HOST_EXIT_INTERRUPTED, FCB_ERR_CANCELLED,
                    "interrupted (the command had finished: exit status %d)", rc);
    fprintf(stderr, PROG ": interrupted\n"); /* the error is already printed */
    return HOST_EXIT_INTERRUPTED;
}

int main(int argc, char **argv)
{
    run r;
    memset(&r, 0, sizeof r);
    char why[WHY_MAX];
    int rc = HOST_EXIT_OK;
    if (parse_options(&r, argc, argv, why, sizeof why) != 0) {
        fprintf(stderr, PROG ": %s\n", why);
        return HOST_EXIT_USAGE;
    }
    const char *command = r.opt.command;
    if (command == NULL || strcmp(command, "help") == 0) {
        const char *topic = command != NULL ? r.opt.handle : NULL;
        if (command != NULL && topic == NULL && r.opt.help)
            topic = "help"; /* `help --help` */
        const char *text = help_for(topic);
        if (text == NULL) {
            fprintf(stderr, PROG ": help: unknown command \"%s\"\n", r.opt.handle);
            return HOST_EXIT_USAGE;
        }
        if (command == NULL && !r.opt.help) {
            fputs(help_main, stderr);
            return HOST_EXIT_USAGE;
        }
        fputs(text, stdout);
        return HOST_EXIT_OK;
    }
    const char *text = help_for(command);
    if (text == NULL) {
        fprintf(stderr, PROG ": unknown command \"%s\" (see --help)\n", command);
        return HOST_EXIT_USAGE;
    }
    if (r.opt.help) {
        fputs(text, stdout);
        return HOST_EXIT_OK;
    }
    if (check_options(&r.opt, why, sizeof why) != 0)
        return fail(&r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "%s", why);
    if (host_services_new(environ, stderr, &r.hs, why, sizeof why) != 0)
        return fail(&r, HOST_EXIT_USAGE, FCB_ERR_CONFIG, "%s", why);
    log_level_from_options(&r);
    r.out = json_object_new_object(); /* the result; printed with --json */
    pthread_mutex_init(&r.sig_lock, NULL);
    pthread_cond_init(&r.sig_cond, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigset_t signals;
    interrupt_signals(&signals);
    /* Blocked before any other thread exists, so only signal_main takes them. */
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    r.signal_thread_started = pthread_create(&r.signal_thread, NULL, signal_main, &r) == 0;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        rc = fail(&r, HOST_EXIT_FAILED, FCB_ERR_INTERNAL, "curl_global_init failed");
        goto out;
    }
    if (strcmp(command, "backends") == 0)
        rc = cmd_backends(&r);
    else if (strcmp(command, "launch") == 0)
        rc = cmd_launch(&r);
    else if (strcmp(command, "invoke") == 0)
        rc = cmd_invoke(&r);
    else if (strcmp(command, "terminate") == 0)
        rc = cmd_terminate(&r);
    else if (strcmp(command, "prepull") == 0)
        rc = cmd_prepull(&r);
    else
        rc = cmd_reap(&r);
    rc = end_command(&r, rc);
    curl_global_cleanup();
out:
    if (r.out != NULL && r.opt.json) {
        if (json_object_object_get(r.out, "ok") == NULL)
            json_object_object_add(r.out, "ok", json_object_new_boolean(rc == HOST_EXIT_OK));
        json_object_object_add(r.out, "exit_code", json_object_new_int(rc));
        json_print(r.out);
    }
    fflush(stdout);
    run_cleanup(&r);
    return rc;
}
