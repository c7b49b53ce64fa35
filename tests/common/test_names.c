/* Unit tests of plugin/common/names.c: sanitisers and validators. */
#include "names.h"

#include <criterion/criterion.h>
#include <string.h>

Test(names_label_value, lowercases_and_maps_everything_else_to_dashes_like_the_reference)
{
    char out[64];
    cr_assert_eq(names_label_value("My_Fn.Test", 63, out), 10);
    cr_assert_str_eq(out, "my-fn-test");
    /* The reference's own examples (fakecloud_k8s::names::label_safe). */
    names_label_value("My_Awesome.Fn", 63, out);
    cr_assert_str_eq(out, "my-awesome-fn");
    names_label_value("foo___", 63, out);
    cr_assert_str_eq(out, "foo");
    names_label_value("_foo", 63, out);
    cr_assert_str_eq(out, "foo");
    names_label_value(".9lives-", 63, out);
    cr_assert_str_eq(out, "9lives");
}

Test(names_label_value, keeps_a_lowercase_dns_label_unchanged)
{
    char out[64];
    cr_assert_eq(names_label_value("my-fn-1", 63, out), 7);
    cr_assert_str_eq(out, "my-fn-1");
}

Test(names_label_value, maps_each_character_to_one_dash_without_collapsing)
{
    char out[64];
    /* Like the reference: one '-' per character (a UTF-8 'é' is one), runs kept. */
    names_label_value("a b/c:d\xc3\xa9"
                      "e",
                      63, out);
    cr_assert_str_eq(out, "a-b-c-d-e");
    names_label_value("A__B", 63, out);
    cr_assert_str_eq(out, "a--b");
    names_label_value("\xf0\x9f\x98\x80x\xe5\x90\x8d", 63, out);
    cr_assert_str_eq(out, "x");
}

Test(names_label_value, trims_dashes_at_both_ends)
{
    char out[64];
    names_label_value("--._x.y_-.", 63, out);
    cr_assert_str_eq(out, "x-y");
}

Test(names_label_value, cuts_to_max_len_then_trims)
{
    char out[64];
    names_label_value("abcd-efgh", 5, out);
    cr_assert_str_eq(out, "abcd");
    names_label_value("ABCD_EFGH", 5, out);
    cr_assert_str_eq(out, "abcd");
}

Test(names_label_value, clamps_max_len_to_63)
{
    char in[200];
    char out[64];
    memset(in, 'a', sizeof in - 1);
    in[sizeof in - 1] = '\0';
    cr_assert_eq(names_label_value(in, 1000, out), 63);
    cr_assert(names_is_label_value(out));
}

Test(names_label_value, may_be_empty_for_null_or_symbol_only_input)
{
    char out[64];
    cr_assert_eq(names_label_value(NULL, 63, out), 0);
    cr_assert_str_eq(out, "");
    cr_assert_eq(names_label_value("---", 63, out), 0);
    cr_assert_str_eq(out, "");
}

Test(names_dns_label, lowercases_and_collapses_dashes)
{
    char out[64];
    names_dns_label("My__Fn..Name", 63, out);
    cr_assert_str_eq(out, "my-fn-name");
}

Test(names_dns_label, trims_dashes_and_never_returns_empty)
{
    char out[64];
    names_dns_label("--a--", 63, out);
    cr_assert_str_eq(out, "a");
    cr_assert_eq(names_dns_label("___", 63, out), 1);
    cr_assert_str_eq(out, "x");
    cr_assert_eq(names_dns_label(NULL, 63, out), 1);
    cr_assert_str_eq(out, "x");
    cr_assert_eq(names_dns_label("", 0, out), 1);
}

Test(names_dns_label, cuts_then_trims_a_trailing_dash)
{
    char out[64];
    names_dns_label("abcd_efgh", 5, out);
    cr_assert_str_eq(out, "abcd");
}

Test(names_dns_label, every_output_of_hostile_inputs_is_valid)
{
    const char *inputs[] = {"",      "-",           ".",     "A", "\xff\xfe", "a\nb", "$(rm -rf /)",
                            "x y z", "---a---b---", "UPPER", "0", "a.b.c",    "a-"};
    char out[64];
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        for (size_t max = 0; max <= 70; max += 7) {
            names_dns_label(inputs[i], max, out);
            cr_assert(names_is_dns_label(out), "input %zu max %zu -> '%s'", i, max, out);
            names_label_value(inputs[i], max, out);
            cr_assert(names_is_label_value(out), "input %zu max %zu -> '%s'", i, max, out);
            cr_assert(out[0] == '\0' || names_is_dns_label(out), "input %zu max %zu -> '%s'", i,
                      max, out);
        }
    }
}

Test(names_is_dns_label, accepts_and_rejects_per_rfc_1123)
{
    cr_assert(names_is_dns_label("a"));
    cr_assert(names_is_dns_label("a-0"));
    cr_assert_not(names_is_dns_label(""));
    cr_assert_not(names_is_dns_label(NULL));
    cr_assert_not(names_is_dns_label("-a"));
    cr_assert_not(names_is_dns_label("a-"));
    cr_assert_not(names_is_dns_label("A"));
    cr_assert_not(names_is_dns_label("a.b"));
    char long_name[65];
    memset(long_name, 'a', 64);
    long_name[64] = '\0';
    cr_assert_not(names_is_dns_label(long_name));
    long_name[63] = '\0';
    cr_assert(names_is_dns_label(long_name));
}

Test(names_is_label_value, accepts_empty_and_rejects_bad_ends)
{
    cr_assert(names_is_label_value(""));
    cr_assert(names_is_label_value("A.b_c-D"));
    cr_assert_not(names_is_label_value("_a"));
    cr_assert_not(names_is_label_value("a."));
    cr_assert_not(names_is_label_value("a b"));
    cr_assert_not(names_is_label_value(NULL));
}

Test(names_is_env_name, follows_the_kubernetes_rule)
{
    cr_assert(names_is_env_name("AWS_REGION"));
    cr_assert(names_is_env_name("_x"));
    cr_assert(names_is_env_name("my.var-1"));
    cr_assert_not(names_is_env_name("1ABC"));
    cr_assert_not(names_is_env_name(""));
    cr_assert_not(names_is_env_name("A=B"));
    cr_assert_not(names_is_env_name("A B"));
    cr_assert_not(names_is_env_name(NULL));
}

Test(names_account_from_arn, takes_the_fifth_field)
{
    char out[13];
    cr_assert_str_eq(
        names_account_from_arn("arn:aws:lambda:us-east-1:123456789012:function:f", out, sizeof out),
        "123456789012");
    cr_assert_str_eq(names_account_from_arn("arn:aws:lambda:eu-west-1:210987654321:function:f:PROD",
                                            out, sizeof out),
                     "210987654321");
}

Test(names_account_from_arn, falls_back_for_malformed_arns)
{
    char out[13];
    cr_assert_str_eq(names_account_from_arn("not-an-arn", out, sizeof out), "000000000000");
    cr_assert_str_eq(names_account_from_arn(NULL, out, sizeof out), "000000000000");
    cr_assert_str_eq(names_account_from_arn("arn:aws:lambda:r:12345:function:f", out, sizeof out),
                     "000000000000");
    cr_assert_str_eq(
        names_account_from_arn("arn:aws:lambda:r:12345678901x:function:f", out, sizeof out),
        "000000000000");
    cr_assert_str_eq(names_account_from_arn("arn:aws:lambda:r:123456789012", out, sizeof out),
                     "123456789012");
}
