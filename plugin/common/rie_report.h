/*
 * rie_report: parse the REPORT line the Lambda runtime interface emulator
 * (and Lambda itself) writes after each invocation, for metrics:
 *
 *   REPORT RequestId: <id>\t[Init Duration: 5.00 ms\t]Duration: 1.23 ms\t
 *   Billed Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\t
 *
 * The RIE puts Init Duration first (first invocation only) and ends with a
 * tab; Lambda puts it last. Fields are therefore taken in any order, unknown
 * ones (Restore Duration, Runtime Duration, ...) skipped. Numbers are parsed
 * without the C locale. Pure: no allocation, no I/O, thread-safe.
 */
#ifndef FCB_PLUGIN_RIE_REPORT_H
#define FCB_PLUGIN_RIE_REPORT_H

#include <fakecloud/backend_plugin.h>

#include <stdbool.h>
#include <stddef.h>

#define RIE_REPORT_ID_MAX 80 /* request ids are UUIDs (36); longer ids are refused */

typedef struct rie_report {
    char request_id[RIE_REPORT_ID_MAX];
    double duration_ms; /* always present after FCB_OK */
    double billed_ms;
    double init_ms;
    unsigned memory_mb;
    unsigned max_memory_mb;
    bool has_duration, has_billed, has_init, has_memory, has_max_memory;
} rie_report;

/*
 * Parse one log line (len bytes, need not be NUL-terminated; a trailing "\n"
 * or "\r\n" is allowed). Returns FCB_OK with *out filled; FCB_ERR_NOT_FOUND
 * when the line is not a REPORT line (callers scan every line); or
 * FCB_ERR_INVALID_ARGUMENT with a message naming the field when it is one but
 * a field is malformed or Duration is missing. *out is zeroed first.
 */
int rie_report_parse(const char *line, size_t len, rie_report *out, fcb_error *err);

#endif
