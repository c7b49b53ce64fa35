/* host_services: environment snapshot, defaults, logger formats, allocator. */
#include "host_services.h"

#include <criterion/criterion.h>
#include <json-c/json.h>

#include <stdlib.h>
#include <string.h>

static host_services *make(char *const *env, FILE *log)
{
    host_services *hs = NULL;
    char why[256] = "";
    cr_assert_eq(host_services_new(env, log, &hs, why, sizeof why), 0, "%s", why);
    return hs;
}

Test(host_services, config_reads_a_snapshot_of_the_environment)
{
    char a[] = "FCB_TEST_KEY=one", b[] = "OTHER=x=y", c[] = "FCB_TEST_KEY=second";
    char *env[] = {a, b, c, NULL};
    host_services *hs = make(env, NULL);
    const fcb_host_services *t = host_services_table(hs);
    const char *v = t->config_get(t->config_ctx, "FCB_TEST_KEY");
    cr_expect_str_eq(v, "one", "the first of duplicate keys wins, as getenv");
    a[13] = 'X'; /* changing the source changes nothing */
    cr_expect_str_eq(t->config_get(t->config_ctx, "FCB_TEST_KEY"), "one");
    cr_expect_str_eq(t->config_get(t->config_ctx, "OTHER"), "x=y");
    cr_expect_null(t->config_get(t->config_ctx, "MISSING"));
    host_services_free(hs);
}

Test(host_services, defaults_answer_only_keys_the_environment_lacks)
{
    char a[] = "FAKECLOUD_K8S_SELF_URL=http://user:1";
    char *env[] = {a, NULL};
    host_services *hs = make(env, NULL);
    cr_assert_eq(host_services_set_default(hs, "FAKECLOUD_K8S_SELF_URL", "http://x:2"), 0);
    cr_assert_eq(host_services_set_default(hs, "OTHER_DEFAULT", "d"), 0);
    const fcb_host_services *t = host_services_table(hs);
    cr_expect_str_eq(t->config_get(t->config_ctx, "FAKECLOUD_K8S_SELF_URL"), "http://user:1");
    cr_expect_str_eq(t->config_get(t->config_ctx, "OTHER_DEFAULT"), "d");
    host_services_free(hs);
}

Test(host_services, rejects_an_unknown_log_level_or_format_naming_the_variable)
{
    char a[] = "FAKECLOUD_LOG_LEVEL=loud";
    char *env[] = {a, NULL};
    host_services *hs = NULL;
    char why[256];
    cr_expect_eq(host_services_new(env, NULL, &hs, why, sizeof why), -1);
    cr_expect_null(hs);
    cr_expect(strstr(why, "FAKECLOUD_LOG_LEVEL: unknown level \"loud\"") != NULL, "%s", why);
    char b[] = "FAKECLOUD_LOG_FORMAT=xml";
    char *env2[] = {b, NULL};
    cr_expect_eq(host_services_new(env2, NULL, &hs, why, sizeof why), -1);
    cr_expect(strstr(why, "FAKECLOUD_LOG_FORMAT") != NULL, "%s", why);
}

static char *log_with(char *const *env, fcb_log_level level, const char *message,
                      const fcb_log_field *fields, size_t n)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    host_services *hs = make(env, f);
    const fcb_host_services *t = host_services_table(hs);
    t->log(t->log_ctx, level, "k8s", message, fields, n);
    host_services_free(hs);
    fclose(f);
    return text;
}

Test(host_services, text_log_escapes_control_characters_and_quotes_values)
{
    char *env[] = {NULL};
    fcb_log_field fields[] = {{"pod", "a b"}, {"evil", "x\ny\033"}, {"plain", "v"}};
    char *text = log_with(env, FCB_LOG_WARN, "line1\nline2", fields, 3);
    cr_expect(strstr(text, " warn  k8s: line1\\nline2 pod=\"a b\" evil=\"x\\ny\\x1b\" plain=v\n") !=
                  NULL,
              "%s", text);
    cr_expect_eq(strchr(text, '\n'), text + strlen(text) - 1, "one line: %s", text);
    free(text);
}

Test(host_services, json_log_lines_parse_and_carry_every_field)
{
    char a[] = "FAKECLOUD_LOG_FORMAT=json";
    char *env[] = {a, NULL};
    fcb_log_field fields[] = {{"pod", "p\"1\n"}, {"ns", "default"}};
    char *text = log_with(env, FCB_LOG_ERROR, "boom\t!", fields, 2);
    json_object *o = json_tokener_parse(text);
    cr_assert_not_null(o, "not JSON: %s", text);
    json_object *v;
    cr_expect(json_object_object_get_ex(o, "ts", &v));
    cr_expect(json_object_object_get_ex(o, "level", &v));
    cr_expect_str_eq(json_object_get_string(v), "error");
    cr_expect(json_object_object_get_ex(o, "plugin", &v));
    cr_expect_str_eq(json_object_get_string(v), "k8s");
    cr_expect(json_object_object_get_ex(o, "msg", &v));
    cr_expect_str_eq(json_object_get_string(v), "boom\t!");
    cr_assert(json_object_object_get_ex(o, "fields", &v));
    json_object *pod;
    cr_assert(json_object_object_get_ex(v, "pod", &pod));
    cr_expect_str_eq(json_object_get_string(pod), "p\"1\n");
    json_object_put(o);
    free(text);
}

Test(host_services, level_filter_drops_lower_levels)
{
    char a[] = "FAKECLOUD_LOG_LEVEL=error";
    char *env[] = {a, NULL};
    char *text = log_with(env, FCB_LOG_INFO, "hidden", NULL, 0);
    cr_expect_str_eq(text, "");
    free(text);
    host_services *hs = make(env, NULL);
    const fcb_host_services *t = host_services_table(hs);
    cr_expect_eq(t->log_enabled(t->log_ctx, FCB_LOG_WARN), 0);
    cr_expect_neq(t->log_enabled(t->log_ctx, FCB_LOG_ERROR), 0);
    host_services_set_min_level(hs, FCB_LOG_DEBUG);
    cr_expect_neq(t->log_enabled(t->log_ctx, FCB_LOG_DEBUG), 0);
    host_services_free(hs);
}

Test(host_services, allocator_counts_outstanding_bytes_and_blocks)
{
    char *env[] = {NULL};
    host_services *hs = make(env, NULL);
    const fcb_host_services *t = host_services_table(hs);
    cr_expect_eq(t->size, sizeof *t);
    cr_expect_eq(t->abi_major, FCB_ABI_MAJOR);
    void *a = t->alloc(t->alloc_ctx, 100);
    void *b = t->realloc(t->alloc_ctx, NULL, 10);
    cr_assert(a != NULL && b != NULL);
    cr_expect_eq(host_services_outstanding_bytes(hs), 110);
    cr_expect_eq(host_services_outstanding_blocks(hs), 2);
    a = t->realloc(t->alloc_ctx, a, 1000);
    cr_assert_not_null(a);
    memset(a, 1, 1000);
    cr_expect_eq(host_services_outstanding_bytes(hs), 1010);
    t->free(t->alloc_ctx, a);
    t->free(t->alloc_ctx, b);
    t->free(t->alloc_ctx, NULL);
    cr_expect_eq(host_services_outstanding_bytes(hs), 0);
    cr_expect_eq(host_services_outstanding_blocks(hs), 0);
    host_services_free(hs);
}
