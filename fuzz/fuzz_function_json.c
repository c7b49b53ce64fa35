/*
 * fuzz_function_json: property test of sample-host/function_json.c.
 *
 * Input: a function description. Properties:
 *   - success: *out is set, out->fn.size is sizeof(fcb_function), every
 *     pointer of out->fn points at the description's own storage (names,
 *     environment entries non-NULL), the account is 12 digits, and
 *     function_desc_check either accepts it or names a field;
 *   - failure: -1, *out NULL, `why` non-empty, NUL-terminated and one line
 *     (no control characters: the host prints it after the file name).
 */
#include "fuzz_common.h"
#include "fuzz_targets.h"

#include <function_json.h>

#include <string.h>

static void require_one_line(const char *why, size_t cap)
{
    FUZZ_REQUIRE(memchr(why, '\0', cap) != NULL, "why not terminated");
    FUZZ_REQUIRE(why[0] != '\0', "empty why");
    for (const char *p = why; *p != '\0'; p++)
        FUZZ_REQUIRE((unsigned char)*p >= 0x20 && *p != 0x7f,
                     "control character 0x%02x in why \"%s\"", (unsigned char)*p, why);
}

int fuzz_function_json(const uint8_t *data, size_t size)
{
    function_desc *desc = (function_desc *)0x1;
    char why[FUNCTION_JSON_WHY_MAX];
    memset(why, 'x', sizeof why);
    int rc = function_json_parse((const char *)data, size, &desc, why, sizeof why);
    if (rc != 0) {
        FUZZ_REQUIRE(rc == -1, "rc %d", rc);
        FUZZ_REQUIRE(desc == NULL, "*out set on failure");
        require_one_line(why, sizeof why);
        return 0;
    }
    FUZZ_REQUIRE(desc != NULL, "success without a description");
    const fcb_function *fn = &desc->fn;
    FUZZ_REQUIRE(fn->size == sizeof *fn, "fn.size %u", fn->size);
    FUZZ_REQUIRE(fn->function_name == desc->function_name, "function_name not owned");
    FUZZ_REQUIRE(fn->n_environment == desc->n_environment, "n_environment differs");
    for (size_t i = 0; i < fn->n_environment; i++)
        FUZZ_REQUIRE(fn->environment[i].name != NULL && fn->environment[i].value != NULL,
                     "environment[%zu] has NULL", i);
    for (size_t i = 0; i < fn->n_image_command; i++)
        FUZZ_REQUIRE(fn->image_command[i] != NULL, "image_command[%zu] NULL", i);
    for (size_t i = 0; i < fn->n_image_entry_point; i++)
        FUZZ_REQUIRE(fn->image_entry_point[i] != NULL, "image_entry_point[%zu] NULL", i);
    FUZZ_REQUIRE(strlen(desc->account) == 12, "account \"%s\"", desc->account);
    for (size_t i = 0; i < 12; i++)
        FUZZ_REQUIRE(desc->account[i] >= '0' && desc->account[i] <= '9', "account \"%s\"",
                     desc->account);
    memset(why, 'x', sizeof why);
    if (function_desc_check(desc, why, sizeof why) != 0)
        require_one_line(why, sizeof why);
    function_desc_free(desc);
    return 0;
}
