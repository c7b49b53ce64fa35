/*
 * fuzz_targets: every fuzz target's entry point. Each returns 0 and aborts
 * (after printing the violated property) on a bug. See fuzz_common.h.
 */
#ifndef FUZZ_TARGETS_H
#define FUZZ_TARGETS_H

#include <stddef.h>
#include <stdint.h>

/* names.c sanitisers and validators: outputs always valid, validators match regexes. */
int fuzz_names(const uint8_t *data, size_t size);
/* runtime.c image map, ECR translation and localhost rewrite: bounded, no leaks. */
int fuzz_runtime(const uint8_t *data, size_t size);
/* kubeconfig discovery/parsing through kube_client_new: clean error or client, no leaks. */
int fuzz_kubeconfig(const uint8_t *data, size_t size);
/* sample-host function-description JSON parser. */
int fuzz_function_json(const uint8_t *data, size_t size);
/* Kubernetes watch-stream framer: same events whatever the chunking. */
int fuzz_watch_framer(const uint8_t *data, size_t size);
/* Docker multiplexed log decoder + log tail + REPORT parser: same bytes whatever the chunking. */
int fuzz_logstream(const uint8_t *data, size_t size);
/* Kubernetes Status / Pod JSON parsers. */
int fuzz_kube_status(const uint8_t *data, size_t size);
/* zip -> tar converter with zip-slip and bomb limits. */
int fuzz_zip_to_tar(const uint8_t *data, size_t size);

#endif
