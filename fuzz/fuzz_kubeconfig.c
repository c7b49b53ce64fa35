/*
 * fuzz_kubeconfig: property test of plugin/k8s/client/kube_config.c.
 *
 * The input is a kubeconfig file (YAML or JSON), handed to
 * kube_config_from_files through a private memfd (/proc/self/fd/N), with a
 * mock host. Exec credential plugins are only parsed at load, never run.
 * Properties:
 *   - success: server and namespace set, server has a scheme;
 *   - failure: FCB_ERR_CONFIG or FCB_ERR_NO_MEMORY with a clean,
 *     NUL-terminated message that names the file;
 *   - no secret of the input (see check_no_secret) appears in the error
 *     message, a log line, or the server URL as kube_url_shown shows it;
 *   - zero bytes outstanding after kube_config_free; the first allocations
 *     failing in turn also leak nothing.
 */
#include "fuzz_common.h"
#include "fuzz_targets.h"

#include <kube_config.h>
#include <mock_host.h>

#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int memfd = -1;
static char memfd_path[64];

/*
 * The secret oracle. A secret is the value of a secret-bearing key (token,
 * client-key-data, password, an exec env `value`; id-token/refresh-token
 * end in "token") written as a key: at the start of a line (after
 * indentation and "- "), after '{' or ',' (flow/JSON), or quoted ("token":);
 * or the password of a URL's userinfo ("://user:PASSWORD@"). Only values of
 * at least 8 bytes that occur exactly once in the input count: a value that
 * also appears elsewhere (say, as a context name) may rightly be quoted from
 * there. Such a secret must not appear in an error message or a log line.
 */
#define SECRET_MIN 8

static bool key_position(const char *input, const char *key)
{
    const char *p = key;
    if (p > input && p[-1] == '"') /* "token": */
        p--;
    while (p > input && (p[-1] == ' ' || p[-1] == '\t'))
        p--;
    if (p > input + 1 && p[-1] == '-' && (p[-2] == ' ' || p[-2] == '\n'))
        p -= 2;
    else if (p == input + 1 && p[-1] == '-')
        p--;
    while (p > input && (p[-1] == ' ' || p[-1] == '\t'))
        p--;
    return p == input || p[-1] == '\n' || p[-1] == '\r' || p[-1] == '{' || p[-1] == ',';
}

static size_t count_occurrences(const char *input, const char *needle)
{
    size_t n = 0;
    for (const char *p = input; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void check_value(const char *input, const char *value, size_t n, const char *text,
                        const char *what)
{
    if (n < SECRET_MIN || text == NULL)
        return;
    char secret[256];
    if (n >= sizeof secret)
        n = sizeof secret - 1;
    memcpy(secret, value, n);
    secret[n] = '\0';
    if (count_occurrences(input, secret) != 1)
        return;
    FUZZ_REQUIRE(strstr(text, secret) == NULL, "secret \"%s\" in the %s: \"%s\"", secret, what,
                 text);
}

static void check_no_secret(const char *input, const char *text, const char *what)
{
    static const char *const keys[] = {"token", "client-key-data", "password", "value"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        size_t klen = strlen(keys[k]);
        for (const char *p = input; (p = strstr(p, keys[k])) != NULL; p += klen) {
            const char *q = p + klen;
            if (*q == '"')
                q++;
            if (*q != ':' || !key_position(input, p))
                continue;
            q++;
            while (*q == ' ' || *q == '\t')
                q++;
            char quote = (*q == '"' || *q == '\'') ? *q++ : '\0';
            size_t n =
                quote != '\0' ? strcspn(q, quote == '"' ? "\"\\" : "'") : strcspn(q, "\n\r ,}]#");
            check_value(input, q, n, text, what);
        }
    }
    for (const char *p = input; (p = strstr(p, "://")) != NULL; p += 3) {
        size_t auth = strcspn(p + 3, "/?#\n\r \"'");
        const char *at = memchr(p + 3, '@', auth);
        const char *colon = at != NULL ? memchr(p + 3, ':', (size_t)(at - (p + 3))) : NULL;
        if (colon != NULL)
            check_value(input, colon + 1, (size_t)(at - colon - 1), text, what);
    }
}

static void load_once(const char *input, size_t fail_at)
{
    mock_host *mh = mock_host_new();
    const fcb_host_services *svc = mock_host_services(mh);
    const char *paths[1] = {memfd_path};
    kube_config *cfg = NULL;
    fcb_error err = FCB_ERROR_INIT;
    mock_host_fail_alloc(mh, fail_at);
    int rc = kube_config_from_files(svc, paths, 1, NULL, &cfg, &err);
    mock_host_fail_alloc(mh, 0);
    if (rc == FCB_OK) {
        FUZZ_REQUIRE(cfg != NULL && cfg->server != NULL && cfg->namespace != NULL,
                     "incomplete config");
        FUZZ_REQUIRE(strstr(cfg->server, "://") != NULL, "server without scheme: %s", cfg->server);
        char shown[KUBE_LONG_SHOWN_SIZE];
        check_no_secret(input, kube_url_shown(shown, cfg->server), "server as shown");
        kube_config_free(svc, cfg);
    } else {
        FUZZ_REQUIRE(rc == FCB_ERR_CONFIG || rc == FCB_ERR_NO_MEMORY, "rc %d", rc);
        FUZZ_REQUIRE(err.code == rc, "err.code %d rc %d", err.code, rc);
        FUZZ_REQUIRE(memchr(err.message, '\0', sizeof err.message) != NULL && err.message[0],
                     "empty or unterminated message");
        if (rc == FCB_ERR_CONFIG && fail_at == 0)
            FUZZ_REQUIRE(strstr(err.message, memfd_path) != NULL ||
                             strstr(err.message, "kubeconfig") != NULL,
                         "message does not name the file: %s", err.message);
        check_no_secret(input, err.message, "error");
    }
    char *log = mock_host_log_text(mh);
    check_no_secret(input, log, "log");
    free(log);
    FUZZ_REQUIRE(mock_host_outstanding_bytes(mh) == 0, "%zu bytes leaked (fail_at %zu)",
                 mock_host_outstanding_bytes(mh), fail_at);
    mock_host_free(mh);
}

int fuzz_kubeconfig(const uint8_t *data, size_t size)
{
    if (memfd < 0) {
        memfd = memfd_create("fuzz-kubeconfig", MFD_CLOEXEC);
        FUZZ_REQUIRE(memfd >= 0, "memfd_create failed");
        snprintf(memfd_path, sizeof memfd_path, "/proc/self/fd/%d", memfd);
    }
    if (size > 256 * 1024)
        return 0;
    FUZZ_REQUIRE(ftruncate(memfd, 0) == 0, "ftruncate");
    FUZZ_REQUIRE(pwrite(memfd, data, size, 0) == (ssize_t)size, "pwrite");
    char *input = fuzz_strndup(data, size);
    load_once(input, 0);
    for (size_t n = 1; n <= 3; n++)
        load_once(input, n * 3);
    free(input);
    return 0;
}
