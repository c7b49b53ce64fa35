/* Unit tests of plugin/common/rie_report: the REPORT line of the RIE and of Lambda. */
#include "rie_report.h"

#include <criterion/criterion.h>
#include <string.h>

static int parse(const char *line, rie_report *r, fcb_error *err)
{
    return rie_report_parse(line, strlen(line), r, err);
}

#define ID "0a1b2c3d-1111-2222-3333-444455556666"

Test(rie_report, parses_the_rie_line_with_init_duration_first)
{
    rie_report r;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(parse("REPORT RequestId: " ID "\tInit Duration: 5.00 ms\tDuration: 1.23 ms\t"
                       "Billed Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\t\n",
                       &r, &err),
                 FCB_OK, "%s", err.message);
    cr_assert_str_eq(r.request_id, ID);
    cr_assert_float_eq(r.duration_ms, 1.23, 1e-9);
    cr_assert(r.has_billed && r.has_init && r.has_memory && r.has_max_memory);
    cr_assert_float_eq(r.billed_ms, 2, 1e-9);
    cr_assert_float_eq(r.init_ms, 5.0, 1e-9);
    cr_assert_eq(r.memory_mb, 128);
    cr_assert_eq(r.max_memory_mb, 20);
}

Test(rie_report, parses_lambdas_order_and_optional_fields)
{
    static const struct {
        const char *line;
        double duration, billed, init;
        bool has_init, has_billed;
        unsigned mem;
    } cases[] = {
        {"REPORT RequestId: r1\tDuration: 70.05 ms\tBilled Duration: 71 ms\tMemory Size: 512 MB"
         "\tMax Memory Used: 80 MB\tInit Duration: 163.41 ms",
         70.05, 71, 163.41, true, true, 512},
        {"REPORT RequestId: r2\tDuration: 3 ms", 3, 0, 0, false, false, 0},
        {"REPORT RequestId: r3\tDuration: 0.5 ms\tRuntime Duration: 0.2 ms\tBilled Duration: 1 "
         "ms\tRestore Duration: 9.1 ms\tMemory Size: 1024 MB\r\n",
         0.5, 1, 0, false, true, 1024},
        {"REPORT RequestId: r4 \t Duration: 12.00 ms \t", 12, 0, 0, false, false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rie_report r;
        fcb_error err = FCB_ERROR_INIT;
        cr_assert_eq(parse(cases[i].line, &r, &err), FCB_OK, "%zu: %s", i, err.message);
        cr_assert_float_eq(r.duration_ms, cases[i].duration, 1e-9, "%zu", i);
        cr_assert_float_eq(r.billed_ms, cases[i].billed, 1e-9, "%zu", i);
        cr_assert_float_eq(r.init_ms, cases[i].init, 1e-9, "%zu", i);
        cr_assert_eq(r.has_init, cases[i].has_init, "%zu", i);
        cr_assert_eq(r.has_billed, cases[i].has_billed, "%zu", i);
        cr_assert_eq(r.memory_mb, cases[i].mem, "%zu", i);
    }
}

Test(rie_report, other_lines_are_not_found)
{
    static const char *const lines[] = {"START RequestId: x Version: $LATEST", "END RequestId: x",
                                        "REPORT", "report RequestId: x\tDuration: 1 ms", ""};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        rie_report r;
        fcb_error err = FCB_ERROR_INIT;
        cr_assert_eq(parse(lines[i], &r, &err), FCB_ERR_NOT_FOUND, "%s", lines[i]);
    }
    rie_report r;
    cr_assert_eq(rie_report_parse(NULL, 0, &r, NULL), FCB_ERR_NOT_FOUND);
}

Test(rie_report, malformed_fields_are_named)
{
    static const struct {
        const char *line, *message;
    } cases[] = {
        {"REPORT RequestId: x\tBilled Duration: 2 ms",
         "REPORT line: field \"Duration\" is missing"},
        {"REPORT RequestId: x\tDuration: 1,5 ms",
         "REPORT line: field \"Duration\" has a malformed number \"1,5\""},
        {"REPORT RequestId: x\tDuration: 1.5 s",
         "REPORT line: field \"Duration\" is not \"<number> ms\""},
        {"REPORT RequestId: x\tDuration: 1. ms",
         "REPORT line: field \"Duration\" has a malformed number \"1.\""},
        {"REPORT RequestId: x\tDuration: -1 ms",
         "REPORT line: field \"Duration\" has a malformed number \"-1\""},
        {"REPORT RequestId: x\tDuration: 1e400 ms",
         "REPORT line: field \"Duration\" has a malformed number \"1e400\""},
        {"REPORT RequestId: x\tDuration: 1 ms\tMemory Size: 128 ms",
         "REPORT line: field \"Memory Size\" is not \"<number> MB\""},
        {"REPORT RequestId: x\tDuration: 99999999999999 ms",
         "REPORT line: field \"Duration\" has a malformed number \"99999999999999\""},
        {"REPORT RequestId: \tDuration: 1 ms",
         "REPORT line: field \"RequestId\" is empty or longer than 79 bytes"},
        {"REPORT RequestId: a\x01\tDuration: 1 ms",
         "REPORT line: field \"RequestId\" has a non-printable byte"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rie_report r;
        fcb_error err = FCB_ERROR_INIT;
        cr_assert_eq(parse(cases[i].line, &r, &err), FCB_ERR_INVALID_ARGUMENT, "%zu", i);
        cr_assert_str_eq(err.message, cases[i].message, "%zu", i);
        cr_assert_eq(r.request_id[0], '\0', "nothing half-filled");
    }
}

Test(rie_report, reads_only_the_given_length)
{
    const char text[] = "REPORT RequestId: x\tDuration: 1.5 ms\tDuration: 9 ms";
    rie_report r;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(rie_report_parse(text, strlen("REPORT RequestId: x\tDuration: 1.5 ms"), &r, &err),
                 FCB_OK, "%s", err.message);
    cr_assert_float_eq(r.duration_ms, 1.5, 1e-9);
}
