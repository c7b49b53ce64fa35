/*
 * baseline_docker: the reference docker backend's launch (fakecloud
 * runtime/docker.rs), reproduced step for step with the same `docker` CLI
 * it shells out to:
 *
 *   extract the code zip into a temporary directory (in process);
 *   docker create --name N --label ... -p 127.0.0.1::8080 -e ... IMAGE HANDLER
 *   docker cp DIR/. ID:/var/task
 *   docker start ID
 *   docker port ID 8080             -> 127.0.0.1:PORT
 *   up to 20 times: sleep 500 ms, TCP connect 127.0.0.1:PORT
 *   terminate: docker rm -f ID
 *
 * The CLI inherits the environment (DOCKER_HOST selects the daemon).
 * Thread-safe.
 */
#ifndef BASELINE_DOCKER_H
#define BASELINE_DOCKER_H

#include <stddef.h>

#define BASEDOCK_ERR_MAX 1024

typedef struct basedock_function {
    const char *name;     /* FunctionName */
    const char *image;    /* runtime image */
    const char *handler;  /* command argument */
    const void *code_zip; /* code zip bytes */
    size_t code_zip_size;
    const char *instance_id; /* fakecloud-instance label value */
} basedock_function;

/* Where one launch spent its time (ms), for the report's breakdown. */
typedef struct basedock_steps {
    double extract_ms;
    double create_ms;
    double cp_ms;
    double start_ms;
    double port_ms;
    double probe_ms; /* the sleep + connect loop */
} basedock_steps;

/*
 * Launch as the reference does; fills the container id and "127.0.0.1:PORT".
 * `docker` is the CLI to run (NULL = "docker" on PATH); steps may be NULL.
 * Returns 0 or -1 with err (the container, if created, is removed on failure).
 */
int basedock_launch(const char *docker, const basedock_function *fn, char id[80], char endpoint[64],
                    basedock_steps *steps, char err[BASEDOCK_ERR_MAX]);
/* docker rm -f ID. Returns 0 or -1 with err. */
int basedock_terminate(const char *docker, const char *id, char err[BASEDOCK_ERR_MAX]);

/*
 * Run ARGV (argv[0] searched on PATH), capture up to out_size-1 bytes of
 * stdout (NUL-terminated, trailing newline removed; out may be NULL), wait at
 * most timeout_ms. Returns the exit status, or -1 with err.
 */
int basedock_run(const char *const *argv, char *out, size_t out_size, int timeout_ms,
                 char err[BASEDOCK_ERR_MAX]);

#endif
