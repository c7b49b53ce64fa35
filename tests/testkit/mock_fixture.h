/*
 * mock_fixture: the Criterion suite fixture most unit tests want — a fresh
 * mock host per test in `mh` / `host`, and after the test the check that the
 * code under test left zero bytes outstanding.
 *
 *   #include "mock_fixture.h"
 *   MOCK_HOST_SUITE(kube_config);
 *   Test(kube_config, parses_x) { ... host ... }
 */
#ifndef MOCK_FIXTURE_H
#define MOCK_FIXTURE_H

#include "mock_host.h"

#include <criterion/criterion.h>

static mock_host *mh;
static const fcb_host_services *host;

static inline void mock_fixture_setup(void)
{
    mh = mock_host_new();
    host = mock_host_services(mh);
}

static inline void mock_fixture_teardown(void)
{
    cr_expect_eq(mock_host_outstanding_bytes(mh), 0, "leaked %zu bytes",
                 mock_host_outstanding_bytes(mh));
    mock_host_free(mh);
}

#define MOCK_HOST_SUITE(name) \
    TestSuite(name, .init = mock_fixture_setup, .fini = mock_fixture_teardown)

#endif
