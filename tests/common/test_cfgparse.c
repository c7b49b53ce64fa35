/* Unit tests of plugin/common/cfgparse.c: parsers, one error shape, key tables. */
#include "cfgparse.h"
#include "mock_fixture.h"

#include <string.h>

MOCK_HOST_SUITE(cfgparse);

static void expect_message(const fcb_error *err, const char *key, const char *what,
                           const char *value)
{
    char head[256];
    snprintf(head, sizeof head, "%s is not %s: ", key, what);
    cr_assert_eq(err->code, FCB_ERR_CONFIG);
    cr_assert(strncmp(err->message, head, strlen(head)) == 0, "'%s' does not start with '%s'",
              err->message, head);
    char tail[256];
    snprintf(tail, sizeof tail, "(got \"%s\")", value);
    size_t ml = strlen(err->message), tl = strlen(tail);
    cr_assert(ml >= tl && strcmp(err->message + ml - tl, tail) == 0, "'%s' does not end with '%s'",
              err->message, tail);
}

Test(cfgparse, uint_accepts_digits_within_the_range)
{
    uint64_t v = 0;
    cr_assert_eq(cfg_parse_uint("K", "42", 1, 100, &v, NULL), FCB_OK);
    cr_assert_eq(v, 42);
    cr_assert_eq(cfg_parse_uint("K", "18446744073709551615", 0, UINT64_MAX, &v, NULL), FCB_OK);
    cr_assert_eq(v, UINT64_MAX);
}

Test(cfgparse, uint_refuses_signs_units_spaces_and_the_out_of_range_naming_key_and_value)
{
    static const char *const bad[] = {"-1", "+1",   " 1", "1 ",  "1k",
                                      "",   "soon", "0",  "101", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 7;
        fcb_error err = FCB_ERROR_INIT;
        cr_assert_eq(cfg_parse_uint("FAKECLOUD_X", bad[i], 1, 100, &v, &err), FCB_ERR_CONFIG, "%s",
                     bad[i]);
        expect_message(&err, "FAKECLOUD_X", "an integer from 1 to 100", bad[i]);
        cr_assert_eq(v, 7, "output untouched on error");
    }
}

Test(cfgparse, durations_are_whole_milliseconds)
{
    uint32_t ms = 0;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(cfg_parse_ms("T_MS", "2500", 10, 60000, &ms, &err), FCB_OK);
    cr_assert_eq(ms, 2500);
    cr_assert_eq(cfg_parse_ms("T_MS", "30s", 10, 60000, &ms, &err), FCB_ERR_CONFIG);
    expect_message(&err, "T_MS", "a duration in ms from 10 to 60000", "30s");
    cr_assert(strstr(err.message, "\"s\" after the number") != NULL, "%s", err.message);
    cr_assert_eq(cfg_parse_ms("T_MS", "5s", 10, 60000, &ms, &err), FCB_ERR_CONFIG);
    cr_assert(strstr(err.message, "\"s\" after the number") != NULL,
              "the unit is the mistake to name, not the range: %s", err.message);
    cr_assert_eq(cfg_parse_ms("T_MS", "5", 10, 60000, &ms, &err), FCB_ERR_CONFIG);
    cr_assert(strstr(err.message, "out of range") != NULL, "%s", err.message);
}

Test(cfgparse, bools_are_true_or_false)
{
    bool b = false;
    cr_assert_eq(cfg_parse_bool("B", "true", &b, NULL), FCB_OK);
    cr_assert(b);
    cr_assert_eq(cfg_parse_bool("B", "false", &b, NULL), FCB_OK);
    cr_assert_not(b);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(cfg_parse_bool("B", "yes", &b, &err), FCB_ERR_CONFIG);
    expect_message(&err, "B", "true or false", "yes");
}

Test(cfgparse, urls_give_host_port_and_what_else_was_there)
{
    cfg_url u;
    cr_assert_eq(cfg_parse_url("U", "http://fc.example:4566", 0, &u, NULL), FCB_OK);
    cr_assert_str_eq(u.scheme, "http");
    cr_assert_str_eq(u.host, "fc.example");
    cr_assert_eq(u.port, 4566);
    cr_assert(u.port_explicit);
    cr_assert_not(u.has_path);
    cr_assert_not(u.has_query);
    cr_assert_eq(cfg_parse_url("U", "https://fc.example/", 0, &u, NULL), FCB_OK);
    cr_assert_eq(u.port, 443);
    cr_assert_not(u.port_explicit);
    cr_assert_not(u.has_path);
    cr_assert_eq(cfg_parse_url("U", "http://[::1]:9/x?y=1", 0, &u, NULL), FCB_OK);
    cr_assert_str_eq(u.host, "::1");
    cr_assert(u.has_path);
    cr_assert(u.has_query);
}

Test(cfgparse, host_port_form_needs_the_flag)
{
    cfg_url u;
    cr_assert_eq(cfg_parse_url("U", "registry.local:5000", CFG_URL_HOST_PORT, &u, NULL), FCB_OK);
    cr_assert_str_eq(u.host, "registry.local");
    cr_assert_eq(u.port, 5000);
    cr_assert_eq(cfg_parse_url("U", "registry.local", CFG_URL_HOST_PORT, &u, NULL), FCB_OK);
    cr_assert_not(u.port_explicit);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(cfg_parse_url("U", "registry.local:5000", 0, &u, &err), FCB_ERR_CONFIG);
    expect_message(&err, "U", "a valid URL", "registry.local:5000");
}

Test(cfgparse, bad_urls_say_why_naming_the_key)
{
    static const char *const bad[] = {"not a url", "http://", "ftp://host/x", "http://host:99999",
                                      "a b:99"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg_url u;
        fcb_error err = FCB_ERROR_INIT;
        cr_assert_eq(cfg_parse_url("FAKECLOUD_URL", bad[i], CFG_URL_HOST_PORT, &u, &err),
                     FCB_ERR_CONFIG, "%s", bad[i]);
        expect_message(&err, "FAKECLOUD_URL", "a valid URL", bad[i]);
    }
}

Test(cfgparse, maps_read_pairs_or_json)
{
    json_object *m = NULL;
    cr_assert_eq(cfg_parse_map(host, "M", "a=1,b=x=y", &m, NULL), FCB_OK);
    cr_assert_str_eq(json_object_get_string(json_object_object_get(m, "a")), "1");
    cr_assert_str_eq(json_object_get_string(json_object_object_get(m, "b")), "x=y");
    json_object_put(m);
    cr_assert_eq(cfg_parse_map(host, "M", " {\"k\":\"v\"}", &m, NULL), FCB_OK);
    cr_assert_str_eq(json_object_get_string(json_object_object_get(m, "k")), "v");
    json_object_put(m);
    cr_assert_eq(cfg_parse_map(host, "M", "{}", &m, NULL), FCB_OK);
    cr_assert_null(m, "an empty map is no map");
}

Test(cfgparse, bad_maps_name_the_key)
{
    static const char *const bad[] = {"novalue", "=v", "{not json", "{\"k\":1}", "[1]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_object *m = NULL;
        fcb_error err = FCB_ERROR_INIT;
        cr_assert_eq(cfg_parse_map(host, "FAKECLOUD_MAP", bad[i], &m, &err), FCB_ERR_CONFIG, "%s",
                     bad[i]);
        cr_assert_null(m);
        expect_message(&err, "FAKECLOUD_MAP", "a map (k=v,k2=v2 or a JSON object of strings)",
                       bad[i]);
    }
}

Test(cfgparse, maps_leak_nothing_when_allocations_fail)
{
    for (size_t n = 1; n < 10; n++) {
        mock_host_fail_alloc(mh, n);
        json_object *m = NULL;
        fcb_error err = FCB_ERROR_INIT;
        int rc = cfg_parse_map(host, "M", "a=1,b=2,c=3", &m, &err);
        cr_assert(rc == FCB_OK || rc == FCB_ERR_NO_MEMORY, "%s", err.message);
        json_object_put(m);
        cr_assert_eq(mock_host_outstanding_bytes(mh), 0);
    }
    mock_host_fail_alloc(mh, 0);
}

/* A config struct read by a table, like a backend's. */
typedef struct demo_cfg {
    uint32_t timeout_ms;
    uint64_t max_bytes;
    bool flag;
    char *name;
} demo_cfg;

static const cfg_key demo_keys[] = {
    {"DEMO_TIMEOUT_MS", "1000", "timeout", cfg_key_ms, offsetof(demo_cfg, timeout_ms), 1, 60000,
     NULL},
    {"DEMO_NAME", "default", "a name", cfg_key_string, offsetof(demo_cfg, name), 0, 0,
     cfg_release_string},
    {"DEMO_MAX_BYTES", NULL, "limit", cfg_key_uint64, offsetof(demo_cfg, max_bytes), 1, 1 << 20,
     NULL},
    {"DEMO_FLAG", "false", "a switch", cfg_key_bool, offsetof(demo_cfg, flag), 0, 0, NULL},
};

Test(cfgparse, tables_apply_defaults_and_set_values)
{
    demo_cfg c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(cfg_table_read(host, demo_keys, 4, &c, NULL), FCB_OK);
    cr_assert_eq(c.timeout_ms, 1000);
    cr_assert_str_eq(c.name, "default");
    cr_assert_eq(c.max_bytes, 0, "no default: untouched");
    cr_assert_not(c.flag);
    cfg_table_free(host, demo_keys, 4, &c);
    cr_assert_null(c.name);
    mock_host_set_config(mh, "DEMO_TIMEOUT_MS", "250");
    mock_host_set_config(mh, "DEMO_NAME", "mine");
    mock_host_set_config(mh, "DEMO_FLAG", "true");
    mock_host_set_config(mh, "DEMO_MAX_BYTES", "");
    memset(&c, 0, sizeof c);
    cr_assert_eq(cfg_table_read(host, demo_keys, 4, &c, NULL), FCB_OK);
    cr_assert_eq(c.timeout_ms, 250);
    cr_assert_str_eq(c.name, "mine");
    cr_assert(c.flag);
    cr_assert_eq(c.max_bytes, 0, "empty counts as unset");
    cfg_table_free(host, demo_keys, 4, &c);
}

Test(cfgparse, tables_stop_at_the_first_bad_key_and_release_what_was_read)
{
    mock_host_set_config(mh, "DEMO_MAX_BYTES", "lots");
    demo_cfg c;
    memset(&c, 0, sizeof c);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(cfg_table_read(host, demo_keys, 4, &c, &err), FCB_ERR_CONFIG);
    expect_message(&err, "DEMO_MAX_BYTES", "an integer from 1 to 1048576", "lots");
    cr_assert_null(c.name, "the string read before the error was released");
}
