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
 *   - the message never contains the value of a `token:` or
 *     `client-key-data:` line of the input (secrets stay out of errors);
 *   - zero bytes outstanding after kube_config_free; the first allocations
 *     failing in turn also leak nothing.
 */
#include "fuzz_common.h"
#include "fuzz_targets.h"

#include <kube_config.h>
#include <mock_host.h>

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int memfd = -1;
static char memfd_path[64];

/* Secret values of the input ("token: X" / "client-key-data: X", X >= 8 bytes). */
static void check_no_secret(const char *input, const char *message)
{
    static const char *const keys[] = {"token:", "client-key-data:", "password:"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const char *p = input;
        while ((p = strstr(p, keys[k])) != NULL) {
            p += strlen(keys[k]);
            while (*p == ' ' || *p == '"' || *p == '\'')
                p++;
            size_t n = strcspn(p, "\"'\n\r ,}");
            if (n >= 8) {
                char secret[256];
                if (n >= sizeof secret)
                    n = sizeof secret - 1;
                memcpy(secret, p, n);
                secret[n] = '\0';
                FUZZ_REQUIRE(strstr(message, secret) == NULL, "secret \"%s\" in \"%s\"", secret,
                             message);
            }
        }
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
        check_no_secret(input, err.message);
    }
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
