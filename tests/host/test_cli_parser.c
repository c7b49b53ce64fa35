/*
 * cli: the host's command line without running the host: options before
 * and after the command, every usage error named, the per-command option
 * rules, and a help text for every command. (The host binary's behaviour
 * end to end is tests/host/test_host_cli.c.)
 */
#include "cli.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#define ARGV(...)          ((char *[]){"fakecloud-lambda-host", __VA_ARGS__, NULL})
#define ARGC(...)          ((int)(sizeof((char *[]){"fakecloud-lambda-host", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(o, why, ...) cli_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (o), (why), sizeof(why))

Test(cli, takes_options_before_and_after_the_command)
{
    cli_options o;
    char why[256] = "";
    cr_assert_eq(PARSE(&o, why, "--json", "invoke", "--function", "fn.json", "--layer", "a.zip",
                       "--layer", "b.zip", "--keep", "-v", "--payload", "{}"),
                 0, "%s", why);
    cr_expect_str_eq(o.command, "invoke");
    cr_expect_null(o.handle);
    cr_expect(o.json && o.keep && o.verbose && !o.help);
    cr_expect_str_eq(o.function_file, "fn.json");
    cr_expect_eq(o.n_layers, 2);
    cr_expect_str_eq(o.layer_files[1], "b.zip");
    cr_expect_str_eq(o.payload, "{}");
    cr_expect_eq(cli_check(&o, why, sizeof why), 0, "%s", why);
}

Test(cli, starts_afresh_on_every_parse)
{
    cli_options o;
    char why[256] = "";
    cr_assert_eq(PARSE(&o, why, "terminate", "h-1", "--backend", "k8s"), 0, "%s", why);
    cr_assert_eq(PARSE(&o, why, "reap"), 0, "%s", why);
    cr_expect_str_eq(o.command, "reap");
    cr_expect_null(o.handle);
    cr_expect_null(o.backend);
}

Test(cli, names_each_usage_error_of_the_command_line)
{
    const struct {
        int argc;
        char **argv;
        const char *says;
    } cases[] = {
        {ARGC("launch", "--function"), ARGV("launch", "--function"), "--function: missing value"},
        {ARGC("reap", "--nope"), ARGV("reap", "--nope"), "unknown option --nope"},
        {ARGC("reap", "-x"), ARGV("reap", "-x"), "unknown option -x"},
        {ARGC("terminate", "a", "b"), ARGV("terminate", "a", "b"), "unexpected argument \"b\""},
        {ARGC("launch", "--layer", "1", "--layer", "2", "--layer", "3", "--layer", "4", "--layer",
              "5", "--layer", "6"),
         ARGV("launch", "--layer", "1", "--layer", "2", "--layer", "3", "--layer", "4", "--layer",
              "5", "--layer", "6"),
         "--layer: at most 5 layers"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cli_options o;
        char why[256] = "";
        cr_expect_eq(cli_parse(cases[i].argc, cases[i].argv, &o, why, sizeof why), -1, "case %zu",
                     i);
        cr_expect(strstr(why, cases[i].says) != NULL, "case %zu: '%s' in: %s", i, cases[i].says,
                  why);
    }
}

Test(cli, refuses_options_and_arguments_that_mean_nothing_for_the_command)
{
    const struct {
        int argc;
        char **argv;
        const char *says;
    } cases[] = {
        {ARGC("backends", "--payload", "{}"), ARGV("backends", "--payload", "{}"),
         "--payload: not an option of `backends`"},
        {ARGC("reap", "--function", "f"), ARGV("reap", "--function", "f"),
         "--function: not an option of `reap`"},
        {ARGC("launch", "--function", "f", "--keep"), ARGV("launch", "--function", "f", "--keep"),
         "--keep: not an option of `launch`"},
        {ARGC("reap", "extra"), ARGV("reap", "extra"), "unexpected argument \"extra\""},
        {ARGC("terminate"), ARGV("terminate"), "terminate: HANDLE required"},
        {ARGC("prepull"), ARGV("prepull"), "prepull: IMAGE required"},
        {ARGC("invoke"), ARGV("invoke"), "invoke: --function FILE required"},
        {ARGC("invoke", "--function", "f", "--payload", "{}", "--payload-file", "p"),
         ARGV("invoke", "--function", "f", "--payload", "{}", "--payload-file", "p"),
         "--payload and --payload-file: give one, not both"},
        {ARGC("invoke", "--function", "-", "--payload-file", "-"),
         ARGV("invoke", "--function", "-", "--payload-file", "-"), "cannot both read stdin"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cli_options o;
        char why[256] = "";
        cr_assert_eq(cli_parse(cases[i].argc, cases[i].argv, &o, why, sizeof why), 0,
                     "case %zu: %s", i, why);
        cr_expect_eq(cli_check(&o, why, sizeof why), -1, "case %zu", i);
        cr_expect(strstr(why, cases[i].says) != NULL, "case %zu: '%s' in: %s", i, cases[i].says,
                  why);
    }
}

Test(cli, has_a_help_text_for_every_command_and_none_for_unknown_ones)
{
    const char *commands[] = {"backends", "launch",  "invoke", "terminate",
                              "reap",     "prepull", "help"};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        const char *text = cli_help(commands[i]);
        cr_assert_not_null(text, "%s", commands[i]);
        char usage[64];
        snprintf(usage, sizeof usage, "Usage: " HOST_PROG " %s", commands[i]);
        cr_expect(strncmp(text, usage, strlen(usage)) == 0, "%s: %.60s", commands[i], text);
    }
    cr_expect(strstr(cli_help(NULL), "Exit status:") != NULL);
    cr_expect_null(cli_help("launhc"));
    cr_expect(cli_is_launching("launch") && cli_is_launching("invoke"));
    cr_expect(!cli_is_launching("reap"));
}

Test(cli, reads_tail_and_since_of_the_logs_command)
{
    unsigned lines = 9;
    long long ms = 9;
    char why[256] = "";
    cr_expect_eq(cli_tail_lines(NULL, &lines, why, sizeof why), 0);
    cr_expect_eq(lines, 0);
    cr_expect_eq(cli_tail_lines("25", &lines, why, sizeof why), 0);
    cr_expect_eq(lines, 25);
    cr_expect_eq(cli_tail_lines("0", &lines, why, sizeof why), -1);
    cr_expect_eq(cli_tail_lines("12x", &lines, why, sizeof why), -1);
    cr_expect(strstr(why, "--tail") != NULL, "%s", why);
    cr_expect_eq(cli_tail_lines("99999999999999999999999", &lines, why, sizeof why), -1);
    cr_expect_eq(cli_since_ms("90s", &ms, why, sizeof why), 0);
    cr_expect_eq(ms, 90000);
    cr_expect_eq(cli_since_ms("15m", &ms, why, sizeof why), 0);
    cr_expect_eq(ms, 900000);
    cr_expect_eq(cli_since_ms("720h", &ms, why, sizeof why), 0);
    cr_expect_eq(cli_since_ms("721h", &ms, why, sizeof why), -1);
    cr_expect_eq(cli_since_ms("5", &ms, why, sizeof why), -1);
    cr_expect_eq(cli_since_ms("m", &ms, why, sizeof why), -1);
    cr_expect(strstr(why, "--since") != NULL, "%s", why);
}

Test(cli, logs_and_status_take_a_handle_and_their_own_options)
{
    cli_options o;
    char why[256] = "";
    cr_assert_eq(PARSE(&o, why, "logs", "k8s/ns/p", "--tail", "5", "--since", "1h", "--follow",
                       "--stats"),
                 0, "%s", why);
    cr_expect_eq(cli_check(&o, why, sizeof why), 0, "%s", why);
    cr_expect_str_eq(o.handle, "k8s/ns/p");
    cr_expect(o.follow && o.stats);
    cr_assert_eq(PARSE(&o, why, "status", "--tail", "5", "h"), 0);
    cr_expect_eq(cli_check(&o, why, sizeof why), -1);
    cr_expect(strstr(why, "--tail: not an option of `status`") != NULL, "%s", why);
    cr_assert_eq(PARSE(&o, why, "invoke", "--function", "f", "--log-tail", "--role-credentials",
                       "c.json", "--aws-endpoint-url", "https://e.example"),
                 0);
    cr_expect_eq(cli_check(&o, why, sizeof why), 0, "%s", why);
    cr_expect(o.log_tail);
    cr_expect_str_eq(o.role_credentials, "c.json");
}
