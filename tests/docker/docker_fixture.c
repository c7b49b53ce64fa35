/* docker_fixture: see docker_fixture.h. */
#include "docker_fixture.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef FCB_TEST_PLUGIN_DIR
#define FCB_TEST_PLUGIN_DIR "build/plugin"
#endif

void docker_fixture_load(docker_fixture *fx)
{
    char why[LOADER_WHY_MAX];
    int rc = loader_load(FCB_TEST_PLUGIN_DIR "/fakecloud-backend-docker.so",
                         mock_host_services(fx->mh), &fx->plugin, why);
    cr_assert_eq(rc, 0, "loader_load: %s", why);
    fx->ops = fx->plugin->ops;
}

const char *docker_fixture_socket(void)
{
    const char *h = getenv("DOCKER_HOST");
    cr_assert(h != NULL && strncmp(h, "unix://", 7) == 0,
              "run under tests/docker/with-dockerd.sh (DOCKER_HOST unset)");
    return h + 7;
}

void docker_fixture_open(docker_fixture *fx)
{
    memset(fx, 0, sizeof *fx);
    fx->mh = mock_host_new();
    mock_host_set_config(fx->mh, "DOCKER_HOST", getenv("DOCKER_HOST"));
    docker_fixture_load(fx);
    fcb_open_params params = {.size = sizeof params};
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(fx->ops->open(mock_host_services(fx->mh), &params, &fx->backend, &err), FCB_OK,
                 "open: %s", err.message);
}

void docker_fixture_teardown(docker_fixture *fx)
{
    if (fx->backend != NULL)
        fx->ops->close(fx->backend);
    fx->backend = NULL;
    if (fx->mh != NULL) {
        size_t leaked = mock_host_outstanding_bytes(fx->mh);
        if (leaked != 0) {
            char *log = mock_host_log_text(fx->mh);
            cr_log_error("log:\n%s", log);
            free(log);
        }
        cr_expect_eq(leaked, 0, "plugin leaked %zu bytes", leaked);
    }
    loader_unload(fx->plugin);
    mock_host_free(fx->mh);
    memset(fx, 0, sizeof *fx);
}

size_t docker_fixture_open_sweep(docker_fixture *fx, size_t max, bool expect_no_memory)
{
    for (size_t n = 1; n < max; n++) {
        mock_host_fail_alloc(fx->mh, n);
        fcb_open_params params = {.size = sizeof params};
        fcb_error err = FCB_ERROR_INIT;
        int rc = fx->ops->open(mock_host_services(fx->mh), &params, &fx->backend, &err);
        size_t calls = mock_host_alloc_calls(fx->mh);
        mock_host_fail_alloc(fx->mh, 0);
        if (rc == FCB_OK) {
            fx->ops->close(fx->backend);
            fx->backend = NULL;
        } else {
            cr_expect_null(fx->backend);
            if (expect_no_memory)
                cr_expect_eq(rc, FCB_ERR_NO_MEMORY, "allocation %zu: %d %s", n, rc, err.message);
        }
        cr_assert_eq(mock_host_outstanding_bytes(fx->mh), 0, "leak after failing allocation %zu",
                     n);
        /* open() made fewer than n allocations: every later n is this same run. */
        if (rc == FCB_OK && calls < n)
            return calls;
    }
    cr_assert_fail("open() makes %zu allocations or more: raise the bound", max);
    return 0;
}

uint64_t docker_fixture_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

fcb_function docker_fixture_zip_function(const char *name)
{
    fcb_function fn = {.size = sizeof fn,
                       .function_name = name,
                       .function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:x",
                       .runtime = "python3.12",
                       .handler = "app.handler",
                       .package_type = FCB_PACKAGE_ZIP};
    return fn;
}
