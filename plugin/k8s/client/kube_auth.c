/*
 * kube_auth: memory files for key material (never on disk), token file
 * re-reads that keep the last good token on failure, exec credentials
 * installed only when newer than ours (their old cert files retired, not
 * closed, while handshakes may still use them).
 */
#include "kube_auth.h"

#include "http.h"
#include "svc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define TOKEN_MAX_BYTES (1u << 20)
#define KUBE_LOG_NAME   "k8s"

static void mem_file_init(kube_mem_file *f)
{
    f->fd = -1;
    f->path[0] = '\0';
}

static void mem_file_close(kube_mem_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    mem_file_init(f);
}

/* Private in-memory file (never on disk, mode irrelevant: only this process can open it). */
static int mem_file_write(kube_mem_file *f, const char *name, const char *data, size_t len,
                          fcb_error *err)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0)
        return err_set(err, FCB_ERR_CONFIG, "memfd_create for %s: %s", name, strerror(errno));
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;
            close(fd);
            return err_set(err, FCB_ERR_CONFIG, "writing %s to memory file: %s", name, strerror(e));
        }
        done += (size_t)n;
    }
    f->fd = fd;
    snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", fd);
    return FCB_OK;
}

/* Trimmed copy of a token file's contents. */
static int read_token_file(kube_auth *a, char **out, fcb_error *err)
{
    char shown[KUBE_LONG_SHOWN_SIZE];
    char *data = NULL;
    size_t len = 0;
    int rc = kube_file_read(a->host, a->cfg->token_file, TOKEN_MAX_BYTES, &data, &len, err);
    if (rc != FCB_OK)
        return err_prefix(err, "%s: tokenFile", a->cfg->origin);
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
        data[--len] = '\0';
    if (len == 0) {
        svc_free(a->host, data);
        return err_set(err, FCB_ERR_CONFIG, "%s: tokenFile %s is empty", a->cfg->origin,
                       kube_path_shown(shown, a->cfg->token_file));
    }
    *out = data;
    return FCB_OK;
}

static int load_files(kube_auth *a, fcb_error *err)
{
    const kube_config *cfg = a->cfg;
    int rc = FCB_OK;
    if (cfg->ca_pem != NULL)
        rc = mem_file_write(&a->ca, "kube-ca", cfg->ca_pem, cfg->ca_len, err);
    if (rc == FCB_OK && cfg->cert_pem != NULL)
        rc = mem_file_write(&a->cert, "kube-cert", cfg->cert_pem, cfg->cert_len, err);
    if (rc == FCB_OK && cfg->cert_pem != NULL)
        rc = mem_file_write(&a->key, "kube-key", cfg->key_pem, cfg->key_len, err);
    return rc;
}

int kube_auth_init(kube_auth *auth, const fcb_host_services *host, const kube_config *cfg,
                   unsigned token_reread_ms, unsigned exec_timeout_ms, const atomic_bool *cancelled,
                   fcb_error *err)
{
    memset(auth, 0, sizeof *auth);
    auth->host = host;
    auth->cfg = cfg;
    auth->cancelled = cancelled;
    auth->token_reread_ms = token_reread_ms;
    auth->exec_timeout_ms = exec_timeout_ms;
    mem_file_init(&auth->ca);
    mem_file_init(&auth->cert);
    mem_file_init(&auth->key);
    mem_file_init(&auth->exec_cert);
    mem_file_init(&auth->exec_key);
    pthread_mutex_init(&auth->lock, NULL);
    int rc = load_files(auth, err);
    if (rc != FCB_OK)
        return rc;
    if (cfg->exec != NULL &&
        (rc = kube_exec_cache_acquire(host, cfg, &auth->exec_cache, err)) != FCB_OK)
        return rc;
    if (cfg->token_file != NULL) {
        rc = read_token_file(auth, &auth->token, err);
        if (rc != FCB_OK)
            return rc;
        auth->token_read_ms = http_now_ms();
    } else if (cfg->token != NULL) {
        auth->token = svc_strdup(host, cfg->token);
        if (auth->token == NULL)
            return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    }
    return FCB_OK;
}

void kube_auth_destroy(kube_auth *auth)
{
    mem_file_close(&auth->ca);
    mem_file_close(&auth->cert);
    mem_file_close(&auth->key);
    mem_file_close(&auth->exec_cert);
    mem_file_close(&auth->exec_key);
    for (size_t i = 0; i < auth->n_retired; i++)
        mem_file_close(&auth->retired[i]);
    kube_secret_free(auth->host, auth->token);
    auth->token = NULL;
    kube_exec_cache_release(auth->exec_cache);
    auth->exec_cache = NULL;
    pthread_mutex_destroy(&auth->lock);
}

static void retire_file(kube_auth *a, kube_mem_file *f)
{
    if (f->fd < 0)
        return;
    if (a->n_retired == KUBE_AUTH_RETIRED_FILES) {
        mem_file_close(&a->retired[0]);
        memmove(&a->retired[0], &a->retired[1],
                (KUBE_AUTH_RETIRED_FILES - 1) * sizeof a->retired[0]);
        a->n_retired--;
    }
    a->retired[a->n_retired++] = *f;
    mem_file_init(f);
}

/* Under the lock: install RES's client certificate, retiring the old files. */
static int exec_install_cert_locked(kube_auth *a, const kube_exec_result *res, fcb_error *err)
{
    kube_mem_file cert, key;
    mem_file_init(&cert);
    mem_file_init(&key);
    int rc = mem_file_write(&cert, "kube-exec-cert", res->cert_pem, res->cert_len, err);
    if (rc == FCB_OK)
        rc = mem_file_write(&key, "kube-exec-key", res->key_pem, res->key_len, err);
    if (rc != FCB_OK) {
        mem_file_close(&cert);
        return rc;
    }
    retire_file(a, &a->exec_cert);
    retire_file(a, &a->exec_key);
    a->exec_cert = cert;
    a->exec_key = key;
    return FCB_OK;
}

/*
 * Under the lock: the exec credential from the shared cache (which runs the
 * plugin when needed; REFUSED: the server answered 401 to ours), installed
 * when it is newer than ours.
 */
static int exec_refresh_locked(kube_auth *a, bool refused, fcb_error *err)
{
    kube_exec_result res;
    unsigned long generation = 0;
    int rc = kube_exec_cache_get(a->exec_cache, a->cfg, a->exec_timeout_ms, a->cancelled,
                                 refused ? a->exec_generation : 0, &res, &generation, err);
    if (rc != FCB_OK) {
        a->exec_generation = 0;
        return rc;
    }
    if (generation == a->exec_generation) {
        kube_exec_result_clear(a->host, &res);
        return FCB_OK;
    }
    if (res.cert_pem != NULL && (rc = exec_install_cert_locked(a, &res, err)) != FCB_OK) {
        kube_exec_result_clear(a->host, &res);
        return rc;
    }
    kube_secret_free(a->host, a->token);
    a->token = res.token;
    res.token = NULL;
    a->exec_generation = generation;
    a->exec_has_expiry = res.has_expiry;
    a->exec_expiry = res.expiry;
    kube_exec_result_clear(a->host, &res);
    return FCB_OK;
}

/* Under the lock: re-read the token file; on failure keep the last good token. */
static void token_file_refresh_locked(kube_auth *a)
{
    char *fresh = NULL;
    fcb_error read_err = FCB_ERROR_INIT;
    if (read_token_file(a, &fresh, &read_err) == FCB_OK) {
        kube_secret_free(a->host, a->token);
        a->token = fresh;
    } else {
        /* The server decides whether the old token still works. */
        svc_log(a->host, FCB_LOG_WARN, KUBE_LOG_NAME, "cannot re-read the token file", "error",
                read_err.message, NULL);
    }
    a->token_read_ms = http_now_ms();
}

int kube_auth_get(kube_auth *auth, bool force_refresh, kube_credentials *out, fcb_error *err)
{
    kube_auth *a = auth;
    int rc = FCB_OK;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&a->lock);
    if (a->cfg->exec != NULL) {
        bool expired =
            a->exec_has_expiry && time(NULL) + KUBE_EXEC_EXPIRY_MARGIN_S >= a->exec_expiry;
        if (force_refresh || a->exec_generation == 0 || expired)
            rc = exec_refresh_locked(a, force_refresh, err);
    } else if (a->cfg->token_file != NULL &&
               (force_refresh || http_now_ms() - a->token_read_ms >= a->token_reread_ms)) {
        token_file_refresh_locked(a);
    }
    if (rc == FCB_OK && a->token != NULL && (out->bearer = svc_strdup(a->host, a->token)) == NULL)
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    const kube_mem_file *cf = a->exec_cert.fd >= 0 ? &a->exec_cert : &a->cert;
    const kube_mem_file *kf = a->exec_key.fd >= 0 ? &a->exec_key : &a->key;
    snprintf(out->cert, sizeof out->cert, "%s", cf->path);
    snprintf(out->key, sizeof out->key, "%s", kf->path);
    pthread_mutex_unlock(&a->lock);
    return rc;
}

void kube_credentials_clear(const fcb_host_services *host, kube_credentials *creds)
{
    kube_secret_free(host, creds->bearer);
    memset(creds, 0, sizeof *creds);
}

bool kube_auth_refreshable(const kube_auth *auth)
{
    return auth->cfg->exec != NULL || auth->cfg->token_file != NULL;
}

const char *kube_auth_ca_file(const kube_auth *auth)
{
    return auth->ca.fd >= 0 ? auth->ca.path : NULL;
}
