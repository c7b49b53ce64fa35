/* cli: argv -> cli_options (GNU getopt_long), the per-command checks, help texts. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char help_main[] =
    "Usage: " HOST_PROG " [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Run AWS Lambda functions through a fakecloud backend plugin\n"
    "(fakecloud-backend-<name>.so) chosen at run time.\n"
    "\n"
    "Commands:\n"
    "  backends          list the plugins found and whether this host accepts them\n"
    "  launch            start one instance of a function; print endpoint and handle\n"
    "  invoke            launch, POST an event, print the response, terminate\n"
    "  logs HANDLE       print an instance's output (tail, since, follow)\n"
    "  status HANDLE     is the instance running, exited (with its code) or gone\n"
    "  terminate HANDLE  stop an instance started by launch (idempotent)\n"
    "  reap              remove instances a previous host left behind\n"
    "  prepull IMAGE     make IMAGE present where the backend runs functions\n"
    "  serve             serve the Lambda API (AWS CLI, boto3) with warm instances\n"
    "  help [COMMAND]    this text, or a command's options\n"
    "\n"
    "Options for every command:\n"
    "  --backend NAME|PATH  backend to load (default: $FAKECLOUD_LAMBDA_BACKEND)\n"
    "  --json               machine-readable output on stdout (one JSON object)\n"
    "  -v, --verbose        log at debug level and report the plugin's memory at exit\n"
    "  --stats              after the command, the backend's metrics as one JSON\n"
    "                       object on stderr (\"stats\" in the --json document)\n"
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
    "     a handle or description the plugin refused; prepull, logs or status\n"
    "     with a backend without that operation)\n"
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
    "     progress is cancelled (through its cancel token when the backend\n"
    "     declares `cancel`, else by closing the backend), a launched instance is\n"
    "     terminated, a logs --follow stops; a call that\n"
    "     cannot be cancelled (open, terminate, reap, prepull) is abandoned\n"
    "     after 0.5 s (a second signal exits at once)\n";

static const char help_backends[] =
    "Usage: " HOST_PROG " backends [--json]\n"
    "\n"
    "List every fakecloud-backend-*.so in the search directories (see `help`)\n"
    "with its name, file, ABI, version and summary, or the reason this host\n"
    "refuses it. Only the plugin's descriptor is read: no plugin function runs.\n"
    "Exit status 0 even when some plugins are refused.\n";

static const char help_launch[] =
    "Usage: " HOST_PROG " launch --function FILE|- [--code ZIP | --code-dir DIR]\n"
    "                      [--layer ZIP]..."
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
    "  --code-dir DIR      hot reload: the code is this host directory, mounted\n"
    "                      read-only at /var/task (absolute; a backend with the\n"
    "                      `hot-reload` capability, e.g. docker with DIR inside\n"
    "                      FAKECLOUD_DOCKER_HOT_RELOAD_ROOTS)\n"
    "  --layer ZIP         a layer zip, in the function's Layers order (repeatable, max 5)\n"
    "  --image URI         image URI for PackageType Image (overrides the JSON)\n"
    "  --artifact-listen ADDR:PORT  where the artifact server listens while the\n"
    "                      command runs (default 127.0.0.1:0 = any free port)\n"
    "  --role-credentials FILE  role credentials for the instance: the JSON\n"
    "                      `aws sts assume-role` prints ({\"Credentials\":\n"
    "                      {\"AccessKeyId\", \"SecretAccessKey\", \"SessionToken\",\n"
    "                      \"Expiration\"}}); the runtime gets AWS_ACCESS_KEY_ID etc.\n"
    "                      Needs a backend with the `credentials` capability.\n"
    "  --aws-endpoint-url URL  AWS_ENDPOINT_URL for the runtime (http:// or https://)\n"
    "\n"
    "The function's Tags (the map `aws lambda get-function` prints, at the top\n"
    "level of the file) reach the backend when it declares `tags`; validated\n"
    "like AWS: at most 50, keys 1-128 characters not starting with aws:,\n"
    "values at most 256.\n"
    "\n"
    "The deploy id is the first 16 hex characters of the SHA-256 of the code zip\n"
    "(of the image URI for Image functions).\n";

static const char help_invoke[] =
    "Usage: " HOST_PROG " invoke --function FILE|- [--code ZIP] [--layer ZIP]...\n"
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
    "  --log-tail          after the answer, the last 4 KiB of the instance's log\n"
    "                      on stderr (like LogType=Tail; with --json \"log_tail\"\n"
    "                      and \"log_result\", its base64 like X-Amz-Log-Result).\n"
    "                      A backend without `logs`: a warning, no tail.\n"
    "\n"
    "The event goes through the backend's invoke operation when it has one (so\n"
    "a backend reaches runtimes the host cannot, e.g. through an API server),\n"
    "else straight to http://ENDPOINT.\n"
    "\n"
    "Exit status 1 when the runtime answers with a non-2xx status or not at all;\n"
    "5 when it answered but terminating the instance failed (the response is\n"
    "still printed; the instance may still run).\n";

static const char help_logs[] =
    "Usage: " HOST_PROG " logs HANDLE [--tail N] [--since DURATION] [--follow]\n"
    "                      [--backend B] [--json]\n"
    "\n"
    "Print the output (stdout and stderr) of the instance named by HANDLE.\n"
    "\n"
    "  --tail N            only the last N lines (1 to 100000)\n"
    "  --since DURATION    only lines newer than DURATION ago: 90s, 15m, 2h\n"
    "  --follow            keep printing new output until the instance ends or\n"
    "                      the host is interrupted (SIGINT: exit status 130)\n"
    "\n"
    "With --json the output is one document with \"logs\" (the text). At most\n"
    "1 MiB is printed. A backend without the `logs` capability (or `logs-follow`\n"
    "for --follow) is a usage error (exit status 2); an instance the backend\n"
    "does not know is exit status 1 (FCB_ERR_NOT_FOUND).\n";

static const char help_status[] =
    "Usage: " HOST_PROG " status HANDLE [--backend B] [--json]\n"
    "\n"
    "Ask the backend whether the instance named by HANDLE is starting, running,\n"
    "exited (with its exit code and the orchestrator's reason) or gone, and\n"
    "print one line (\"state\", \"exit_code\", \"reason\" with --json). Exit\n"
    "status 0 whatever the state; 2 for a backend without `status`.\n";

static const char help_terminate[] =
    "Usage: " HOST_PROG " terminate HANDLE [--backend B] [--json]\n"
    "\n"
    "Stop and remove the instance named by HANDLE (printed by launch). An\n"
    "instance that is already gone is success.\n";

static const char help_reap[] =
    "Usage: " HOST_PROG " reap [--backend B] [--json]\n"
    "\n"
    "Open the backend and remove every instance that a previous host process\n"
    "left behind (the backend's reap_stale); print how many were removed.\n";

static const char help_prepull[] =
    "Usage: " HOST_PROG " prepull IMAGE [--backend B] [--json]\n"
    "\n"
    "Ask the backend to make IMAGE (an image reference, e.g.\n"
    "public.ecr.aws/lambda/python:3.12) present where it runs functions, so a\n"
    "later launch does not wait for the pull (k8s: a short-lived Pod on a node;\n"
    "docker: an image pull). A backend without the optional prepull operation\n"
    "is a usage error (exit status 2).\n";

static const char help_serve[] =
    "Usage: " HOST_PROG " serve [--listen ADDR:PORT] [--artifact-listen ADDR:PORT]\n"
    "                      [--aws-endpoint-url URL] [--role-credentials FILE]\n"
    "                      [--backend B]\n"
    "\n"
    "Serve the AWS Lambda REST API (2015-03-31) over HTTP, so the AWS CLI, boto3\n"
    "and SDKs drive functions on the backend:\n"
    "  aws --endpoint-url http://127.0.0.1:9001 lambda create-function ...\n"
    "CreateFunction (ZipFile or ImageUri), GetFunction, GetFunctionConfiguration,\n"
    "ListFunctions, DeleteFunction, UpdateFunctionCode,\n"
    "UpdateFunctionConfiguration, PublishVersion, ListVersionsByFunction,\n"
    "Put/Get/DeleteFunctionConcurrency, PublishLayerVersion, GetLayerVersion,\n"
    "TagResource, UntagResource, ListTags, Create/Get/List/Update/DeleteAlias\n"
    "and Invoke (RequestResponse, Event with 2 retries, DryRun; LogType=Tail;\n"
    "qualifiers $LATEST, versions and aliases). Any\n"
    "SigV4 credentials are accepted, none is checked. GET /metrics: Prometheus\n"
    "text. Prints `serving http://ADDR:PORT` on stdout once listening.\n"
    "\n"
    "  --listen ADDR:PORT  where the API listens (default 127.0.0.1:9001; port 0:\n"
    "                      any free port)\n"
    "  --artifact-listen ADDR:PORT  where the artifact server that serves code to\n"
    "                      Pods listens (default 127.0.0.1:0 = any free port)\n"
    "  --aws-endpoint-url URL  AWS_ENDPOINT_URL of every instance\n"
    "  --role-credentials FILE  credentials every instance gets (the JSON of\n"
    "                      `aws sts assume-role`; a backend with `credentials`)\n"
    "\n"
    "Warm instances: one event at a time each, kept idle for\n"
    "FAKECLOUD_LAMBDA_KEEPALIVE_MS (default 300000; 0 = a new instance per call),\n"
    "at most FAKECLOUD_LAMBDA_MAX_CONCURRENCY instances in all (default 10; a\n"
    "call waits up to FAKECLOUD_LAMBDA_WAIT_MS, default 60000, for one to free\n"
    "up, then 429). SIGINT or SIGTERM stops it: calls in flight are cancelled,\n"
    "every instance is terminated, exit status 0.\n";

static const char help_help[] = "Usage: " HOST_PROG " help [COMMAND]\n"
                                "\n"
                                "Print the general help, or COMMAND's help.\n";

const char *cli_help(const char *command)
{
    if (command == NULL)
        return help_main;
    static const struct {
        const char *name;
        const char *text;
    } table[] = {{"backends", help_backends},   {"launch", help_launch}, {"invoke", help_invoke},
                 {"terminate", help_terminate}, {"reap", help_reap},     {"prepull", help_prepull},
                 {"logs", help_logs},           {"status", help_status}, {"help", help_help},
                 {"serve", help_serve}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(command, table[i].name) == 0)
            return table[i].text;
    }
    return NULL;
}

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
    OPT_ROLE_CREDENTIALS,
    OPT_AWS_ENDPOINT_URL,
    OPT_TAIL,
    OPT_SINCE,
    OPT_FOLLOW,
    OPT_LOG_TAIL,
    OPT_STATS,
    OPT_LISTEN,
    OPT_CODE_DIR,
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
    {"role-credentials", required_argument, NULL, OPT_ROLE_CREDENTIALS},
    {"aws-endpoint-url", required_argument, NULL, OPT_AWS_ENDPOINT_URL},
    {"tail", required_argument, NULL, OPT_TAIL},
    {"since", required_argument, NULL, OPT_SINCE},
    {"follow", no_argument, NULL, OPT_FOLLOW},
    {"log-tail", no_argument, NULL, OPT_LOG_TAIL},
    {"stats", no_argument, NULL, OPT_STATS},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"code-dir", required_argument, NULL, OPT_CODE_DIR},
    {NULL, 0, NULL, 0},
};

bool cli_is_launching(const char *command)
{
    return strcmp(command, "launch") == 0 || strcmp(command, "invoke") == 0;
}

bool cli_takes_argument(const char *command)
{
    static const char *const with_arg[] = {"terminate", "prepull", "logs", "status", "help"};
    for (size_t i = 0; i < sizeof with_arg / sizeof with_arg[0]; i++) {
        if (strcmp(command, with_arg[i]) == 0)
            return true;
    }
    return false;
}

/* Digits only, 1..MAX; 0 or -1 with `why` naming OPTION. */
static int cli_number(const char *option, const char *text, unsigned long long max,
                      unsigned long long *value, size_t *digits, char *why, size_t why_size)
{
    unsigned long long v = 0;
    size_t n = 0;
    for (; text[n] >= '0' && text[n] <= '9' && n < 20; n++) {
        v = v * 10 + (unsigned long long)(text[n] - '0');
        if (v > max) {
            snprintf(why, why_size, "%s: \"%s\" is larger than %llu", option, text, max);
            return -1;
        }
    }
    if (n == 0 || v == 0) {
        snprintf(why, why_size, "%s: expected a positive whole number, got \"%s\"", option, text);
        return -1;
    }
    *value = v;
    *digits = n;
    return 0;
}

int cli_tail_lines(const char *text, unsigned *lines, char *why, size_t why_size)
{
    *lines = 0;
    if (text == NULL)
        return 0;
    unsigned long long v;
    size_t n;
    if (cli_number("--tail", text, CLI_TAIL_MAX, &v, &n, why, why_size) != 0)
        return -1;
    if (text[n] != '\0') {
        snprintf(why, why_size, "--tail: expected a positive whole number, got \"%s\"", text);
        return -1;
    }
    *lines = (unsigned)v;
    return 0;
}

int cli_since_ms(const char *text, long long *ms, char *why, size_t why_size)
{
    *ms = 0;
    if (text == NULL)
        return 0;
    unsigned long long v;
    size_t n;
    if (cli_number("--since", text, 30ULL * 24 * 3600, &v, &n, why, why_size) != 0)
        return -1;
    unsigned long long unit = 0;
    if (strcmp(text + n, "s") == 0)
        unit = 1000;
    else if (strcmp(text + n, "m") == 0)
        unit = 60 * 1000;
    else if (strcmp(text + n, "h") == 0)
        unit = 3600 * 1000;
    if (unit == 0) {
        snprintf(why, why_size, "--since: expected a duration such as 90s, 15m or 2h, got \"%s\"",
                 text);
        return -1;
    }
    if (v * unit > 30ULL * 24 * 3600 * 1000) {
        snprintf(why, why_size, "--since: \"%s\" is longer than 30 days", text);
        return -1;
    }
    *ms = (long long)(v * unit);
    return 0;
}

int cli_parse(int argc, char **argv, cli_options *o, char *why, size_t why_size)
{
    memset(o, 0, sizeof *o);
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
            if (o->n_layers == CLI_MAX_LAYERS) {
                snprintf(why, why_size, "--layer: at most %d layers", CLI_MAX_LAYERS);
                return -1;
            }
            o->layer_files[o->n_layers++] = optarg;
            break;
        case OPT_IMAGE: o->image = optarg; break;
        case OPT_PAYLOAD: o->payload = optarg; break;
        case OPT_PAYLOAD_FILE: o->payload_file = optarg; break;
        case OPT_KEEP: o->keep = true; break;
        case OPT_ARTIFACT_LISTEN: o->artifact_listen = optarg; break;
        case OPT_ROLE_CREDENTIALS: o->role_credentials = optarg; break;
        case OPT_AWS_ENDPOINT_URL: o->aws_endpoint_url = optarg; break;
        case OPT_TAIL: o->tail = optarg; break;
        case OPT_SINCE: o->since = optarg; break;
        case OPT_FOLLOW: o->follow = true; break;
        case OPT_LOG_TAIL: o->log_tail = true; break;
        case OPT_STATS: o->stats = true; break;
        case OPT_LISTEN: o->listen = optarg; break;
        case OPT_CODE_DIR: o->code_dir = optarg; break;
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

/* --aws-endpoint-url: http(s)://, printable ASCII without spaces, < 2048 bytes. */
static int cli_check_url(const char *url, char *why, size_t why_size)
{
    size_t n = strlen(url);
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        snprintf(why, why_size,
                 "--aws-endpoint-url: expected an http:// or https:// URL, got \"%.200s\"", url);
        return -1;
    }
    if (n >= 2048) {
        snprintf(why, why_size, "--aws-endpoint-url: %zu bytes, at most 2047", n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f) {
            snprintf(why, why_size,
                     "--aws-endpoint-url: byte %zu (0x%02x) is not printable ASCII without spaces",
                     i, c);
            return -1;
        }
    }
    return 0;
}

/* Refuse options that mean nothing for the command (so typos do not pass). */
int cli_check(const cli_options *o, char *why, size_t why_size)
{
    const char *cmd = o->command;
    bool launching = cli_is_launching(cmd);
    bool invoke = strcmp(cmd, "invoke") == 0;
    bool logs = strcmp(cmd, "logs") == 0;
    bool serve = strcmp(cmd, "serve") == 0;
    const struct {
        bool given;
        bool allowed;
        const char *name;
    } rules[] = {
        {o->function_file != NULL, launching, "--function"},
        {o->code_file != NULL, launching, "--code"},
        {o->code_dir != NULL, launching, "--code-dir"},
        {o->n_layers > 0, launching, "--layer"},
        {o->image != NULL, launching, "--image"},
        {o->artifact_listen != NULL, launching || serve, "--artifact-listen"},
        {o->listen != NULL, serve, "--listen"},
        {o->payload != NULL, invoke, "--payload"},
        {o->payload_file != NULL, invoke, "--payload-file"},
        {o->keep, invoke, "--keep"},
        {o->log_tail, invoke, "--log-tail"},
        {o->role_credentials != NULL, launching || serve, "--role-credentials"},
        {o->aws_endpoint_url != NULL, launching || serve, "--aws-endpoint-url"},
        {o->tail != NULL, logs, "--tail"},
        {o->since != NULL, logs, "--since"},
        {o->follow, logs, "--follow"},
        {o->stats, strcmp(cmd, "backends") != 0 && !serve, "--stats"},
        {o->json, !serve, "--json"},
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        if (rules[i].given && !rules[i].allowed) {
            snprintf(why, why_size, "%s: not an option of `%s` (see `%s --help`)", rules[i].name,
                     cmd, cmd);
            return -1;
        }
    }
    if (o->handle != NULL && !cli_takes_argument(cmd)) {
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
    if ((logs || strcmp(cmd, "status") == 0) && (o->handle == NULL || o->handle[0] == '\0')) {
        snprintf(why, why_size, "%s: HANDLE required (see `%s --help`)", cmd, cmd);
        return -1;
    }
    unsigned lines;
    long long since;
    if (cli_tail_lines(o->tail, &lines, why, why_size) != 0 ||
        cli_since_ms(o->since, &since, why, why_size) != 0)
        return -1;
    if (o->aws_endpoint_url != NULL && cli_check_url(o->aws_endpoint_url, why, why_size) != 0)
        return -1;
    if (launching && o->function_file == NULL) {
        snprintf(why, why_size, "%s: --function FILE required (see `%s --help`)", cmd, cmd);
        return -1;
    }
    if (o->payload != NULL && o->payload_file != NULL) {
        snprintf(why, why_size, "--payload and --payload-file: give one, not both");
        return -1;
    }
    if (o->code_file != NULL && o->code_dir != NULL) {
        snprintf(why, why_size, "--code and --code-dir: give one, not both");
        return -1;
    }
    if (o->code_dir != NULL && o->code_dir[0] != '/') {
        snprintf(why, why_size, "--code-dir: an absolute directory, got \"%.200s\"", o->code_dir);
        return -1;
    }
    if (o->payload_file != NULL && o->function_file != NULL && strcmp(o->payload_file, "-") == 0 &&
        strcmp(o->function_file, "-") == 0) {
        snprintf(why, why_size, "--function and --payload-file cannot both read stdin");
        return -1;
    }
    return 0;
}
