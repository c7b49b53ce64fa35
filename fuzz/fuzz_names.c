/*
 * fuzz_names: property test of plugin/common/names.c.
 *
 * Input: byte 0 picks max_len (0..71), the rest is the name (cut at the
 * first NUL, as a C string would be). Properties:
 *   - names_dns_label output matches [a-z0-9]([-a-z0-9]*[a-z0-9])?, is at
 *     most min(max_len, 63) bytes (1 when max_len is 0), equals its return
 *     value, fits the max_len + 1 byte buffer the header asks for, and is a
 *     fixed point (sanitising it again changes nothing);
 *   - names_label_value output is a valid label value of at most
 *     min(max_len, 63) bytes, empty or a DNS-1123 label (lower case), and a
 *     fixed point;
 *   - names_is_dns_label / names_is_label_value / names_is_env_name agree
 *     with independent regex-equivalent oracles on the raw input;
 *   - names_account_from_arn always yields exactly 12 digits.
 */
#include "fuzz_common.h"
#include "fuzz_targets.h"

#include <names.h>

#include <stdbool.h>
#include <string.h>

static bool oracle_lower_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool oracle_alnum(unsigned char c)
{
    return oracle_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? and at most 63 bytes */
static bool oracle_dns_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool edge = i == 0 || i == n - 1;
        if (!(oracle_lower_alnum(c) || (!edge && c == '-')))
            return false;
    }
    return true;
}

/* (([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])? and at most 63 bytes */
static bool oracle_label_value(const char *s)
{
    size_t n = strlen(s);
    if (n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool edge = i == 0 || i == n - 1;
        if (!(oracle_alnum(c) || (!edge && (c == '-' || c == '_' || c == '.'))))
            return false;
    }
    return true;
}

/* [-._a-zA-Z][-._a-zA-Z0-9]* */
static bool oracle_env_name(const char *s)
{
    if (s[0] == '\0')
        return false;
    for (size_t i = 0; s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '.' ||
                  c == '_' || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static void check_dns(const char *in, size_t max_len)
{
    size_t limit = max_len > 63 ? 63 : max_len;
    size_t cap = (limit == 0 ? 1 : limit) + 1; /* what a careful caller allocates */
    char *out = malloc(cap > max_len + 1 ? cap : max_len + 1);
    if (out == NULL)
        abort();
    size_t n = names_dns_label(in, max_len, out);
    FUZZ_REQUIRE(n == strlen(out), "return %zu but strlen %zu", n, strlen(out));
    FUZZ_REQUIRE(n >= 1 && n <= (limit == 0 ? 1 : limit), "length %zu for max_len %zu", n, max_len);
    FUZZ_REQUIRE(oracle_dns_label(out), "invalid DNS label \"%s\"", out);
    FUZZ_REQUIRE(names_is_dns_label(out), "names_is_dns_label rejects its own \"%s\"", out);
    char again[64];
    names_dns_label(out, 63, again);
    FUZZ_REQUIRE(strcmp(again, out) == 0, "not a fixed point: \"%s\" -> \"%s\"", out, again);
    free(out);
}

static void check_label(const char *in, size_t max_len)
{
    size_t limit = max_len > 63 ? 63 : max_len;
    char *out = malloc(limit + 1);
    if (out == NULL)
        abort();
    size_t n = names_label_value(in, max_len > 63 ? 63 : max_len, out);
    FUZZ_REQUIRE(n == strlen(out), "return %zu but strlen %zu", n, strlen(out));
    FUZZ_REQUIRE(n <= limit, "length %zu for max_len %zu", n, max_len);
    FUZZ_REQUIRE(oracle_label_value(out), "invalid label value \"%s\"", out);
    FUZZ_REQUIRE(n == 0 || oracle_dns_label(out), "label value \"%s\" is not lower-case", out);
    FUZZ_REQUIRE(names_is_label_value(out), "names_is_label_value rejects its own \"%s\"", out);
    char again[64];
    names_label_value(out, 63, again);
    FUZZ_REQUIRE(strcmp(again, out) == 0, "not a fixed point: \"%s\" -> \"%s\"", out, again);
    free(out);
}

int fuzz_names(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t max_len = data[0] % 72;
    char *in = fuzz_strndup(data + 1, size - 1);

    check_dns(in, max_len);
    check_label(in, max_len);

    FUZZ_REQUIRE(names_is_dns_label(in) == oracle_dns_label(in), "names_is_dns_label disagrees");
    FUZZ_REQUIRE(names_is_label_value(in) == oracle_label_value(in),
                 "names_is_label_value disagrees");
    FUZZ_REQUIRE(names_is_env_name(in) == oracle_env_name(in), "names_is_env_name disagrees");

    char account[13];
    const char *acct = names_account_from_arn(in, account, sizeof account);
    FUZZ_REQUIRE(acct == account && strlen(account) == 12, "account \"%s\"", account);
    for (size_t i = 0; i < 12; i++)
        FUZZ_REQUIRE(account[i] >= '0' && account[i] <= '9', "account \"%s\"", account);

    free(in);
    return 0;
}
