/*
 * code_bundle (zip check, deploy id, layers tar, token) and artifact_server
 * (bearer token, 401/404/405, served bytes) over loopback.
 */
#include "artifact_server.h"
#include "code_bundle.h"

#include <archive.h>
#include <archive_entry.h>
#include <criterion/criterion.h>
#include <curl/curl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A zip of NAME=CONTENT pairs (NULL-terminated), built with libarchive. */
static size_t make_zip(unsigned char *buf, size_t cap, const char *const *files)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_zip(a);
    size_t used = 0;
    cr_assert_eq(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
    for (size_t i = 0; files[i] != NULL; i += 2) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, files[i]);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)strlen(files[i + 1]));
        cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK, "%s", archive_error_string(a));
        archive_write_data(a, files[i + 1], strlen(files[i + 1]));
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    return used;
}

Test(code_bundle, deploy_id_is_the_first_16_hex_of_sha256)
{
    char id[17];
    cr_assert_eq(bundle_deploy_id("abc", 3, id), 0);
    cr_expect_str_eq(id, "ba7816bf8f01cfea"); /* SHA-256("abc") = ba7816bf8f01cfea... */
}

Test(code_bundle, tokens_are_64_hex_characters_and_differ)
{
    char a[65], b[65];
    cr_assert_eq(bundle_token_new(a), 0);
    cr_assert_eq(bundle_token_new(b), 0);
    cr_expect_eq(strlen(a), 64);
    cr_expect_eq(strspn(a, "0123456789abcdef"), 64);
    cr_expect_str_neq(a, b);
}

Test(code_bundle, accepts_zips_and_rejects_anything_else_naming_it)
{
    unsigned char zip[4096];
    const char *files[] = {"app.py", "x = 1\n", NULL};
    size_t len = make_zip(zip, sizeof zip, files);
    char why[256] = "";
    cr_expect_eq(bundle_check_zip(zip, len, "code.zip", why, sizeof why), 0, "%s", why);
    static const char empty[] = "PK\005\006\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    cr_expect_eq(bundle_check_zip(empty, sizeof empty - 1, "empty.zip", why, sizeof why), 0, "%s",
                 why);
    cr_expect_eq(bundle_check_zip("hello world", 11, "text.zip", why, sizeof why), -1);
    cr_expect(strncmp(why, "text.zip: not a", 15) == 0, "%s", why);
    cr_expect_eq(bundle_check_zip("PK", 2, "short.zip", why, sizeof why), -1);
    unsigned char *data;
    size_t n;
    cr_expect_eq(bundle_read_zip("/nonexistent/code.zip", &data, &n, why, sizeof why), -1);
    cr_expect(strstr(why, "/nonexistent/code.zip: cannot open") != NULL, "%s", why);
}

/* Read a tar into "name=content;" pairs in order. */
static void tar_listing(const unsigned char *tar, size_t len, char *out, size_t cap)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    cr_assert_eq(archive_read_open_memory(a, tar, len), ARCHIVE_OK);
    struct archive_entry *e;
    out[0] = '\0';
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        char data[64] = "";
        la_ssize_t n = archive_read_data(a, data, sizeof data - 1);
        data[n > 0 ? n : 0] = '\0';
        size_t used = strlen(out);
        snprintf(out + used, cap - used, "%s=%s;", archive_entry_pathname(e), data);
    }
    archive_read_free(a);
}

Test(code_bundle, merges_layers_in_order_into_one_tar)
{
    unsigned char z1[4096], z2[4096];
    const char *f1[] = {"python/a.py", "A", "bin/tool", "one", NULL};
    const char *f2[] = {"bin/tool", "two", NULL};
    const void *layers[] = {z1, z2};
    size_t sizes[] = {make_zip(z1, sizeof z1, f1), make_zip(z2, sizeof z2, f2)};
    unsigned char *tar = NULL;
    size_t tar_len = 0;
    char why[256] = "";
    cr_assert_eq(bundle_layers_tar(layers, sizes, 2, &tar, &tar_len, why, sizeof why), 0, "%s",
                 why);
    char listing[512];
    tar_listing(tar, tar_len, listing, sizeof listing);
    cr_expect_str_eq(listing, "python/a.py=A;bin/tool=one;bin/tool=two;");
    free(tar);
}

Test(code_bundle, no_layers_give_an_empty_tar)
{
    unsigned char *tar = (unsigned char *)1;
    size_t len = 99;
    char why[64];
    cr_expect_eq(bundle_layers_tar(NULL, NULL, 0, &tar, &len, why, sizeof why), 0);
    cr_expect_null(tar);
    cr_expect_eq(len, 0);
}

Test(code_bundle, refuses_a_layer_entry_that_escapes_the_directory)
{
    unsigned char z[4096];
    const char *f[] = {"../../etc/passwd", "x", NULL};
    const void *layers[] = {z};
    size_t sizes[] = {make_zip(z, sizeof z, f)};
    unsigned char *tar = NULL;
    size_t len = 0;
    char why[256] = "";
    cr_expect_eq(bundle_layers_tar(layers, sizes, 1, &tar, &len, why, sizeof why), -1);
    cr_expect(strstr(why, "layer 0: entry \"../../etc/passwd\" escapes") != NULL, "%s", why);
    cr_expect_null(tar);
}

/* ---- artifact server ------------------------------------------------- */

static const char token[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

typedef struct fetched {
    long status;
    char body[256];
    size_t len;
} fetched;

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    fetched *f = ctx;
    size_t k = size * n;
    size_t room = sizeof f->body - 1 - f->len;
    memcpy(f->body + f->len, p, k < room ? k : room);
    f->len += k < room ? k : room;
    f->body[f->len] = '\0';
    return k;
}

static fetched get(const artifact_server *srv, const char *path, const char *auth,
                   const char *method)
{
    fetched f = {0};
    char url[512];
    snprintf(url, sizeof url, "%s%s", artifact_server_url(srv), path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = auth ? curl_slist_append(NULL, auth) : NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (method != NULL)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    cr_assert_eq(curl_easy_perform(c), CURLE_OK, "GET %s", url);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &f.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return f;
}

static artifact_server *srv;
static const char code[] = "PK-code-bytes";
static const char layers[] = "tar-bytes";

static void start(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char why[256] = "";
    cr_assert_eq(artifact_server_start("127.0.0.1:0", token, NULL, &srv, why, sizeof why), 0, "%s",
                 why);
    cr_assert_eq(artifact_server_add(srv, "123456789012", "my-fn", "0123456789abcdef", code,
                                     sizeof code - 1, layers, sizeof layers - 1),
                 0);
    cr_assert_eq(
        artifact_server_add(srv, "000000000000", "other", "ffff", code, sizeof code - 1, NULL, 0),
        0);
}

static void stop(void)
{
    artifact_server_stop(srv);
    curl_global_cleanup();
}

#define CODE_PATH   ARTIFACT_PREFIX "code/123456789012/my-fn/0123456789abcdef.zip"
#define LAYERS_PATH ARTIFACT_PREFIX "layers/123456789012/my-fn/0123456789abcdef.tar"
#define BEARER      "Authorization: Bearer "

TestSuite(artifact_server, .init = start, .fini = stop, .timeout = 30);

Test(artifact_server, serves_code_and_layers_with_the_right_token)
{
    cr_expect(strncmp(artifact_server_url(srv), "http://127.0.0.1:", 17) == 0);
    cr_expect_gt(artifact_server_port(srv), 0);
    fetched f =
        get(srv, CODE_PATH,
            BEARER "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", NULL);
    cr_expect_eq(f.status, 200);
    cr_expect_str_eq(f.body, code);
    f = get(srv, LAYERS_PATH,
            BEARER "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", NULL);
    cr_expect_eq(f.status, 200);
    cr_expect_str_eq(f.body, layers);
}

Test(artifact_server, serves_an_empty_layers_tar_when_there_are_no_layers)
{
    fetched f =
        get(srv, ARTIFACT_PREFIX "layers/000000000000/other/ffff.tar",
            BEARER "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", NULL);
    cr_expect_eq(f.status, 200);
    cr_expect_eq(f.len, 0);
}

Test(artifact_server, answers_401_to_a_wrong_or_missing_token)
{
    cr_expect_eq(get(srv, CODE_PATH, NULL, NULL).status, 401);
    cr_expect_eq(get(srv, CODE_PATH, BEARER "wrong", NULL).status, 401);
    cr_expect_eq(get(srv, CODE_PATH,
                     BEARER "00112233445566778899aabbccddeeff00112233445566778899aabbccddeefe",
                     NULL)
                     .status,
                 401);
    cr_expect_eq(get(srv, CODE_PATH,
                     BEARER "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0",
                     NULL)
                     .status,
                 401, "a longer token is wrong too");
    cr_expect_eq(
        get(srv, CODE_PATH,
            "Authorization: Basic 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
            NULL)
            .status,
        401);
    fetched f = get(srv, "/anything", NULL, NULL);
    cr_expect_eq(f.status, 401);
    cr_expect(strstr(f.body, token) == NULL);
}

Test(artifact_server, answers_404_to_an_unknown_path_and_405_to_other_methods)
{
    const char *auth = BEARER "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    cr_expect_eq(
        get(srv, ARTIFACT_PREFIX "code/123456789012/my-fn/0000000000000000.zip", auth, NULL).status,
        404);
    cr_expect_eq(get(srv, "/", auth, NULL).status, 404);
    cr_expect_eq(get(srv, CODE_PATH, auth, "DELETE").status, 405);
}

Test(artifact_server, refuses_a_bad_listen_address_naming_the_option, .init = NULL, .fini = NULL)
{
    artifact_server *s = NULL;
    char why[256];
    cr_expect_eq(artifact_server_start("localhost", token, NULL, &s, why, sizeof why), -1);
    cr_expect(strstr(why, "--artifact-listen: expected IPV4:PORT") != NULL, "%s", why);
    cr_expect_eq(artifact_server_start("127.0.0.1:99999", token, NULL, &s, why, sizeof why), -1);
    cr_expect(strstr(why, "--artifact-listen: port") != NULL, "%s", why);
    cr_expect_eq(artifact_server_start("example.com:80", token, NULL, &s, why, sizeof why), -1);
    cr_expect(strstr(why, "not an IPv4 address") != NULL, "%s", why);
    cr_expect_null(s);
}

/* Open N idle TCP connections to SRV (nothing sent); fds into FDS. */
static void open_idle(const artifact_server *s, int *fds, size_t n)
{
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 2 * n + 256 && rl.rlim_max >= 2 * n + 256) {
        rl.rlim_cur = 2 * n + 256;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)artifact_server_port(s));
    for (size_t i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        cr_assert_geq(fds[i], 0, "socket %zu: %s", i, strerror(errno));
        cr_assert_eq(connect(fds[i], (struct sockaddr *)&addr, sizeof addr), 0, "connect %zu: %s",
                     i, strerror(errno));
    }
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

#define IDLE_N 1000

Test(artifact_server, a_thousand_idle_connections_do_not_starve_an_authenticated_fetch)
{
    static int fds[IDLE_N];
    open_idle(srv, fds, IDLE_N);
    /* Let the server accept them all before the real request arrives. */
    struct timespec pause = {0, 300 * 1000 * 1000};
    nanosleep(&pause, NULL);
    double t0 = now_s();
    fetched f =
        get(srv, CODE_PATH,
            BEARER "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", NULL);
    double took = now_s() - t0;
    cr_expect_eq(f.status, 200);
    cr_expect_str_eq(f.body, code);
    cr_expect_lt(took, 3.0, "the fetch took %.2f s behind %d idle connections", took, IDLE_N);
    for (size_t i = 0; i < IDLE_N; i++)
        close(fds[i]);
}

Test(artifact_server, idle_connections_are_dropped_after_the_idle_timeout, .init = NULL,
     .fini = NULL)
{
    artifact_server *s = NULL;
    char why[256] = "";
    artifact_server_limits limits = {.idle_timeout_s = 1, .max_connections = 0};
    cr_assert_eq(
        artifact_server_start_limits("127.0.0.1:0", token, NULL, &limits, &s, why, sizeof why), 0,
        "%s", why);
    enum { N = 50 };
    int fds[N];
    open_idle(s, fds, N);
    size_t dropped = 0;
    double t0 = now_s();
    bool gone[N] = {false};
    for (int round = 0; round < 100 && dropped < N; round++) {
        for (size_t i = 0; i < N; i++) {
            if (gone[i])
                continue;
            struct pollfd p = {fds[i], POLLIN, 0};
            char c;
            if (poll(&p, 1, 0) == 1 && recv(fds[i], &c, 1, MSG_DONTWAIT) <= 0) {
                gone[i] = true;
                dropped++;
            }
        }
        struct timespec tick = {0, 100 * 1000 * 1000};
        nanosleep(&tick, NULL);
    }
    double took = now_s() - t0;
    cr_expect_eq(dropped, N, "%zu of %d idle connections closed by the server in %.1f s", dropped,
                 N, took);
    for (size_t i = 0; i < N; i++)
        close(fds[i]);
    artifact_server_stop(s);
}
