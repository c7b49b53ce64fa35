/*
 * bench_artifacts: a minimal stand-in for the host's artifact server, so Zip
 * functions can be benchmarked: Pods' init containers (kubesim executes their
 * wget lines) fetch GET .../_internal/code/<acct>/<fn>/<deploy>.zip (the code
 * zip) and .../_internal/layers/... .tar (empty: no layers) with a bearer
 * token. Listens on 127.0.0.1 only (libmicrohttpd, its own thread).
 */
#ifndef BENCH_ARTIFACTS_H
#define BENCH_ARTIFACTS_H

#include <stddef.h>

typedef struct bench_artifacts bench_artifacts;

/*
 * Serve ZIP (copied) to requests bearing TOKEN. Returns NULL on failure.
 * *url gets "http://127.0.0.1:<port>" (owned by the server).
 */
bench_artifacts *bench_artifacts_start(const void *zip, size_t zip_size, const char *token,
                                       const char **url);
/* Downloads answered 200 so far (code + layers). */
unsigned bench_artifacts_served(bench_artifacts *a);
void bench_artifacts_stop(bench_artifacts *a);

#endif
