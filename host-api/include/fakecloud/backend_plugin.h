/*
 * fakecloud Lambda backend plugin ABI, version 1 (minor 1).
 *
 * The contract between a host process (an AWS emulator such as fakecloud, or
 * the sample host `fakecloud-lambda-host`) and a dlopen-able Lambda execution
 * backend (`fakecloud-backend-<name>.so`). This header is the whole public
 * interface: plain C11, no dependency beyond <stddef.h> and <stdint.h>.
 *
 * Loading sequence (what a host does, in this order):
 *   1. dlopen() the shared object with RTLD_NOW | RTLD_LOCAL.
 *   2. dlvsym(handle, "backend_plugin_descriptor", FCB_SYMBOL_VERSION) and
 *      check the descriptor with fcb_descriptor_check() *before* running any
 *      plugin code: wrong magic, a different ABI major, or an ABI minor newer
 *      than the host's are refused.
 *   3. dlvsym(handle, "backend_plugin_init", FCB_SYMBOL_VERSION) and call it
 *      once with the host's services. It returns the plugin's operations
 *      table (static, read-only, valid until dlclose).
 *   4. ops->open() one or more backend instances; launch/terminate/reap from
 *      any number of threads; ops->close() each instance; dlclose().
 *
 * Versioning rules:
 *   - FCB_ABI_MAJOR changes only when an existing field or function changes
 *     meaning or layout. Hosts refuse plugins of another major.
 *   - FCB_ABI_MINOR grows when fields or operations are appended. Every
 *     struct crossing the boundary starts with a `size` member set by its
 *     writer to sizeof(the struct as the writer knows it). A reader never
 *     touches bytes at or beyond `size`; a field beyond it reads as zero/NULL.
 *     New members are only ever appended at the end.
 *   - A plugin built against minor M needs a host of minor >= M.
 *   - Members appended by a minor are marked "since 1.N" (like sqlite3ext.h).
 *     A reader checks FCB_HAS_MEMBER(ptr, type, member) before touching one:
 *     a 1.0 writer's struct is shorter and the member reads as absent.
 *   - FCB_PLUGIN_DESCRIPTOR declares that the plugin needs this header's
 *     minor; a plugin that gates every 1.1 member and op on the host's
 *     abi_minor may declare an older one with FCB_PLUGIN_DESCRIPTOR_EX.
 *
 * Memory and ownership:
 *   - Nothing that crosses the boundary is freed by the other side. Inputs
 *     (function descriptions, blobs, strings) are owned by the caller and are
 *     only valid for the duration of the call: a plugin copies what it keeps.
 *   - Outputs are written into caller-owned fixed-size structs
 *     (fcb_instance, fcb_error).
 *   - Every allocation a plugin makes itself goes through
 *     fcb_host_services.alloc/realloc/free. Third-party libraries the plugin
 *     uses (libcurl, json-c, ...) keep their own allocators.
 *
 * Threads:
 *   - backend_plugin_init is called once per dlopen, from one thread.
 *   - open/close of one instance are not concurrent with other calls on that
 *     same instance, except that close() may be called while launch() calls
 *     are in flight on other threads: those return FCB_ERR_CANCELLED promptly
 *     and close() returns only after they did and after every thread the
 *     plugin started has been joined. After close(), dlclose() is safe.
 *   - launch, terminate, reap_stale and prepull are thread-safe: a host calls
 *     them concurrently from many threads on the same instance.
 *   - The host's services must be callable from any thread, including
 *     threads the plugin started.
 */
#ifndef FAKECLOUD_BACKEND_PLUGIN_H
#define FAKECLOUD_BACKEND_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ABI version this header describes. */
#define FCB_ABI_MAJOR 1
#define FCB_ABI_MINOR 1

/* ELF symbol version that binds both exported symbols (see plugin.map). */
#define FCB_SYMBOL_VERSION "FAKECLOUD_BACKEND_1"

/* First field of every plugin descriptor: "FCBP" in ASCII, little endian. */
#define FCB_PLUGIN_MAGIC 0x50424346u

/* Names of the two symbols a plugin exports (and nothing else). */
#define FCB_DESCRIPTOR_SYMBOL "backend_plugin_descriptor"
#define FCB_INIT_SYMBOL       "backend_plugin_init"

/* File name of a backend called NAME: "fakecloud-backend-NAME.so". */
#define FCB_PLUGIN_FILE_PREFIX "fakecloud-backend-"
#define FCB_PLUGIN_FILE_SUFFIX ".so"

/*
 * True when the struct at PTR (whose first member is `uint32_t size`, set by
 * its writer) is long enough to hold MEMBER. The one rule for reading a
 * struct the other side wrote: never touch a member for which this is false.
 */
#define FCB_HAS_MEMBER(ptr, type, member) \
    ((ptr) != NULL && (ptr)->size >= offsetof(type, member) + sizeof(((type *)0)->member))

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/*
 * Result codes. 0 is success; failures are negative. A plugin returns one of
 * these and fills the caller's fcb_error with a human message that names the
 * field or object at fault. Hosts must treat unknown negative codes as
 * FCB_ERR_INTERNAL (a newer plugin may return codes this header lacks).
 */
typedef enum fcb_status {
    FCB_OK = 0,
    FCB_ERR_INVALID_ARGUMENT = -1, /* bad input from the host (function description, handle) */
    FCB_ERR_CONFIG = -2,           /* bad or missing configuration (open) */
    FCB_ERR_NO_MEMORY = -3,        /* the host allocator returned NULL */
    FCB_ERR_UNSUPPORTED = -4,      /* e.g. unknown runtime, optional operation missing */
    FCB_ERR_BACKEND = -5,          /* the orchestrator (API server, dockerd) refused */
    FCB_ERR_UNAVAILABLE = -6,      /* orchestrator unreachable (connect/TLS/network) */
    FCB_ERR_TIMEOUT = -7,          /* a deadline passed */
    FCB_ERR_CANCELLED = -8,        /* close() was called while the operation ran */
    FCB_ERR_START_FAILED = -9,     /* the runtime could not start (image pull, crash) */
    FCB_ERR_NOT_FOUND = -10,       /* the object does not exist (never for terminate) */
    FCB_ERR_INTERNAL = -11,        /* a bug or an unexpected state */
} fcb_status;

/* Size of fcb_error.message including the terminating NUL. */
#define FCB_ERROR_MESSAGE_MAX 1024

/*
 * A failure report, owned by the caller (usually on its stack). The plugin
 * sets `code` and writes a NUL-terminated, possibly truncated message. On
 * success the plugin leaves it untouched, so callers initialise it with
 * FCB_ERROR_INIT.
 */
typedef struct fcb_error {
    int code;                            /* an fcb_status */
    char message[FCB_ERROR_MESSAGE_MAX]; /* e.g. "unsupported runtime: cobol1" */
} fcb_error;

#define FCB_ERROR_INIT \
    {                  \
        FCB_OK,        \
        {              \
            0          \
        }              \
    }

/* Stable upper-case name of a status code ("FCB_ERR_TIMEOUT"); never NULL. */
static inline const char *fcb_status_name(int code)
{
    switch (code) {
    case FCB_OK: return "FCB_OK";
    case FCB_ERR_INVALID_ARGUMENT: return "FCB_ERR_INVALID_ARGUMENT";
    case FCB_ERR_CONFIG: return "FCB_ERR_CONFIG";
    case FCB_ERR_NO_MEMORY: return "FCB_ERR_NO_MEMORY";
    case FCB_ERR_UNSUPPORTED: return "FCB_ERR_UNSUPPORTED";
    case FCB_ERR_BACKEND: return "FCB_ERR_BACKEND";
    case FCB_ERR_UNAVAILABLE: return "FCB_ERR_UNAVAILABLE";
    case FCB_ERR_TIMEOUT: return "FCB_ERR_TIMEOUT";
    case FCB_ERR_CANCELLED: return "FCB_ERR_CANCELLED";
    case FCB_ERR_START_FAILED: return "FCB_ERR_START_FAILED";
    case FCB_ERR_NOT_FOUND: return "FCB_ERR_NOT_FOUND";
    case FCB_ERR_INTERNAL: return "FCB_ERR_INTERNAL";
    default: return "FCB_ERR_UNKNOWN";
    }
}

/* ------------------------------------------------------------------------ */
/* Host services                                                             */
/* ------------------------------------------------------------------------ */

typedef enum fcb_log_level {
    FCB_LOG_TRACE = 0,
    FCB_LOG_DEBUG = 1,
    FCB_LOG_INFO = 2,
    FCB_LOG_WARN = 3,
    FCB_LOG_ERROR = 4,
} fcb_log_level;

/* One structured log field. Both strings are borrowed for the call only. */
typedef struct fcb_log_field {
    const char *key;   /* e.g. "pod"; [a-z0-9_] by convention */
    const char *value; /* any UTF-8 text; never a secret */
} fcb_log_field;

/*
 * What the host lends a plugin. Owned by the host; must stay valid and
 * unchanged from backend_plugin_init (or open) until the plugin instance that
 * got it is closed and the plugin is unloaded. Every callback receives its own
 * context pointer and must be thread-safe.
 */
typedef struct fcb_host_services {
    uint32_t size;      /* sizeof(fcb_host_services) as the host knows it */
    uint16_t abi_major; /* FCB_ABI_MAJOR of the host */
    uint16_t abi_minor; /* FCB_ABI_MINOR of the host */

    /*
     * Allocator, malloc/realloc/free semantics. alloc(ctx, 0) may return NULL
     * or a unique pointer. realloc(ctx, NULL, n) == alloc(ctx, n).
     * free(ctx, NULL) is a no-op. Returns NULL on failure (plugin must cope:
     * return FCB_ERR_NO_MEMORY and leak nothing).
     */
    void *alloc_ctx;
    void *(*alloc)(void *ctx, size_t size);
    void *(*realloc)(void *ctx, void *ptr, size_t size);
    void (*free)(void *ctx, void *ptr);

    /*
     * Logger. `plugin` is the plugin's short name; `message` a single line
     * without secrets; `fields` may be NULL when n_fields is 0. All strings
     * are borrowed for the call only. The plugin never prints itself.
     * log_enabled (may be NULL = everything enabled) lets a plugin skip
     * building expensive fields.
     */
    void *log_ctx;
    void (*log)(void *ctx, fcb_log_level level, const char *plugin, const char *message,
                const fcb_log_field *fields, size_t n_fields);
    int (*log_enabled)(void *ctx, fcb_log_level level);

    /*
     * Configuration getter: the value of KEY (keys are named like environment
     * variables, e.g. "FAKECLOUD_K8S_NAMESPACE", "KUBECONFIG", "HOME"), or
     * NULL when unset. The returned string is owned by the host and stays
     * valid and unchanged until the plugin is unloaded; the plugin never
     * frees or modifies it. Plugins read all configuration through this,
     * never getenv().
     */
    void *config_ctx;
    const char *(*config_get)(void *ctx, const char *key);
} fcb_host_services;

/* ------------------------------------------------------------------------ */
/* Functions, launches and instances                                         */
/* ------------------------------------------------------------------------ */

typedef enum fcb_package_type {
    FCB_PACKAGE_ZIP = 0,   /* runtime image from `runtime`, code from the zip */
    FCB_PACKAGE_IMAGE = 1, /* container image from `image_uri` */
} fcb_package_type;

/* One function tag (since 1.1); both strings borrowed for the call. */
typedef struct fcb_tag {
    const char *key;
    const char *value;
} fcb_tag;

/* One environment variable; both strings borrowed for the call. */
typedef struct fcb_env_var {
    const char *name;
    const char *value;
} fcb_env_var;

/*
 * A Lambda function, in the terms of AWS GetFunctionConfiguration. All
 * pointers are borrowed for the duration of the call that received it.
 * Optional strings may be NULL; numbers of 0 mean "AWS default".
 */
typedef struct fcb_function {
    uint32_t size;                 /* sizeof(fcb_function) as the writer knows it */
    const char *function_name;     /* required, e.g. "my-fn" */
    /*
     * "arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]" or NULL.
     * ABI 1.0 has no version field: a host running a published version passes
     * the qualified ARN, and the backends set AWS_LAMBDA_FUNCTION_VERSION to
     * the qualifier when it is digits only (a published version), else to
     * "$LATEST" (unqualified ARN, alias, NULL). The region also gives
     * AWS_REGION / AWS_DEFAULT_REGION, the account the artifact URLs.
     */
    const char *function_arn;
    const char *runtime;           /* e.g. "python3.12"; required for FCB_PACKAGE_ZIP */
    const char *handler;           /* e.g. "app.handler"; required for FCB_PACKAGE_ZIP */
    uint32_t timeout_seconds;      /* 0 = 3 */
    uint32_t memory_mb;            /* 0 = 128 */
    uint32_t ephemeral_storage_mb; /* 0 = 512 */
    fcb_package_type package_type;
    const char *image_uri;          /* required for FCB_PACKAGE_IMAGE */
    const char *architecture;       /* "x86_64" (NULL) or "arm64" */
    const fcb_env_var *environment; /* Environment.Variables */
    size_t n_environment;
    /* ImageConfig overrides for image functions; NULL/0 = image defaults. */
    const char *const *image_entry_point;
    size_t n_image_entry_point;
    const char *const *image_command;
    size_t n_image_command;
    const char *image_working_directory;

    /* since 1.1: the function's tags (ListTags), in any order; borrowed. */
    const struct fcb_tag *tags;
    size_t n_tags;
} fcb_function;

/* A borrowed byte range (a zip archive). */
typedef struct fcb_blob {
    const void *data;
    size_t size;
} fcb_blob;

/*
 * Role credentials for one instance (since 1.1), what AWS gives a function
 * through its execution role. The plugin hands them to the runtime's
 * environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)
 * without writing them where a user of the orchestrator could read them in
 * plain sight (k8s: the instance Secret, never the Pod spec), and never logs
 * them. Borrowed for the call.
 */
typedef struct fcb_credentials {
    uint32_t size;                 /* sizeof(fcb_credentials) as the writer knows it */
    const char *access_key_id;     /* required */
    const char *secret_access_key; /* required */
    const char *session_token;     /* may be NULL */
    int64_t expiration_unix_s;     /* 0 = no expiry */
} fcb_credentials;

/*
 * A cancellation check the host lends a long call (since 1.1). `cancelled`
 * returns non-zero once the host wants the call abandoned (e.g. from a signal
 * handler thread or another request); it must be cheap and thread-safe. A
 * plugin polls it at least every 100 ms while it waits and then returns
 * FCB_ERR_CANCELLED having removed what the call created. NULL = never.
 */
typedef struct fcb_cancel {
    void *ctx;
    int (*cancelled)(void *ctx);
} fcb_cancel;

/* Everything one launch needs; borrowed for the duration of launch(). */
typedef struct fcb_launch_request {
    uint32_t size;                /* sizeof(fcb_launch_request) as the writer knows it */
    const fcb_function *function; /* required */
    fcb_blob code;                /* the code zip; empty for image functions */
    const fcb_blob *layers;       /* layer zips in Layers order; may be NULL if n_layers == 0 */
    size_t n_layers;
    const char *deploy_id; /* required; identifies this code version, [A-Za-z0-9._-] */
    /*
     * Bound of the whole launch in ms, for every backend: image pull, object
     * creation, code copy, start and readiness all count against it. When it
     * passes, launch() removes what it created and returns FCB_ERR_TIMEOUT.
     * 0 = the backend's configured defaults (its per-step timeouts).
     */
    uint32_t deadline_ms;

    /* since 1.1 */
    const fcb_credentials *credentials; /* NULL = none */
    const char *aws_endpoint_url;       /* AWS_ENDPOINT_URL for the runtime; NULL = unset */
    fcb_cancel cancel;                  /* fire to abandon this launch only */
    /*
     * Hot reload: an absolute directory on the host whose files are the
     * function's code, mounted read-only at /var/task (and /var/runtime for
     * the provided runtimes) instead of copying `code`, so an edit is seen
     * by the next invoke. Zip functions only; `code` is then ignored. Only a
     * plugin declaring FCB_CAP_HOT_RELOAD honours it; any other refuses a
     * launch that sets it with FCB_ERR_UNSUPPORTED. NULL = copy `code`.
     */
    const char *code_dir;
} fcb_launch_request;

#define FCB_ENDPOINT_MAX 256
#define FCB_HANDLE_MAX   512

/*
 * A running runtime, written by launch() into a caller-owned struct. The
 * host sets `size` before the call. `endpoint` is "host:port" of the Runtime
 * Interface Emulator (POST /2015-03-31/functions/function/invocations).
 * `handle` is a printable plugin-defined string (e.g. "pod/ns/name") that
 * identifies the instance to terminate(); a host may store it and pass it to
 * terminate() from another process (another open() of the same plugin).
 */
typedef struct fcb_instance {
    uint32_t size;
    char endpoint[FCB_ENDPOINT_MAX];
    char handle[FCB_HANDLE_MAX];
} fcb_instance;

/* Parameters of open(); borrowed for the call. */
typedef struct fcb_open_params {
    uint32_t size; /* sizeof(fcb_open_params) as the writer knows it */
    /*
     * Bearer token that the host's artifact server requires from anything
     * fetching code or layers (k8s init containers). NULL when the host has
     * no artifact server. A plugin never logs it or writes it anywhere a
     * user could read it.
     */
    const char *internal_token;
} fcb_open_params;

/* ---- since 1.1: capabilities, logs, status, invoke, stats ---------------- */

/*
 * What a plugin can do, in fcb_plugin_descriptor.capabilities (static data,
 * so a host lists them without running plugin code). A host checks a bit
 * before relying on it: a request the plugin cannot honour (an architecture,
 * credentials, tags) is otherwise ignored by an older plugin. A 1.0
 * descriptor has no capabilities member: read it with FCB_HAS_MEMBER.
 */
#define FCB_CAP_IMAGE_FUNCTIONS (UINT64_C(1) << 0) /* FCB_PACKAGE_IMAGE */
#define FCB_CAP_LAYERS          (UINT64_C(1) << 1) /* launch with n_layers > 0 */
#define FCB_CAP_PREPULL         (UINT64_C(1) << 2)
#define FCB_CAP_LOGS            (UINT64_C(1) << 3) /* logs(): tail / since */
#define FCB_CAP_LOGS_FOLLOW     (UINT64_C(1) << 4) /* logs() with follow */
#define FCB_CAP_INVOKE          (UINT64_C(1) << 5) /* invoke() */
#define FCB_CAP_ARCH_X86_64     (UINT64_C(1) << 6) /* can run Architectures ["x86_64"] */
#define FCB_CAP_ARCH_ARM64      (UINT64_C(1) << 7) /* can run Architectures ["arm64"] */
#define FCB_CAP_HOT_RELOAD      (UINT64_C(1) << 8) /* fcb_launch_request.code_dir */
#define FCB_CAP_CANCEL          (UINT64_C(1) << 9) /* honours fcb_launch_request.cancel */
#define FCB_CAP_STATUS          (UINT64_C(1) << 10)
#define FCB_CAP_STATS           (UINT64_C(1) << 11)
#define FCB_CAP_CREDENTIALS     (UINT64_C(1) << 12) /* fcb_launch_request.credentials */
#define FCB_CAP_TAGS            (UINT64_C(1) << 13) /* reads fcb_function.tags */

/* Lower-case name of capability bit BIT ("logs-follow"), or NULL if unknown. */
static inline const char *fcb_capability_name(uint64_t bit)
{
    static const char *const names[] = {"image-functions", "layers", "prepull", "logs",
                                        "logs-follow", "invoke", "x86_64", "arm64",
                                        "hot-reload", "cancel", "status", "stats",
                                        "credentials", "tags"};
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (bit == (UINT64_C(1) << i))
            return names[i];
    return NULL;
}

/* Which output a log chunk came from. */
typedef enum fcb_log_stream {
    FCB_LOG_STDOUT = 1,
    FCB_LOG_STDERR = 2,
    FCB_LOG_COMBINED = 3, /* the orchestrator does not tell them apart (k8s) */
} fcb_log_stream;

/* What logs() reads and where it delivers it; borrowed for the call. */
typedef struct fcb_logs_request {
    uint32_t size;        /* sizeof(fcb_logs_request) as the writer knows it */
    uint32_t tail_lines;  /* 0 = all (within max_bytes) */
    int64_t since_unix_ms; /* 0 = from the start */
    int follow;           /* non-zero: keep delivering until the instance ends or cancel fires */
    uint32_t max_bytes;   /* 0 = 1 MiB; a plugin never delivers more in total */
    /*
     * Called with each chunk, in order, from the calling thread. Data is
     * borrowed for the call and need not end on a line boundary. Return 0 to
     * go on, non-zero to stop (logs() then returns FCB_OK).
     */
    void *sink_ctx;
    int (*on_data)(void *ctx, fcb_log_stream stream, const char *data, size_t len);
    fcb_cancel cancel;
} fcb_logs_request;

typedef enum fcb_instance_state {
    FCB_INSTANCE_STARTING = 1, /* created, runtime not ready yet */
    FCB_INSTANCE_RUNNING = 2,
    FCB_INSTANCE_EXITED = 3, /* exit_code and reason say how */
    FCB_INSTANCE_GONE = 4,   /* no such instance (deleted, reaped, never ours) */
} fcb_instance_state;

/* Answer of status(), written into a caller-owned struct (set `size` first). */
typedef struct fcb_instance_status {
    uint32_t size;
    int state;      /* an fcb_instance_state */
    int exit_code;  /* FCB_INSTANCE_EXITED: the runtime's exit code, else 0 */
    char reason[256]; /* orchestrator's reason ("OOMKilled", "Error"), may be empty */
} fcb_instance_status;

/* One event to deliver with invoke(); borrowed for the call. */
typedef struct fcb_invoke_request {
    uint32_t size;
    fcb_blob payload;     /* the event JSON */
    uint32_t timeout_ms;  /* 0 = the function's timeout + a margin */
    /* Response body, in chunks, from the calling thread; non-zero stops. */
    void *sink_ctx;
    int (*on_body)(void *ctx, const void *data, size_t len);
    fcb_cancel cancel;
} fcb_invoke_request;

/* Answer of invoke(), written into a caller-owned struct (set `size` first). */
typedef struct fcb_invoke_result {
    uint32_t size;
    int http_status;         /* the runtime's HTTP status (200 also for handled errors) */
    char function_error[64]; /* X-Amz-Function-Error when the runtime set it, else "" */
    uint64_t body_bytes;     /* bytes handed to on_body */
} fcb_invoke_result;

typedef enum fcb_metric_kind {
    FCB_METRIC_COUNTER = 1, /* monotonic since open */
    FCB_METRIC_GAUGE = 2,
    FCB_METRIC_SUM_MS = 3, /* total milliseconds; `count` says over how many */
} fcb_metric_kind;

/* One figure handed to the host by stats(); strings borrowed for the call. */
typedef struct fcb_metric {
    uint32_t size;
    const char *name;        /* e.g. "launches_total", "api_requests_total" */
    fcb_metric_kind kind;
    const char *label_key;   /* e.g. "reason", "phase"; NULL = no label */
    const char *label_value;
    double value;
    uint64_t count;          /* FCB_METRIC_SUM_MS: observations; else 0 */
} fcb_metric;

/* An open backend instance; opaque, owned by the plugin. */
typedef struct fcb_backend fcb_backend;

/* ------------------------------------------------------------------------ */
/* Operations                                                                */
/* ------------------------------------------------------------------------ */

/*
 * The plugin's operation table. Returned by backend_plugin_init as a pointer
 * to static read-only storage, valid until dlclose. A host reads only the
 * first `size` bytes; an operation beyond `size`, or NULL, is absent.
 */
typedef struct fcb_backend_ops {
    uint32_t size;    /* sizeof(fcb_backend_ops) as the plugin knows it */
    const char *name; /* static, e.g. "k8s" */

    /*
     * Create a backend instance: read configuration through host->config_get,
     * connect where needed, validate everything. Fails fast on any bad
     * configuration (FCB_ERR_CONFIG, message naming the key), never degrades
     * silently. `host` must outlive the instance. On failure *out is NULL
     * and nothing is leaked.
     */
    int (*open)(const fcb_host_services *host, const fcb_open_params *params, fcb_backend **out,
                fcb_error *err);

    /*
     * Cancel in-flight calls (they return FCB_ERR_CANCELLED), join every
     * thread, free everything. Does not terminate running instances (the
     * host terminates or a later reap_stale removes them). NULL is a no-op.
     */
    void (*close)(fcb_backend *backend);

    /*
     * Start one runtime and wait until it accepts connections. On success
     * fills out->endpoint and out->handle. On failure deletes whatever it
     * created, and err says why (for start failures: the orchestrator's
     * reason and the runtime's last log lines). Thread-safe.
     */
    int (*launch)(fcb_backend *backend, const fcb_launch_request *request, fcb_instance *out,
                  fcb_error *err);

    /*
     * Stop and remove the instance named by `handle`. Idempotent: an instance
     * that is already gone is success. Thread-safe.
     */
    int (*terminate)(fcb_backend *backend, const char *handle, fcb_error *err);

    /*
     * Remove every instance a previous host process left behind (labelled as
     * managed by fakecloud but not by this backend instance). Never touches
     * objects without the managed-by label. *reaped (may be NULL) gets the
     * count removed. Thread-safe.
     */
    int (*reap_stale)(fcb_backend *backend, size_t *reaped, fcb_error *err);

    /* Optional (may be NULL): make `image` available locally ahead of use. */
    int (*prepull)(fcb_backend *backend, const char *image, fcb_error *err);

    /* ---- since 1.1 (check FCB_HAS_MEMBER(ops, fcb_backend_ops, member)) ---- */

    /*
     * Optional: an instance's stdout/stderr, the last tail_lines and/or since
     * a time, then (follow) new output as it comes, through req->on_data.
     * FCB_ERR_NOT_FOUND for a handle that is not (or no longer) ours.
     * Thread-safe; close() cancels a follow.
     */
    int (*logs)(fcb_backend *backend, const char *handle, const fcb_logs_request *req,
                fcb_error *err);

    /* Optional: is the instance alive? Never fails for a gone instance (GONE). */
    int (*status)(fcb_backend *backend, const char *handle, fcb_instance_status *out,
                  fcb_error *err);

    /*
     * Optional: deliver one event to the instance (RIE invocation) and stream
     * its answer to req->on_body, reaching the runtime the way the backend
     * can (k8s: the Pod IP or the API server's pods/proxy). A host without a
     * route of its own to `endpoint` uses this. Thread-safe.
     */
    int (*invoke)(fcb_backend *backend, const char *handle, const fcb_invoke_request *req,
                  fcb_invoke_result *out, fcb_error *err);

    /*
     * Optional: hand the host every figure the backend keeps (launches,
     * failures by reason, API requests, retries, launch phases in ms) through
     * `emit`, from the calling thread. Cheap; callable at any time.
     */
    int (*stats)(fcb_backend *backend, void *ctx, void (*emit)(void *ctx, const fcb_metric *m),
                 fcb_error *err);
} fcb_backend_ops;

/* ------------------------------------------------------------------------ */
/* What a plugin exports                                                     */
/* ------------------------------------------------------------------------ */

/*
 * Constant descriptor the host reads before running any plugin code. Lives in
 * the plugin's read-only data; strings are static.
 */
typedef struct fcb_plugin_descriptor {
    uint32_t magic;      /* FCB_PLUGIN_MAGIC */
    uint32_t size;       /* sizeof(fcb_plugin_descriptor) as the plugin knows it */
    uint16_t abi_major;  /* FCB_ABI_MAJOR the plugin was built against */
    uint16_t abi_minor;  /* FCB_ABI_MINOR the plugin needs at least */
    const char *name;    /* short name, e.g. "k8s"; matches the file name */
    const char *version; /* plugin version, e.g. "0.1.0" */
    const char *summary; /* one line for `backends` listings */
    uint64_t capabilities; /* since 1.1: FCB_CAP_* bits */
} fcb_plugin_descriptor;

/*
 * The entry point. Called once after the descriptor check. Checks the host's
 * ABI (host->abi_major/minor) and returns the operations table, or NULL with
 * err filled (e.g. a missing library feature). Must not start threads or
 * connect anywhere: that is open()'s job.
 */
typedef const fcb_backend_ops *(*fcb_plugin_init_fn)(const fcb_host_services *host, fcb_error *err);

#if defined(__GNUC__)
#define FCB_EXPORT __attribute__((visibility("default")))
#else
#define FCB_EXPORT
#endif

/*
 * Declare the descriptor in one line in the plugin's source:
 *   FCB_PLUGIN_DESCRIPTOR("mine", "1.0.0", "Runs Lambdas on my orchestrator");
 * and define:
 *   FCB_EXPORT const fcb_backend_ops *backend_plugin_init(const fcb_host_services *,
 *                                                          fcb_error *);
 * Link with the version script from `pkg-config --variable=version_script
 * fakecloud-backend` so both symbols get the FAKECLOUD_BACKEND_1 version.
 */
#define FCB_PLUGIN_DESCRIPTOR(name_, version_, summary_) \
    FCB_PLUGIN_DESCRIPTOR_EX(name_, version_, summary_, FCB_ABI_MINOR, 0)

/*
 * The same with the FCB_CAP_* bits CAPS_, needing only ABI minor MINOR_
 * (<= FCB_ABI_MINOR) of the host.
 */
#define FCB_PLUGIN_DESCRIPTOR_EX(name_, version_, summary_, minor_, caps_)  \
    FCB_EXPORT extern const fcb_plugin_descriptor backend_plugin_descriptor; \
    const fcb_plugin_descriptor backend_plugin_descriptor = {                \
        FCB_PLUGIN_MAGIC,                                                    \
        (uint32_t)sizeof(fcb_plugin_descriptor),                             \
        FCB_ABI_MAJOR,                                                       \
        (uint16_t)(minor_),                                                  \
        (name_),                                                             \
        (version_),                                                          \
        (summary_),                                                          \
        (uint64_t)(caps_)}

FCB_EXPORT const fcb_backend_ops *backend_plugin_init(const fcb_host_services *host,
                                                      fcb_error *err);

/*
 * Host-side check of a descriptor (no plugin code runs). Returns FCB_OK, or
 * FCB_ERR_UNSUPPORTED with *why set to a static sentence naming the mismatch;
 * the host adds the file name and both versions to its message.
 */
static inline int fcb_descriptor_check(const fcb_plugin_descriptor *d, uint16_t host_major,
                                       uint16_t host_minor, const char **why)
{
    if (d == NULL) {
        *why = "descriptor symbol is NULL";
        return FCB_ERR_UNSUPPORTED;
    }
    if (d->magic != FCB_PLUGIN_MAGIC) {
        *why = "wrong magic number in descriptor (not a fakecloud backend plugin)";
        return FCB_ERR_UNSUPPORTED;
    }
    if (d->size < offsetof(fcb_plugin_descriptor, summary)) {
        *why = "descriptor too small";
        return FCB_ERR_UNSUPPORTED;
    }
    if (d->abi_major != host_major) {
        *why = "ABI major version differs from the host's";
        return FCB_ERR_UNSUPPORTED;
    }
    if (d->abi_minor > host_minor) {
        *why = "plugin needs a newer ABI minor version than the host has";
        return FCB_ERR_UNSUPPORTED;
    }
    *why = NULL;
    return FCB_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* FAKECLOUD_BACKEND_PLUGIN_H */
