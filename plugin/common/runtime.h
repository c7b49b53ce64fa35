/*
 * runtime: what both backends derive from a Lambda function description.
 *
 * - the runtime image for a Zip function's runtime id
 *   (public.ecr.aws/lambda/<lang>:<tag>);
 * - translation of AWS private-ECR image URIs to the local ECR host:port;
 * - rewriting of localhost / 127.0.0.1 hosts in environment values to the
 *   host name the runtime can reach the emulator at.
 * Pure functions, thread-safe.
 */
#ifndef FCB_RUNTIME_H
#define FCB_RUNTIME_H

#include <fakecloud/backend_plugin.h>

#include <stdbool.h>
#include <stddef.h>

#define RUNTIME_IMAGE_MAX 512

/*
 * Image for RUNTIME (e.g. "python3.12" -> "public.ecr.aws/lambda/python:3.12",
 * "nodejs20.x" -> "public.ecr.aws/lambda/nodejs:20", "java21" ->
 * ".../java:21", "dotnet8" -> ".../dotnet:8", "ruby3.3" -> ".../ruby:3.3",
 * "go1.x" -> ".../go:1", "provided.al2023" -> ".../provided:al2023").
 * Returns FCB_OK, or FCB_ERR_UNSUPPORTED with err "unsupported runtime: X".
 */
int runtime_image(const char *runtime, char out[RUNTIME_IMAGE_MAX], fcb_error *err);

/* True for provided.al2 / provided.al2023 (code goes to /var/runtime too). */
bool runtime_is_provided(const char *runtime);

/*
 * If IMAGE is "<acct>.dkr.ecr.<region>.amazonaws.com/<repo>[:tag|@digest]",
 * write "<ecr_host>:<ecr_port>/<repo>[:tag|@digest]" to out and return true;
 * otherwise copy IMAGE unchanged and return false. Output is cut to
 * RUNTIME_IMAGE_MAX - 1 bytes (callers validate length first).
 */
bool runtime_translate_ecr(const char *image, const char *ecr_host, unsigned ecr_port,
                           char out[RUNTIME_IMAGE_MAX]);

/*
 * Rewrite every "localhost" / "127.0.0.1" host in VALUE (URLs like
 * http://localhost:4566/x, or host[:port] alone) to NEW_HOST. Returns a new
 * string from the host allocator (caller frees with svc_free), or NULL on
 * allocation failure. Values without such a host are copied unchanged.
 */
char *runtime_rewrite_localhost(const fcb_host_services *host, const char *value,
                                const char *new_host);

/* Image for a function: runtime map for Zip, translated ImageUri for Image. */
int runtime_function_image(const fcb_function *fn, const char *ecr_host, unsigned ecr_port,
                           char out[RUNTIME_IMAGE_MAX], fcb_error *err);

#endif
