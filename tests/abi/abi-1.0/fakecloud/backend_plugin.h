/*
 * fakecloud Lambda backend plugin ABI, version 1.
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
#define FCB_ABI_MINOR 0

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
} fcb_function;

/* A borrowed byte range (a zip archive). */
typedef struct fcb_blob {
    const void *data;
    size_t size;
} fcb_blob;

/* Everything one launch needs; borrowed for the duration of launch(). */
typedef struct fcb_launch_request {
    uint32_t size;                /* sizeof(fcb_launch_request) as the writer knows it */
    const fcb_function *function; /* required */
    fcb_blob code;                /* the code zip; empty for image functions */
    const fcb_blob *layers;       /* layer zips in Layers order; may be NULL if n_layers == 0 */
    size_t n_layers;
    const char *deploy_id; /* required; identifies this code version, [A-Za-z0-9._-] */
    uint32_t deadline_ms;  /* 0 = the backend's configured default */
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
#define FCB_PLUGIN_DESCRIPTOR(name_, version_, summary_)                     \
    FCB_EXPORT extern const fcb_plugin_descriptor backend_plugin_descriptor; \
    const fcb_plugin_descriptor backend_plugin_descriptor = {                \
        FCB_PLUGIN_MAGIC, (uint32_t)sizeof(fcb_plugin_descriptor),           \
        FCB_ABI_MAJOR,    FCB_ABI_MINOR,                                     \
        (name_),          (version_),                                        \
        (summary_)}

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
