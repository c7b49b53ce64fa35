/*
 * mock_host: the host services for tests, with fault injection and leak
 * accounting.
 *
 * - allocator that counts every allocation and outstanding byte and can fail
 *   the Nth allocation (1-based, counted from the last mock_host_fail_alloc
 *   call) or every allocation from the Nth on;
 * - logger that captures formatted lines ("LEVEL plugin: message k=v ...")
 *   for assertions (set MOCK_HOST_ECHO=1 to also print them to stderr);
 * - config getter over a table set by the test (values copied and kept alive
 *   until mock_host_free, as the ABI requires).
 * Thread-safe. Memory of the mock itself comes from libc, not from itself.
 */
#ifndef MOCK_HOST_H
#define MOCK_HOST_H

#include <fakecloud/backend_plugin.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct mock_host mock_host;

mock_host *mock_host_new(void);
/* Frees the mock (not the plugin's outstanding blocks: check leaks first). */
void mock_host_free(mock_host *mh);
const fcb_host_services *mock_host_services(mock_host *mh);

/* Set (copy) or, with value NULL, unset a config key. */
void mock_host_set_config(mock_host *mh, const char *key, const char *value);

/* Fail allocation number n (1-based) from now on; 0 disables. */
void mock_host_fail_alloc(mock_host *mh, size_t n);
/* Fail every allocation from number n (1-based) from now on; 0 disables. */
void mock_host_fail_alloc_from(mock_host *mh, size_t n);
/* Allocation calls (alloc + growing realloc) since the last fail_* call. */
size_t mock_host_alloc_calls(mock_host *mh);
/* Allocations that were failed on purpose so far. */
size_t mock_host_failed_allocs(mock_host *mh);
size_t mock_host_outstanding_bytes(mock_host *mh);
size_t mock_host_outstanding_blocks(mock_host *mh);
size_t mock_host_peak_bytes(mock_host *mh);
size_t mock_host_total_allocs(mock_host *mh);

/*
 * Leak hunting: mock_host_mark() starts a new generation; dump lists the
 * blocks allocated since the last mark that are still live (with where they
 * were allocated when MOCK_HOST_TRACE=1; link with -rdynamic for names).
 * Returns how many it listed.
 */
void mock_host_mark(mock_host *mh);
size_t mock_host_dump_since_mark(mock_host *mh, FILE *out);

/* Captured log. */
size_t mock_host_log_lines(mock_host *mh);
bool mock_host_log_contains(mock_host *mh, const char *needle);
/* All captured lines joined with '\n'; caller frees with free(). */
char *mock_host_log_text(mock_host *mh);
void mock_host_log_clear(mock_host *mh);
/* Lowest level captured (default FCB_LOG_TRACE: everything). */
void mock_host_set_log_level(mock_host *mh, fcb_log_level level);

/*
 * A cancel token (ABI 1.1 fcb_cancel) for the plugin calls of a test:
 * cancelled() is false until mock_host_cancel_fire, or until it has been
 * polled AFTER_POLLS times when mock_host_cancel_after was called (0 = only
 * by firing). Thread-safe; mock_host_cancel_polls counts the polls.
 */
fcb_cancel mock_host_cancel(mock_host *mh);
void mock_host_cancel_fire(mock_host *mh);
void mock_host_cancel_after(mock_host *mh, size_t after_polls);
void mock_host_cancel_reset(mock_host *mh);
size_t mock_host_cancel_polls(mock_host *mh);

#endif
