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
 *   - no secret of the input (see check_secret) appears in the error
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
 * or the password of a URL's userinfo ("://user:PASSWORD@"); at least 8
 * bytes. When what a load shows (error message, log lines, server as
 * kube_url_shown shows it) contains one, the load is repeated with that one
 * occurrence changed (letters and digits rotated, so the YAML keeps its
 * shape): only if the changed value shows up too did the message quote the
 * secret. A value that merely equals a name the message rightly quotes (the
 * file's own path, a context name written elsewhere, a word of the message)
 * does not follow the change and is not flagged.
 */
#define SECRET_MIN     8
#define SECRETS_MAX    64
#define SECRET_MAX_LEN 255

typedef struct secret_span {
    size_t at, len;
} secret_span;

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

static size_t add_span(secret_span *spans, size_t n, const char *input, const char *value,
                       size_t len)
{
    if (len < SECRET_MIN || n == SECRETS_MAX)
        return n;
    spans[n].at = (size_t)(value - input);
    spans[n].len = len > SECRET_MAX_LEN ? SECRET_MAX_LEN : len;
    return n + 1;
}

static size_t find_secrets(const char *input, secret_span *spans)
{
    static const char *const keys[] = {"token", "client-key-data", "password", "value"};
    size_t n = 0;
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
            size_t len =
                quote != '\0' ? strcspn(q, quote == '"' ? "\"\\" : "'") : strcspn(q, "\n\r ,}]#");
            n = add_span(spans, n, input, q, len);
        }
    }
    for (const char *p = input; (p = strstr(p, "://")) != NULL; p += 3) {
        size_t auth = strcspn(p + 3, "/?#\n\r \"'");
        const char *at = memchr(p + 3, '@', auth);
        const char *colon = at != NULL ? memchr(p + 3, ':', (size_t)(at - (p + 3))) : NULL;
        if (colon != NULL)
            n = add_span(spans, n, input, colon + 1, (size_t)(at - colon - 1));
    }
    return n;
}

static char rotate(char c)
{
    if (c >= 'a' && c <= 'z')
        return c == 'z' ? 'a' : (char)(c + 1);
    if (c >= 'A' && c <= 'Z')
        return c == 'Z' ? 'A' : (char)(c + 1);
    if (c >= '0' && c <= '9')
        return c == '9' ? '0' : (char)(c + 1);
    return c;
}

static void write_input(const char *data, size_t size)
{
    FUZZ_REQUIRE(ftruncate(memfd, 0) == 0, "ftruncate");
    FUZZ_REQUIRE(pwrite(memfd, data, size, 0) == (ssize_t)size, "pwrite");
}

/*
 * Load the memfd with allocation FAIL_AT failing, check the properties that
 * do not depend on secrets, and return what the load shows (message, log,
 * server as shown), malloc'd.
 */
static char *load_shown(size_t fail_at)
{
    mock_host *mh = mock_host_new();
    const fcb_host_services *svc = mock_host_services(mh);
    const char *paths[1] = {memfd_path};
    kube_config *cfg = NULL;
    fcb_error err = FCB_ERROR_INIT;
    char server[KUBE_LONG_SHOWN_SIZE] = "";
    mock_host_fail_alloc(mh, fail_at);
    int rc = kube_config_from_files(svc, paths, 1, NULL, &cfg, &err);
    mock_host_fail_alloc(mh, 0);
    if (rc == FCB_OK) {
        FUZZ_REQUIRE(cfg != NULL && cfg->server != NULL && cfg->namespace != NULL,
                     "incomplete config");
        FUZZ_REQUIRE(strstr(cfg->server, "://") != NULL, "server without scheme: %s", cfg->server);
        kube_url_shown(server, cfg->server);
        kube_config_free(svc, cfg);
        err.message[0] = '\0';
    } else {
        FUZZ_REQUIRE(rc == FCB_ERR_CONFIG || rc == FCB_ERR_NO_MEMORY, "rc %d", rc);
        FUZZ_REQUIRE(err.code == rc, "err.code %d rc %d", err.code, rc);
        FUZZ_REQUIRE(memchr(err.message, '\0', sizeof err.message) != NULL && err.message[0],
                     "empty or unterminated message");
        if (rc == FCB_ERR_CONFIG && fail_at == 0)
            FUZZ_REQUIRE(strstr(err.message, memfd_path) != NULL ||
                             strstr(err.message, "kubeconfig") != NULL,
                         "message does not name the file: %s", err.message);
    }
    char *log = mock_host_log_text(mh);
    FUZZ_REQUIRE(mock_host_outstanding_bytes(mh) == 0, "%zu bytes leaked (fail_at %zu)",
                 mock_host_outstanding_bytes(mh), fail_at);
    mock_host_free(mh);
    size_t n = strlen(err.message) + strlen(server) + (log != NULL ? strlen(log) : 0) + 3;
    char *shown = malloc(n);
    FUZZ_REQUIRE(shown != NULL, "out of memory");
    snprintf(shown, n, "%s\n%s\n%s", err.message, server, log != NULL ? log : "");
    free(log);
    return shown;
}

static void check_secret(const char *input, size_t size, const char *shown, secret_span sp,
                         size_t fail_at)
{
    char secret[SECRET_MAX_LEN + 1];
    memcpy(secret, input + sp.at, sp.len);
    secret[sp.len] = '\0';
    if (strstr(shown, secret) == NULL)
        return;
    char *changed = malloc(size + 1);
    FUZZ_REQUIRE(changed != NULL, "out of memory");
    memcpy(changed, input, size + 1);
    for (size_t i = 0; i < sp.len; i++)
        changed[sp.at + i] = rotate(changed[sp.at + i]);
    write_input(changed, size);
    char *shown2 = load_shown(fail_at);
    write_input(input, size);
    char rotated[SECRET_MAX_LEN + 1];
    memcpy(rotated, changed + sp.at, sp.len);
    rotated[sp.len] = '\0';
    FUZZ_REQUIRE(strcmp(rotated, secret) == 0 || strstr(shown2, rotated) == NULL,
                 "secret \"%s\" shown: \"%s\"", secret, shown);
    free(shown2);
    free(changed);
}

static void load_once(const char *input, size_t size, size_t fail_at)
{
    char *shown = load_shown(fail_at);
    secret_span spans[SECRETS_MAX];
    size_t n = find_secrets(input, spans);
    for (size_t i = 0; i < n; i++)
        check_secret(input, size, shown, spans[i], fail_at);
    free(shown);
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
    write_input((const char *)data, size);
    char *input = fuzz_strndup(data, size);
    load_once(input, size, 0);
    for (size_t n = 1; n <= 3; n++)
        load_once(input, size, n * 3);
    free(input);
    return 0;
}
