/*
 * Secrets never reach an error message or a log line.
 *
 * Kubeconfigs carrying every secret-bearing field (token, password,
 * client-key-data, exec env values, tokenFile content, the password of a
 * server URL's userinfo), each a unique marker, are broken in many ways
 * (unterminated quotes in every name and path field, a stray character or
 * a truncation at every structural place (line starts and ends, around ':'
 * and quotes, value starts), wrong types, missing references)
 * and loaded through kube_client_new (which loads the kubeconfig, sets up the
 * URL and logs the configuration). Neither the error message, nor a captured
 * log line, nor kube_client_server() may contain a marker (or half of one).
 */
#include "k8s_client.h" /* kube_client_new */
#include "kube_client.h"
#include "kube_config.h"
#include "mock_fixture.h"

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

MOCK_HOST_SUITE(kube_secrets);

/* Markers: 24 bytes each, so either half (12 bytes) of a split one still matches. */
#define TOKEN       "tok0secret0A1b2C3d4E5f6G"
#define PASSWORD    "pwd0secret0H7i8J9k0L1m2N"
#define URL_PW      "url0secret0O3p4Q5r6S7t8U"
#define ENV_VALUE   "env0secret0V9w0X1y2Z3a4B"
#define TOKENFILE   "tkf0secret0C5d6E7f8G9h0I"
#define KEYDATA_B64 "a2V5MHNlY3JldDBKMWsyTDNtNE41bzZQ" /* "key0secret0J1k2L3m4N5o6P" */

static const char *const markers[] = {TOKEN, PASSWORD, URL_PW, ENV_VALUE, TOKENFILE, KEYDATA_B64};

/* Names and paths first, secrets after them: a quote left open swallows forward. */
static const char *const templates[] = {
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: ctx-main\n"
    "contexts:\n"
    "- name: ctx-main\n"
    "  context:\n"
    "    cluster: cl-main\n"
    "    user: us-main\n"
    "    namespace: lambdas\n"
    "clusters:\n"
    "- name: cl-main\n"
    "  cluster:\n"
    "    server: https://alice:" URL_PW "@127.0.0.1:6443\n"
    "    tls-server-name: api.example\n"
    "    proxy-url: http://127.0.0.1:3128\n"
    "users:\n"
    "- name: us-main\n"
    "  user:\n"
    "    tokenFile: token.txt\n"
    "    client-certificate: client.crt\n"
    "    client-key: client.key\n"
    "    username: bob\n"
    "    password: " PASSWORD "\n"
    "    token: " TOKEN "\n"
    "- name: other\n"
    "  user:\n"
    "    token: \"" TOKEN "\"\n"
    "    client-key-data: '" KEYDATA_B64 "'\n",

    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: 'ctx-exec'\n"
    "contexts:\n"
    "- name: \"ctx-exec\"\n"
    "  context: {cluster: cl-exec, user: us-exec, namespace: \"lambdas\"}\n"
    "clusters:\n"
    "- name: cl-exec\n"
    "  cluster:\n"
    "    certificate-authority: ca.crt\n"
    "    server: \"https://alice:" URL_PW "@127.0.0.1:6443/prefix\"\n"
    "users:\n"
    "- name: us-exec\n"
    "  user:\n"
    "    exec:\n"
    "      apiVersion: client.authentication.k8s.io/v1\n"
    "      command: ./credential-helper\n"
    "      args: [\"--profile\", 'dev']\n"
    "      installHint: install it\n"
    "      env:\n"
    "      - name: HELPER_SECRET\n"
    "        value: \"" ENV_VALUE "\"\n"
    "      - {name: OTHER, value: '" ENV_VALUE "'}\n"
    "- name: other\n"
    "  user:\n"
    "    client-key-data: " KEYDATA_B64 "\n"
    "    password: '" PASSWORD "'\n",

    "{\"apiVersion\": \"v1\", \"current-context\": \"ctx-json\",\n"
    " \"contexts\": [{\"name\": \"ctx-json\", \"context\": {\"cluster\": \"cl-json\",\n"
    "   \"user\": \"us-json\", \"namespace\": \"ns-json\"}}],\n"
    " \"clusters\": [{\"name\": \"cl-json\", \"cluster\": {\"server\":\n"
    "   \"https://alice:" URL_PW "@127.0.0.1:6443\"}}],\n"
    " \"users\": [{\"name\": \"us-json\", \"user\": {\"tokenFile\": \"token.txt\",\n"
    "   \"token\": \"" TOKEN "\", \"password\": \"" PASSWORD "\", \"username\": \"bob\",\n"
    "   \"client-certificate-data\": \"Y2VydA==\",\n"
    "   \"client-key-data\": \"" KEYDATA_B64 "\"}}]}\n",
};

static char dir[64];
static char path[96];
static unsigned long variants_checked;

static void write_file(const char *name, const char *content)
{
    char p[160];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f, "%s", p);
    fputs(content, f);
    fclose(f);
}

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/kube-secrets-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/config", dir);
    write_file("token.txt", TOKENFILE "\n");
    write_file("ca.crt", "-----BEGIN CERTIFICATE-----\nY2E=\n-----END CERTIFICATE-----\n");
    write_file("client.crt", "-----BEGIN CERTIFICATE-----\nY2VydA==\n-----END CERTIFICATE-----\n");
    write_file("client.key", "-----BEGIN PRIVATE KEY-----\na2V5\n-----END PRIVATE KEY-----\n");
}

static void remove_dir(void)
{
    const char *names[] = {"token.txt", "ca.crt", "client.crt", "client.key", "config"};
    char p[160];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

/* Any marker, or either half of one, in TEXT? Returns the marker found or NULL. */
static const char *find_secret(const char *text)
{
    if (text == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++) {
        size_t half = strlen(markers[i]) / 2;
        char head[64], tail[64];
        snprintf(head, sizeof head, "%.*s", (int)half, markers[i]);
        snprintf(tail, sizeof tail, "%s", markers[i] + strlen(markers[i]) - half);
        if (strstr(text, head) != NULL || strstr(text, tail) != NULL)
            return markers[i];
    }
    return NULL;
}

/* Load CONTENT as the kubeconfig through kube_client_new and check every output. */
static void check_variant(const char *content, size_t len, const char *what)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, content, len), (ssize_t)len);
    close(fd);
    mock_host_log_clear(mh);
    kube_client *client = NULL;
    fcb_error err = FCB_ERROR_INIT;
    int rc = kube_client_new(host, &client, &err);
    const char *leak = NULL;
    if (rc == FCB_OK) {
        leak = find_secret(kube_client_server(client));
        cr_assert_null(leak, "%s: kube_client_server() shows %s: %s", what, leak,
                       kube_client_server(client));
        kube_client_free(client);
    } else {
        leak = find_secret(err.message);
        cr_assert_null(leak, "%s: the error shows %s:\n%s\n--- kubeconfig:\n%.*s", what, leak,
                       err.message, (int)len, content);
    }
    char *log = mock_host_log_text(mh);
    leak = find_secret(log);
    cr_assert_null(leak, "%s: a log line shows %s:\n%s\n--- kubeconfig:\n%.*s", what, leak, log,
                   (int)len, content);
    free(log);
    variants_checked++;
}

static void with_insert(const char *tpl, size_t at, const char *ins, const char *what)
{
    size_t n = strlen(tpl), m = strlen(ins);
    char *buf = malloc(n + m + 1);
    cr_assert_not_null(buf);
    memcpy(buf, tpl, at);
    memcpy(buf + at, ins, m);
    memcpy(buf + at + m, tpl + at, n - at + 1);
    char label[96];
    snprintf(label, sizeof label, "%s '%s' at %zu", what, ins, at);
    check_variant(buf, n + m, label);
    free(buf);
}

static void setup_env(void)
{
    make_dir();
    mock_host_set_config(mh, "KUBECONFIG", path);
    mock_host_set_config(mh, "FAKECLOUD_K8S_SA_DIR", "/nonexistent");
}

Test(kube_secrets, the_valid_configs_show_no_secret_in_logs_or_server_name)
{
    setup_env();
    for (size_t t = 0; t < sizeof templates / sizeof templates[0]; t++) {
        kube_client *client = NULL;
        fcb_error err = FCB_ERROR_INIT;
        write_file("config", templates[t]);
        mock_host_log_clear(mh);
        cr_assert_eq(kube_client_new(host, &client, &err), FCB_OK, "template %zu: %s", t,
                     err.message);
        cr_expect(strstr(kube_client_server(client), "127.0.0.1:6443") != NULL, "%s",
                  kube_client_server(client));
        cr_expect_null(find_secret(kube_client_server(client)), "%s", kube_client_server(client));
        char *log = mock_host_log_text(mh);
        cr_expect(strstr(log, "127.0.0.1:6443") != NULL, "the server is still logged: %s", log);
        cr_expect_null(find_secret(log), "%s", log);
        free(log);
        kube_client_free(client);
    }
    remove_dir();
}

Test(kube_secrets, an_unterminated_quote_in_current_context_shows_no_secret)
{
    setup_env();
    /* The quote closes at the token's own quote; the YAML stays valid. */
    char text[1024];
    snprintf(text, sizeof text,
             "apiVersion: v1\n"
             "current-context: \"ctx-main\n"
             "users:\n"
             "- name: u\n"
             "  user:\n"
             "    token: " TOKEN "\n"
             "x: \"\n"
             "contexts: []\n");
    check_variant(text, strlen(text), "unterminated current-context");
    remove_dir();
}

Test(kube_secrets, unterminated_quotes_in_every_field_show_no_secret)
{
    setup_env();
    /* Open a quote at the start of every value, close it at the end of every later line. */
    for (size_t t = 0; t < sizeof templates / sizeof templates[0]; t++) {
        const char *tpl = templates[t];
        size_t n = strlen(tpl);
        for (size_t at = 0; at < n; at++) {
            bool value_start = at >= 2 && ((tpl[at - 2] == ':' && tpl[at - 1] == ' ') ||
                                           (tpl[at - 2] == '-' && tpl[at - 1] == ' '));
            if (!value_start)
                continue;
            for (const char *q = "\"'"; *q != '\0'; q++) {
                char open_quote[2] = {*q, '\0'};
                with_insert(tpl, at, open_quote, "open quote");
                for (size_t close = at; close < n; close++) {
                    if (tpl[close] != '\n')
                        continue;
                    size_t m = n + 2;
                    char *buf = malloc(m + 1);
                    cr_assert_not_null(buf);
                    memcpy(buf, tpl, at);
                    buf[at] = *q;
                    memcpy(buf + at + 1, tpl + at, close - at);
                    buf[close + 1] = *q;
                    memcpy(buf + close + 2, tpl + close, n - close + 1);
                    check_variant(buf, m, "quote opened at a value, closed at a line end");
                    free(buf);
                }
            }
        }
    }
    cr_log_info("%lu variants", variants_checked);
    remove_dir();
}

/* Where YAML structure lives: line starts and ends, value starts, around ':' and quotes. */
static bool structural(const char *tpl, size_t at)
{
    if (at == 0 || tpl[at] == '\0' || tpl[at] == '\n' || tpl[at - 1] == '\n')
        return true;
    if (tpl[at] == ':' || tpl[at - 1] == ':' || tpl[at] == '"' || tpl[at] == '\'' ||
        tpl[at - 1] == '"' || tpl[at - 1] == '\'')
        return true;
    return at >= 2 && tpl[at - 1] == ' ' && (tpl[at - 2] == ':' || tpl[at - 2] == '-');
}

Test(kube_secrets, a_stray_character_or_truncation_at_any_structural_place_shows_no_secret)
{
    setup_env();
    static const char *const inserts[] = {"\"", "'", "[", "{", ": ", "\n", "- ", "\\", "\x01"};
    for (size_t t = 0; t < sizeof templates / sizeof templates[0]; t++) {
        const char *tpl = templates[t];
        size_t n = strlen(tpl);
        for (size_t at = 0; at <= n; at++) {
            if (!structural(tpl, at))
                continue;
            check_variant(tpl, at, "truncated");
            for (size_t i = 0; i < sizeof inserts / sizeof inserts[0]; i++)
                with_insert(tpl, at, inserts[i], "inserted");
        }
    }
    cr_log_info("%lu variants", variants_checked);
    remove_dir();
}

/* Replace every value (text after ": " up to the line end) by REPL. */
Test(kube_secrets, wrong_types_and_missing_references_show_no_secret)
{
    setup_env();
    static const char *const repls[] = {
        "[1, 2]", "{a: b}", "", "~", "12", "true", "missing-name", "/nonexistent/file", "\"a b\""};
    for (size_t t = 0; t < 2; t++) {
        const char *tpl = templates[t];
        size_t n = strlen(tpl);
        for (size_t at = 2; at < n; at++) {
            if (!(tpl[at - 2] == ':' && tpl[at - 1] == ' '))
                continue;
            size_t end = at + strcspn(tpl + at, "\n");
            for (size_t r = 0; r < sizeof repls / sizeof repls[0]; r++) {
                size_t m = strlen(repls[r]);
                char *buf = malloc(n + m + 1);
                cr_assert_not_null(buf);
                memcpy(buf, tpl, at);
                memcpy(buf + at, repls[r], m);
                memcpy(buf + at + m, tpl + end, n - end + 1);
                check_variant(buf, strlen(buf), "value replaced");
                free(buf);
            }
        }
    }
    remove_dir();
}

Test(kube_secrets, a_swallowed_secret_in_a_name_is_not_quoted_whole)
{
    setup_env();
    /* Each name field made to contain the secret after a space / newline fold. */
    static const char *const fields[] = {"current-context",    "cluster", "user",
                                         "namespace",          "server",  "tokenFile",
                                         "client-certificate", "command", "certificate-authority"};
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        char text[2048];
        snprintf(
            text, sizeof text,
            "current-context: %s\n"
            "contexts:\n"
            "- name: c\n"
            "  context: {cluster: \"%s\", user: \"%s\", namespace: \"%s\"}\n"
            "clusters:\n"
            "- name: \"%s\"\n"
            "  cluster: {server: \"%s\", certificate-authority: \"%s\"}\n"
            "users:\n"
            "- name: \"%s\"\n"
            "  user:\n"
            "    tokenFile: \"%s\"\n"
            "    client-certificate: \"%s\"\n"
            "    client-key: client.key\n"
            "    exec: {apiVersion: client.authentication.k8s.io/v1, command: \"%s\"}\n",
            strcmp(fields[f], "current-context") == 0 ? "\"c\n  token: " TOKEN "\"" : "c",
            strcmp(fields[f], "cluster") == 0 ? "k\n  token: " TOKEN : "k",
            strcmp(fields[f], "user") == 0 ? "u\n  token: " TOKEN : "u",
            strcmp(fields[f], "namespace") == 0 ? "ns\n  token: " TOKEN : "ns",
            strcmp(fields[f], "cluster") == 0 ? "k\n  token: " TOKEN : "k",
            strcmp(fields[f], "server") == 0 ? "https://h:1\n  token: " TOKEN
                                             : "https://alice:" URL_PW "@h:1",
            strcmp(fields[f], "certificate-authority") == 0 ? "nope\n  token: " TOKEN : "ca.crt",
            strcmp(fields[f], "user") == 0 ? "u\n  token: " TOKEN : "u",
            strcmp(fields[f], "tokenFile") == 0 ? "nope\n  token: " TOKEN : "token.txt",
            strcmp(fields[f], "client-certificate") == 0 ? "nope\n  token: " TOKEN : "client.crt",
            strcmp(fields[f], "command") == 0 ? "./nope\n  token: " TOKEN : "./helper");
        check_variant(text, strlen(text), fields[f]);
    }
    remove_dir();
}

/* A 127.0.0.1 port: listening (connections queue, nothing answers) or closed. */
static int local_port(bool listening, int *fd_out)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    if (listening) {
        cr_assert_eq(listen(fd, 8), 0);
        *fd_out = fd;
    } else {
        close(fd);
        *fd_out = -1;
    }
    return ntohs(sa.sin_port);
}

static void request_shows_no_password(bool listening, const char *want)
{
    int fd = -1;
    int port = local_port(listening, &fd);
    char text[512];
    snprintf(text, sizeof text,
             "current-context: c\ncontexts:\n- {name: c, context: {cluster: k}}\n"
             "clusters:\n- {name: k, cluster: {server: \"http://alice:" URL_PW
             "@127.0.0.1:%d\"}}\n",
             port);
    write_file("config", text);
    mock_host_set_config(mh, "FAKECLOUD_K8S_MAX_ATTEMPTS", "2");
    mock_host_set_config(mh, "FAKECLOUD_K8S_RETRY_BASE_MS", "1");
    kube_client *client = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(kube_client_new(host, &client, &err), FCB_OK, "%s", err.message);
    kube_response resp;
    int rc = kube_request(client, "GET", "/api/v1/pods", NULL, NULL, 0, 0, 500, &resp, &err);
    kube_response_clear(client, &resp);
    kube_client_free(client);
    if (fd >= 0)
        close(fd);
    cr_expect_neq(rc, FCB_OK);
    cr_expect(strstr(err.message, want) != NULL, "'%s' not in: %s", want, err.message);
    cr_expect(strstr(err.message, "http://***@127.0.0.1:") != NULL, "%s", err.message);
    cr_expect_null(find_secret(err.message), "%s", err.message);
    char *log = mock_host_log_text(mh);
    cr_expect_null(find_secret(log), "%s", log);
    free(log);
}

Test(kube_secrets, request_errors_show_no_userinfo_password)
{
    setup_env();
    request_shows_no_password(false, "cannot reach");
    request_shows_no_password(true, "no response from");
    remove_dir();
}
