/*
 * names: names and labels that orchestrators accept.
 *
 * Pure functions, no allocation, thread-safe. Every output is valid whatever
 * the input (property-tested by the fuzzers): a Kubernetes DNS-1123 label
 * ([a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 bytes) or a label value
 * (names_label_value: the same alphabet, may be empty).
 */
#ifndef FCB_NAMES_H
#define FCB_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define NAMES_LABEL_MAX 63

/*
 * Label value of `in`, like the reference's label_safe (both backends'
 * fakecloud-lambda and fakecloud-deploy-id labels): ASCII lower-cased, every
 * other character (a UTF-8 sequence counts as one) becomes '-', runs kept
 * ("My_Fn.Test" -> "my-fn-test", "A__B" -> "a--b"), cut to `max_len` (<= 63)
 * bytes, '-' trimmed at both ends. The result is empty or a DNS-1123 label,
 * so it is also a valid label value. out must hold max_len + 1 bytes.
 * Returns the length written (may be 0).
 */
size_t names_label_value(const char *in, size_t max_len, char *out);

/*
 * DNS-1123-label-safe form of `in`: lower-cased, characters outside
 * [a-z0-9-] become '-', runs of '-' collapsed, cut to `max_len` (<= 63),
 * '-' trimmed at both ends; an empty result becomes "x". out must hold
 * max_len + 1 bytes. Returns the length written (>= 1).
 */
size_t names_dns_label(const char *in, size_t max_len, char *out);

bool names_is_dns_label(const char *s);
bool names_is_label_value(const char *s);
/* Environment variable name Kubernetes and Docker accept: [-._a-zA-Z][-._a-zA-Z0-9]* */
bool names_is_env_name(const char *s);

/*
 * Account id of a Lambda ARN "arn:aws:lambda:<region>:<account>:function:<name>[:q]"
 * (5th ':' field), copied into out (at least 13 bytes) when it is 12 digits;
 * otherwise "000000000000". Returns out.
 */
const char *names_account_from_arn(const char *arn, char *out, size_t out_size);

#endif
