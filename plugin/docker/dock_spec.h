/*
 * dock_spec: what a Lambda function becomes in the Docker Engine API.
 *
 * Pure functions (no I/O), thread-safe: resource limits from a function
 * description, container names, the JSON body of POST /containers/create,
 * and the small parsers the Engine client needs (DOCKER_HOST, API version
 * negotiation, image references, the multiplexed log stream, pull progress
 * lines). Unit-tested without a Docker engine. The labels are labels.h's.
 */
#ifndef FCB_DOCK_SPEC_H
#define FCB_DOCK_SPEC_H

#include "svc.h"

#include <stdbool.h>
#include <stdint.h>

/* Engine API versions: the newest we speak, the oldest we accept. */
#define DOCK_API_OURS_MAJOR 1
#define DOCK_API_OURS_MINOR 43
#define DOCK_API_MIN_MAJOR  1
#define DOCK_API_MIN_MINOR  40

/* Port the Runtime Interface Emulator listens on inside the container. */
#define DOCK_RIE_PORT "8080/tcp"

#define DOCK_NAME_MAX          96
#define DOCK_HOST_ALIAS_DOCKER "host.docker.internal"
#define DOCK_HOST_ALIAS_PODMAN "host.containers.internal"

/* Resource limits derived from a function (AWS defaults for zeros). */
typedef struct dock_limits {
    uint64_t memory_bytes; /* MemorySize */
    uint64_t tmp_bytes;    /* EphemeralStorage.Size -> /tmp tmpfs */
    uint32_t timeout_seconds;
    uint32_t memory_mb;
} dock_limits;

/*
 * Validate and convert: MemorySize 128..10240 MB (0 = 128), EphemeralStorage
 * 64..10240 MB (0 = 512), Timeout 1..900 s (0 = 3). FCB_ERR_INVALID_ARGUMENT
 * names the field otherwise.
 */
int dock_spec_limits(const fcb_function *fn, dock_limits *out, fcb_error *err);

/*
 * "fakecloud-lambda-<dns-safe function name, <= 40 bytes>-<suffix>" into
 * out (DOCK_NAME_MAX bytes). SUFFIX is [a-z0-9]. Returns the length.
 */
size_t dock_spec_container_name(const char *function_name, const char *suffix,
                                char out[DOCK_NAME_MAX]);

/* Everything the create body depends on besides the function. */
typedef struct dock_spec_input {
    const fcb_function *function; /* required */
    const char *image;            /* resolved image reference, required */
    const char *instance_id;      /* value of the fakecloud-instance label, required */
    const char *host_alias;       /* localhost in env values becomes this; required */
    bool host_gateway;            /* add ExtraHosts "<alias>:host-gateway" */
    const char *network;          /* HostConfig.NetworkMode; NULL = engine default */
    const char *publish_ip;       /* HostIp of the 8080 binding, e.g. "127.0.0.1" */
    /* The Lambda environment of this launch (lambda_env.h): */
    const char *log_stream_id;          /* 32 hex digits, the log stream's instance id; required */
    int64_t now_unix_s;                 /* launch time (UTC), for the log stream's date */
    const char *aws_endpoint_url;       /* AWS_ENDPOINT_URL (localhost rewritten); NULL = unset */
    const fcb_credentials *credentials; /* role credentials, both keys set; NULL = none */
    /* Hot reload: a checked host directory bound read-only at /var/task; NULL = none. */
    const char *code_dir;
} dock_spec_input;

/*
 * JSON body of POST /containers/create: Image, Cmd ([handler] for Zip,
 * ImageConfig for Image), Entrypoint/WorkingDir overrides, Env (function
 * variables with localhost rewritten, those the platform reserves dropped
 * with a warning, then the Lambda environment of lambda_env.h: _HANDLER,
 * AWS_LAMBDA_*, LAMBDA_TASK_ROOT, TZ, AWS_ENDPOINT_URL, the credentials,
 * ...), Labels, ExposedPorts, HostConfig (Memory, Tmpfs /tmp, PortBindings
 * 8080/tcp -> publish_ip:ephemeral, ExtraHosts, NetworkMode, and with
 * code_dir the read-only bind Mounts of it at /var/task, plus /var/runtime
 * for the provided runtimes, as the code copy does). The
 * credentials end up in the body's Env (the engine has no secret store);
 * nothing here logs them or puts them in an error message. Returns FCB_OK
 * and *json (host allocator, caller frees with svc_free), or
 * FCB_ERR_INVALID_ARGUMENT naming the field (bad env name, limits, a value
 * the Lambda environment refuses) / FCB_ERR_NO_MEMORY.
 */
int dock_spec_create_body(const fcb_host_services *host, const dock_spec_input *in, char **json,
                          fcb_error *err);

/* Where the Engine API is, from DOCKER_HOST. */
typedef enum dock_transport { DOCK_UNIX = 0, DOCK_TCP = 1 } dock_transport;

#define DOCK_ADDR_MAX 512
typedef struct dock_address {
    dock_transport transport;
    char path[DOCK_ADDR_MAX]; /* unix socket path */
    char host[256];           /* tcp host */
    unsigned port;            /* tcp port */
} dock_address;

/*
 * Parse DOCKER_HOST: NULL/"" = unix:///var/run/docker.sock; "unix:///p";
 * "tcp://host:port" (port default 2375, or 2376 with TLS). Other schemes
 * (ssh://, npipe://) are FCB_ERR_CONFIG naming DOCKER_HOST.
 */
int dock_spec_parse_host(const char *docker_host, bool tls, dock_address *out, fcb_error *err);

/*
 * Negotiate the API version: min(server's "X.Y", ours). Writes "X.Y" to out
 * (16 bytes). FCB_ERR_UNSUPPORTED when the server is older than 1.40,
 * FCB_ERR_BACKEND when SERVER is not a version.
 */
int dock_spec_negotiate_version(const char *server, char out[16], fcb_error *err);

/* Whether the negotiated API VERSION ("X.Y") is at least MAJOR.MINOR. */
bool dock_spec_api_at_least(const char *version, unsigned major, unsigned minor);

/*
 * Split an image reference for POST /images/create: repository part into
 * repo, tag or digest into tag ("latest" when there is none). Both hold
 * RUNTIME_IMAGE_MAX bytes. FCB_ERR_INVALID_ARGUMENT for characters outside
 * [A-Za-z0-9._/:@-] or an empty reference (message names FIELD).
 */
int dock_spec_split_image(const char *image, const char *field, char *repo, char *tag, size_t size,
                          fcb_error *err);

/*
 * Demultiplex a non-TTY log stream (8-byte headers: stream, 0, 0, 0, size
 * big-endian) into OUT as plain text. A stream without valid headers is
 * copied as is. Returns false when OUT failed (memory).
 */
bool dock_spec_demux_logs(const char *raw, size_t len, sbuf *out);

/*
 * One line of POST /images/create progress JSON: true when it reports an
 * error, with the message copied into msg (cut to size).
 */
bool dock_spec_pull_line_error(const char *line, size_t len, char *msg, size_t size);

#endif
