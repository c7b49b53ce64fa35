/*
 * docker_fixture: the docker integration tests' per-test fixture: the plugin
 * loaded as the host loads it, with a mock host the test configures first, and
 * after the test the backend closed and zero plugin bytes left outstanding.
 */
#ifndef DOCKER_FIXTURE_H
#define DOCKER_FIXTURE_H

#include "loader.h"
#include "mock_host.h"

#include <fakecloud/backend_plugin.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct docker_fixture {
    mock_host *mh; /* created by the test (mock_host_new) and configured before load */
    loader_plugin *plugin;
    const fcb_backend_ops *ops;
    fcb_backend *backend;
} docker_fixture;

/* loader_load the docker plugin with fx->mh's services (asserts). */
void docker_fixture_load(docker_fixture *fx);

/* The unix socket path of DOCKER_HOST (asserts it is unix://: run under with-dockerd.sh). */
const char *docker_fixture_socket(void);

/* A new mock host with DOCKER_HOST from the environment, the plugin loaded and opened. */
void docker_fixture_open(docker_fixture *fx);

/* Close the backend if open, expect 0 bytes outstanding (the log on a leak), unload,
 * free the mock host, zero fx. */
void docker_fixture_teardown(docker_fixture *fx);

/*
 * open() with its Nth allocation failing, N = 1, 2, ... until an open makes fewer
 * than N allocations (asserts that happens before MAX): after each, no byte is
 * outstanding and a failed open left no backend (and, with EXPECT_NO_MEMORY, said
 * FCB_ERR_NO_MEMORY). Returns how many allocations one open makes.
 */
size_t docker_fixture_open_sweep(docker_fixture *fx, size_t max, bool expect_no_memory);

/* A python3.12 Zip function NAME with handler app.handler (the test image runs app.sh). */
fcb_function docker_fixture_zip_function(const char *name);

/* CLOCK_MONOTONIC in ms. */
uint64_t docker_fixture_now_ms(void);

#endif
