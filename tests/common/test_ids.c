/* Unit tests of plugin/common/ids.c: random hex ids, and no weak fallback. */
#include "ids.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>

/* Replaces the weak ids_getrandom: simulate a kernel without getrandom when asked. */
static int fail_with;
ssize_t ids_getrandom(void *buf, size_t len, unsigned flags);
ssize_t ids_getrandom(void *buf, size_t len, unsigned flags)
{
    if (fail_with != 0) {
        errno = fail_with;
        return -1;
    }
    return getrandom(buf, len, flags);
}

Test(ids, writes_lower_case_hex_of_twice_the_bytes)
{
    char out[IDS_HEX_MAX];
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(ids_random_hex(out, 8, "the instance id", &err), FCB_OK, "%s", err.message);
    cr_assert_eq(strlen(out), 16);
    cr_assert_eq(strspn(out, "0123456789abcdef"), 16, "%s", out);
}

Test(ids, two_ids_differ)
{
    char a[IDS_HEX_MAX], b[IDS_HEX_MAX];
    cr_assert_eq(ids_random_hex(a, 16, "a", NULL), FCB_OK);
    cr_assert_eq(ids_random_hex(b, 16, "b", NULL), FCB_OK);
    cr_assert_str_neq(a, b);
}

Test(ids, fails_clearly_without_randomness_instead_of_falling_back)
{
    char out[IDS_HEX_MAX] = "unchanged";
    fcb_error err = FCB_ERROR_INIT;
    fail_with = ENOSYS;
    int rc = ids_random_hex(out, 8, "the instance id", &err);
    fail_with = 0;
    cr_assert_eq(rc, FCB_ERR_INTERNAL);
    cr_assert_str_eq(out, "", "no id at all rather than a guessable one");
    cr_assert(strstr(err.message, "no randomness for the instance id") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, strerror(ENOSYS)) != NULL, "%s", err.message);
}

Test(ids, refuses_sizes_it_cannot_produce)
{
    char out[IDS_HEX_MAX];
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(ids_random_hex(out, 0, "x", &err), FCB_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ids_random_hex(out, IDS_BYTES_MAX + 1, "x", &err), FCB_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ids_random_hex(out, IDS_BYTES_MAX, "x", &err), FCB_OK);
}
