/* Unit tests of plugin/common/abi_struct.c: one size rule for every ABI struct. */
#include "abi_struct.h"

#include <criterion/criterion.h>
#include <string.h>

Test(abi_struct, has_field_needs_the_whole_field_below_size)
{
    fcb_function fn = {.size = (uint32_t)offsetof(fcb_function, runtime)};
    cr_assert(FCB_HAS_FIELD(&fn, function_arn));
    cr_assert_not(FCB_HAS_FIELD(&fn, runtime));
    fn.size = (uint32_t)(offsetof(fcb_function, runtime) + sizeof fn.runtime - 1);
    cr_assert_not(FCB_HAS_FIELD(&fn, runtime), "a partly covered field is absent");
    fn.size = sizeof fn;
    cr_assert(FCB_HAS_FIELD(&fn, image_working_directory));
    fcb_open_params p = {.size = sizeof p.size};
    cr_assert_not(FCB_HAS_FIELD(&p, internal_token));
}

Test(abi_struct, read_copies_what_the_caller_declared_and_zeroes_the_rest)
{
    /* An older writer: the struct ends before deadline_ms; bytes after are garbage. */
    struct {
        fcb_launch_request req;
        char garbage[64];
    } src;
    memset(&src, 0xab, sizeof src);
    src.req.size = (uint32_t)FCB_FIELD_END(fcb_launch_request, deploy_id);
    src.req.deploy_id = "d1";
    fcb_launch_request req;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(ABI_STRUCT_READ(&req, &src.req, deploy_id, "launch: request", &err), FCB_OK);
    cr_assert_str_eq(req.deploy_id, "d1");
    cr_assert_eq(req.deadline_ms, 0, "a field beyond size reads as zero");
}

Test(abi_struct, read_refuses_a_struct_short_of_its_required_fields)
{
    fcb_launch_request src = {.size = (uint32_t)offsetof(fcb_launch_request, deploy_id)};
    fcb_launch_request req;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(ABI_STRUCT_READ(&req, &src, deploy_id, "launch: request", &err),
                 FCB_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "launch: request.size") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "too small") != NULL, "%s", err.message);
    cr_assert_eq(
        ABI_STRUCT_READ(&req, (fcb_launch_request *)NULL, deploy_id, "launch: request", &err),
        FCB_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "launch: request is required") != NULL, "%s", err.message);
}

Test(abi_struct, read_of_a_newer_writer_copies_only_what_the_reader_knows)
{
    struct {
        fcb_open_params p;
        uint64_t appended;
    } src = {.p = {.size = sizeof src, .internal_token = "t"}, .appended = 7};
    fcb_open_params p;
    cr_assert_eq(ABI_STRUCT_READ(&p, &src.p, size, "open: params", NULL), FCB_OK);
    cr_assert_str_eq(p.internal_token, "t");
}

Test(abi_struct, output_structs_must_reach_the_fields_written)
{
    fcb_instance out = {.size = (uint32_t)offsetof(fcb_instance, handle)};
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(ABI_STRUCT_CHECK_OUT(&out, handle, "launch: out", &err), FCB_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "launch: out.size") != NULL, "%s", err.message);
    out.size = sizeof out;
    cr_assert_eq(ABI_STRUCT_CHECK_OUT(&out, handle, "launch: out", &err), FCB_OK);
    cr_assert_eq(ABI_STRUCT_CHECK_OUT((fcb_instance *)NULL, handle, "launch: out", &err),
                 FCB_ERR_INVALID_ARGUMENT);
}
