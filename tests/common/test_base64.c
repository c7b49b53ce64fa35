/* Unit tests of plugin/common/base64.c (both alphabets, strict decoding). */
#include "base64.h"
#include "mock_fixture.h"
#include "svc.h"

#include <string.h>

MOCK_HOST_SUITE(base64);

Test(base64, encodes_rfc4648_vectors_with_padding)
{
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const out[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        char *s = base64_encode(host, in[i], strlen(in[i]));
        cr_assert_str_eq(s, out[i]);
        svc_free(host, s);
    }
}

Test(base64, url_alphabet_uses_dash_and_underscore)
{
    const unsigned char raw[] = {0xfb, 0xff, 0xbf};
    char *std = base64_encode(host, raw, sizeof raw);
    char *url = base64_encode_url(host, raw, sizeof raw);
    cr_assert_str_eq(std, "+/+/");
    cr_assert_str_eq(url, "-_-_");
    svc_free(host, std);
    svc_free(host, url);
}

Test(base64, decode_round_trips_and_ignores_whitespace)
{
    char *out = NULL;
    size_t len = 0;
    cr_assert_eq(base64_decode(host, "Zm9v\nYmFy", &out, &len), FCB_OK);
    cr_assert_eq(len, 6);
    cr_assert_str_eq(out, "foobar");
    svc_free(host, out);
    cr_assert_eq(base64_decode(host, "Zg", &out, &len), FCB_OK, "padding is optional");
    cr_assert_str_eq(out, "f");
    svc_free(host, out);
}

Test(base64, decode_refuses_bad_characters_and_lengths)
{
    char *out = NULL;
    size_t len = 0;
    cr_assert_eq(base64_decode(host, "Zm9v!", &out, &len), FCB_ERR_INVALID_ARGUMENT);
    cr_assert_eq(base64_decode(host, "Z", &out, &len), FCB_ERR_INVALID_ARGUMENT);
    cr_assert_eq(base64_decode(host, "Zg==Zg==", &out, &len), FCB_ERR_INVALID_ARGUMENT);
    cr_assert_eq(base64_decode(host, "Zg===", &out, &len), FCB_ERR_INVALID_ARGUMENT);
}

Test(base64, reports_allocation_failures)
{
    mock_host_fail_alloc(mh, 1);
    cr_assert_null(base64_encode(host, "x", 1));
    mock_host_fail_alloc(mh, 1);
    char *out = NULL;
    size_t len = 0;
    cr_assert_eq(base64_decode(host, "Zg==", &out, &len), FCB_ERR_NO_MEMORY);
    mock_host_fail_alloc(mh, 0);
}

/* Moved from tests/docker/test_dock_spec.c with dock_spec_base64url (now base64_encode_url). */
Test(base64, registry_auth_is_base64url)
{
    char *s = base64_encode_url(host, "{\"username\":\"u?\"}", 17);
    cr_expect_str_eq(s, "eyJ1c2VybmFtZSI6InU_In0=");
    svc_free(host, s);
}
