/*
 * ABI 1.1 compatibility, both ways, with built fixtures:
 *  - a plugin built against the 1.0 header (abi10_plugin.c) loads in this
 *    1.1 host: its ops table is the 1.0 size, the host reads no 1.1 member of
 *    it, and it runs open/launch/terminate/close given a 1.1-sized request;
 *  - a 1.0 host (abi10_host.c) refuses this tree's 1.1 plugins before running
 *    their code (the meson tests `abi 1.0 host …` run that program).
 */
#include "loader.h"
#include "mock_host.h"

#include <criterion/criterion.h>

#include <stddef.h>
#include <string.h>

#ifndef ABI10_PLUGIN
#error "ABI10_PLUGIN must be defined by meson"
#endif

/* Where the 1.0 ops table ended: just after prepull. */
#define OPS_1_0_SIZE (offsetof(fcb_backend_ops, prepull) + sizeof(void (*)(void)))

Test(abi_compat, a_plugin_built_against_1_0_loads_and_runs_in_a_1_1_host)
{
    mock_host *mh = mock_host_new();
    loader_plugin *p = NULL;
    char why[LOADER_WHY_MAX] = "";
    cr_assert_eq(loader_load(ABI10_PLUGIN, mock_host_services(mh), &p, why), 0, "%s", why);
    cr_assert_eq(p->descriptor->abi_minor, 0);
    cr_assert_eq(p->ops->size, OPS_1_0_SIZE, "the 1.0 ops table is %u bytes",
                 (unsigned)p->ops->size);
    cr_assert_eq(p->ops_size, OPS_1_0_SIZE);
    cr_assert_not(FCB_HAS_MEMBER(p->ops, fcb_backend_ops, logs), "a 1.0 table has no logs op");
    cr_assert_not(FCB_HAS_MEMBER(p->ops, fcb_backend_ops, stats));
    cr_assert_not(FCB_HAS_MEMBER(p->descriptor, fcb_plugin_descriptor, capabilities),
                  "a 1.0 descriptor has no capabilities member");

    fcb_backend *b = NULL;
    fcb_error err = FCB_ERROR_INIT;
    fcb_open_params op = {.size = sizeof op};
    cr_assert_eq(p->ops->open(mock_host_services(mh), &op, &b, &err), FCB_OK, "%s", err.message);
    fcb_function fn = {
        .size = sizeof fn, .function_name = "f", .runtime = "python3.12", .handler = "app.handler"};
    fcb_credentials creds = {
        .size = sizeof creds, .access_key_id = "AKIA", .secret_access_key = "s"};
    fcb_launch_request req = {
        .size = sizeof req, .function = &fn, .deploy_id = "d1", .credentials = &creds};
    fcb_instance inst = {.size = sizeof inst};
    cr_assert_eq(p->ops->launch(b, &req, &inst, &err), FCB_OK, "%s", err.message);
    cr_assert_str_eq(inst.handle, "abi10/1");
    cr_assert_eq(p->ops->terminate(b, inst.handle, &err), FCB_OK);
    p->ops->close(b);
    loader_unload(p);
    cr_assert_eq(mock_host_outstanding_bytes(mh), 0);
    mock_host_free(mh);
}

Test(abi_compat, has_member_reads_a_struct_by_its_writer_size)
{
    fcb_launch_request req = {
        .size = (uint32_t)(offsetof(fcb_launch_request, deadline_ms) + sizeof(uint32_t))};
    cr_assert(FCB_HAS_MEMBER(&req, fcb_launch_request, deadline_ms));
    cr_assert_not(FCB_HAS_MEMBER(&req, fcb_launch_request, credentials),
                  "a 1.0 writer's request has no credentials");
    req.size = sizeof req;
    cr_assert(FCB_HAS_MEMBER(&req, fcb_launch_request, cancel));
    const fcb_launch_request *none = NULL;
    cr_assert_not(FCB_HAS_MEMBER(none, fcb_launch_request, size));
}
