/* Unit tests of plugin/common/svc: allocation wrappers, errors, sbuf. */
#include "mock_host.h"
#include "svc.h"

#include <criterion/criterion.h>
#include <string.h>

Test(svc_sbuf, never_reserves_more_than_its_limit)
{
    mock_host *mh = mock_host_new();
    sbuf b;
    sbuf_init(&b, mock_host_services(mh), 1000);
    char chunk[100];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 10; i++)
        cr_assert(sbuf_append(&b, chunk, sizeof chunk), "append %d within the limit", i);
    cr_assert_leq(mock_host_peak_bytes(mh), 1001, "peak %zu bytes for a 1000-byte limit",
                  mock_host_peak_bytes(mh));
    cr_assert_not(sbuf_append(&b, "y", 1), "one byte past the limit is refused");
    cr_assert(sbuf_failed(&b));
    sbuf_free(&b);
    cr_assert_eq(mock_host_outstanding_bytes(mh), 0);
    mock_host_free(mh);
}

Test(svc_sbuf, failed_allocation_marks_the_buffer_and_leaks_nothing)
{
    mock_host *mh = mock_host_new();
    sbuf b;
    sbuf_init(&b, mock_host_services(mh), 0);
    mock_host_fail_alloc(mh, 1);
    cr_assert_not(sbuf_puts(&b, "hello"));
    cr_assert(sbuf_failed(&b));
    cr_assert_not(sbuf_printf(&b, "%d", 42), "later appends are no-ops");
    cr_assert_null(sbuf_steal(&b, NULL));
    sbuf_free(&b);
    cr_assert_eq(mock_host_outstanding_bytes(mh), 0);
    mock_host_free(mh);
}

Test(svc_sbuf, steal_hands_over_a_nul_terminated_string)
{
    mock_host *mh = mock_host_new();
    const fcb_host_services *h = mock_host_services(mh);
    sbuf b;
    sbuf_init(&b, h, 0);
    cr_assert(sbuf_printf(&b, "%s-%d", "pod", 7));
    size_t len = 0;
    char *s = sbuf_steal(&b, &len);
    cr_assert_str_eq(s, "pod-7");
    cr_assert_eq(len, 5);
    svc_free(h, s);
    sbuf_free(&b);
    cr_assert_eq(mock_host_outstanding_bytes(mh), 0);
    mock_host_free(mh);
}

Test(svc_error, prefix_keeps_the_code_and_prepends_context)
{
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(err_set(&err, FCB_ERR_CONFIG, "bad %s", "value"), FCB_ERR_CONFIG);
    cr_assert_eq(err_prefix(&err, "FAKECLOUD_K8S_NAMESPACE"), FCB_ERR_CONFIG);
    cr_assert_str_eq(err.message, "FAKECLOUD_K8S_NAMESPACE: bad value");
}

Test(svc_alloc, calloc_refuses_overflowing_sizes)
{
    mock_host *mh = mock_host_new();
    cr_assert_null(svc_calloc(mock_host_services(mh), SIZE_MAX / 2, 4));
    cr_assert_eq(mock_host_outstanding_bytes(mh), 0);
    mock_host_free(mh);
}

Test(svc_log, passes_fields_to_the_host_logger)
{
    mock_host *mh = mock_host_new();
    svc_log(mock_host_services(mh), FCB_LOG_INFO, "k8s", "pod started", "pod", "p1", "ns", NULL,
            NULL);
    cr_assert(mock_host_log_contains(mh, "INFO k8s: pod started pod=p1 ns=(null)"));
    mock_host_free(mh);
}

Test(svc_check_host, refuses_what_a_plugin_cannot_work_with)
{
    mock_host *mh = mock_host_new();
    fcb_host_services copy = *mock_host_services(mh);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(svc_check_host(&copy, "k8s", &err), FCB_OK);

    cr_assert_eq(svc_check_host(NULL, "k8s", &err), FCB_ERR_UNSUPPORTED);
    cr_assert_str_eq(err.message, "k8s backend: host services are NULL");

    copy.abi_major = FCB_ABI_MAJOR + 1;
    cr_assert_eq(svc_check_host(&copy, "k8s", &err), FCB_ERR_UNSUPPORTED);
    cr_assert(strstr(err.message, "host ABI major 2, plugin needs 1") != NULL, "%s", err.message);

    copy = *mock_host_services(mh);
    copy.size = 8;
    cr_assert_eq(svc_check_host(&copy, "docker", &err), FCB_ERR_UNSUPPORTED);
    cr_assert(strstr(err.message, "docker backend: host services table too small") != NULL, "%s",
              err.message);

    copy = *mock_host_services(mh);
    copy.log = NULL;
    cr_assert_eq(svc_check_host(&copy, "docker", &err), FCB_ERR_UNSUPPORTED);
    cr_assert(strstr(err.message, "logger") != NULL, "%s", err.message);
    mock_host_free(mh);
}
