/* kube_exec: posix_spawn + poll-bounded capture of an exec credential plugin. */
#include "kube_exec.h"

#include "http.h"
#include "jsonx.h"
#include "base64.h"
#include "svc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define EXEC_CANCEL_CHECK_MS 100u
#define EXEC_PLUGIN          "k8s"

void kube_exec_result_clear(const fcb_host_services *host, kube_exec_result *result)
{
    kube_secret_free(host, result->token);
    svc_free(host, result->cert_pem);
    if (result->key_pem != NULL) {
        explicit_bzero(result->key_pem, result->key_len);
        svc_free(host, result->key_pem);
    }
    memset(result, 0, sizeof *result);
}

bool kube_time_parse(const char *text, time_t *out)
{
    int year, mon, day, hour, min, sec, consumed = 0;
    if (text == NULL ||
        sscanf(text, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &year, &mon, &day, &hour, &min, &sec,
               &consumed) != 6 ||
        consumed == 0)
        return false;
    const char *p = text + consumed;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, n = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5)
            return false;
        offset = (oh * 60L + om) * 60L * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return false;
    }
    if (*p != '\0' || mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 ||
        sec > 60)
        return false;
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = mon - 1,
                    .tm_mday = day,
                    .tm_hour = hour,
                    .tm_min = min,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return false;
    *out = t - offset;
    return true;
}

char *kube_exec_info(const fcb_host_services *host, const kube_config *cfg)
{
    char *text = NULL;
    json_object *root = json_object_new_object();
    json_object *spec = json_object_new_object();
    if (root == NULL || spec == NULL) {
        json_object_put(spec);
        goto out;
    }
    json_object_object_add(root, "kind", json_object_new_string("ExecCredential"));
    json_object_object_add(root, "apiVersion", json_object_new_string(cfg->exec->api_version));
    json_object_object_add(root, "spec", spec);
    json_object_object_add(spec, "interactive", json_object_new_boolean(0));
    if (cfg->exec->provide_cluster_info) {
        json_object *cluster = json_object_new_object();
        if (cluster == NULL)
            goto out;
        json_object_object_add(spec, "cluster", cluster);
        json_object_object_add(cluster, "server", json_object_new_string(cfg->server));
        if (cfg->tls_server_name != NULL)
            json_object_object_add(cluster, "tls-server-name",
                                   json_object_new_string(cfg->tls_server_name));
        if (cfg->insecure)
            json_object_object_add(cluster, "insecure-skip-tls-verify", json_object_new_boolean(1));
        if (cfg->proxy_url != NULL)
            json_object_object_add(cluster, "proxy-url", json_object_new_string(cfg->proxy_url));
        if (cfg->ca_pem != NULL) {
            char *b64 = base64_encode(host, cfg->ca_pem, cfg->ca_len);
            if (b64 == NULL)
                goto out;
            json_object_object_add(cluster, "certificate-authority-data",
                                   json_object_new_string(b64));
            svc_free(host, b64);
        }
    }
    text = svc_strdup(host, json_object_to_json_string_ext(
                                root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
out:
    json_object_put(root);
    return text;
}

int kube_exec_parse(const fcb_host_services *host, const char *api_version, const char *where,
                    const char *text, size_t len, kube_exec_result *out, fcb_error *err)
{
    int rc = FCB_OK;
    memset(out, 0, sizeof *out);
    json_tokener *tok = json_tokener_new();
    if (tok == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    json_object *root =
        len > 0 && len < (size_t)INT32_MAX ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    if (root == NULL || !json_object_is_type(root, json_type_object)) {
        rc = err_set(err, FCB_ERR_CONFIG, "%s: output is not an ExecCredential JSON object", where);
        goto out;
    }
    const char *kind = jsonx_get_string(root, "kind");
    const char *api = jsonx_get_string(root, "apiVersion");
    if (kind == NULL || strcmp(kind, "ExecCredential") != 0) {
        rc = err_set(err, FCB_ERR_CONFIG, "%s: output kind is '%s', expected ExecCredential", where,
                     kind != NULL ? kind : "");
        goto out;
    }
    if (api == NULL || strcmp(api, api_version) != 0) {
        rc = err_set(err, FCB_ERR_CONFIG,
                     "%s: plugin returned apiVersion '%s', the kubeconfig asks for '%s'", where,
                     api != NULL ? api : "", api_version);
        goto out;
    }
    json_object *status = jsonx_get(root, "status");
    if (status == NULL) {
        rc = err_set(err, FCB_ERR_CONFIG, "%s: output has no status", where);
        goto out;
    }
    const char *token = jsonx_get_string(status, "token");
    const char *cert = jsonx_get_string(status, "clientCertificateData");
    const char *key = jsonx_get_string(status, "clientKeyData");
    const char *expiry = jsonx_get_string(status, "expirationTimestamp");
    if ((token == NULL || token[0] == '\0') && (cert == NULL || key == NULL)) {
        rc = err_set(err, FCB_ERR_CONFIG,
                     "%s: status has neither token nor clientCertificateData+clientKeyData", where);
        goto out;
    }
    if ((cert == NULL) != (key == NULL)) {
        rc = err_set(err, FCB_ERR_CONFIG, "%s: status.%s missing", where,
                     cert == NULL ? "clientCertificateData" : "clientKeyData");
        goto out;
    }
    if (expiry != NULL) {
        if (!kube_time_parse(expiry, &out->expiry)) {
            rc = err_set(err, FCB_ERR_CONFIG,
                         "%s: status.expirationTimestamp '%s' is not an RFC 3339 time", where,
                         expiry);
            goto out;
        }
        out->has_expiry = true;
    }
    if (token != NULL && token[0] != '\0' && (out->token = svc_strdup(host, token)) == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    if (cert != NULL) {
        out->cert_len = strlen(cert);
        out->key_len = strlen(key);
        out->cert_pem = svc_memdup(host, cert, out->cert_len);
        out->key_pem = svc_memdup(host, key, out->key_len);
        if (out->cert_pem == NULL || out->key_pem == NULL) {
            rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
            goto out;
        }
    }
out:
    if (rc != FCB_OK)
        kube_exec_result_clear(host, out);
    /* The parsed tree holds the token: json-c frees it; scrub the string we can reach. */
    json_object_put(root);
    json_tokener_free(tok);
    return rc;
}

static bool env_overridden(const char *entry, char *const *overrides, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t name_len = strcspn(overrides[i], "=");
        if (strncmp(entry, overrides[i], name_len) == 0 && entry[name_len] == '=')
            return true;
    }
    return false;
}

/* environ + exec env + KUBERNETES_EXEC_INFO; pointers borrowed, array host-allocated. */
static char **build_env(const fcb_host_services *host, const kube_exec_config *exec,
                        char *info_entry)
{
    size_t n_parent = 0;
    while (environ != NULL && environ[n_parent] != NULL && n_parent < 100000)
        n_parent++;
    char **env = svc_calloc(host, n_parent + exec->n_env + 2, sizeof *env);
    if (env == NULL)
        return NULL;
    size_t n = 0;
    char *own[1] = {info_entry};
    for (size_t i = 0; i < n_parent; i++)
        if (!env_overridden(environ[i], exec->env, exec->n_env) &&
            !env_overridden(environ[i], own, 1))
            env[n++] = environ[i];
    for (size_t i = 0; i < exec->n_env; i++)
        env[n++] = exec->env[i];
    env[n++] = info_entry;
    env[n] = NULL;
    return env;
}

static void first_line(const char *text, size_t len, char *out, size_t out_size)
{
    size_t i = 0, o = 0;
    while (i < len && (text[i] == '\n' || text[i] == ' '))
        i++;
    for (; i < len && text[i] != '\n' && o + 1 < out_size; i++)
        out[o++] = (unsigned char)text[i] < 0x20 ? ' ' : text[i];
    out[o] = '\0';
}

int kube_exec_run(const fcb_host_services *host, const kube_config *cfg, unsigned timeout_ms,
                  const atomic_bool *cancel, kube_exec_result *out, fcb_error *err)
{
    const kube_exec_config *exec = cfg->exec;
    int rc = FCB_OK;
    int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
    pid_t pid = -1;
    char *info = NULL, *info_entry = NULL;
    char **argv = NULL, **envp = NULL;
    bool actions_ready = false;
    posix_spawn_file_actions_t actions;
    sbuf so, se;
    sbuf_init(&so, host, 0);
    sbuf_init(&se, host, 0);
    char where[512];
    snprintf(where, sizeof where, "exec plugin '%s' (user '%s' in %s)", exec->command,
             cfg->user != NULL ? cfg->user : "", cfg->origin);
    memset(out, 0, sizeof *out);

    info = kube_exec_info(host, cfg);
    info_entry = info != NULL ? svc_sprintf(host, "KUBERNETES_EXEC_INFO=%s", info) : NULL;
    argv = svc_calloc(host, exec->n_args + 2, sizeof *argv);
    if (info_entry == NULL || argv == NULL || (envp = build_env(host, exec, info_entry)) == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    argv[0] = exec->command;
    for (size_t i = 0; i < exec->n_args; i++)
        argv[i + 1] = exec->args[i];
    if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
        rc = err_set(err, FCB_ERR_CONFIG, "%s: pipe: %s", where, strerror(errno));
        goto out;
    }
    if (posix_spawn_file_actions_init(&actions) != 0) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    actions_ready = true;
    if (posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0) != 0 ||
        posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1) != 0 ||
        posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2) != 0) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    int spawn_rc = strchr(exec->command, '/') != NULL
                       ? posix_spawn(&pid, exec->command, &actions, NULL, argv, envp)
                       : posix_spawnp(&pid, exec->command, &actions, NULL, argv, envp);
    if (spawn_rc != 0) {
        pid = -1;
        bool missing = spawn_rc == ENOENT && strchr(exec->command, '/') == NULL;
        rc = err_set(err, FCB_ERR_CONFIG, "%s: cannot run: %s%s", where, strerror(spawn_rc),
                     missing ? " (not found in PATH; install it or give a path)" : "");
        if (missing && exec->install_hint != NULL && err != NULL) {
            size_t len = strlen(err->message);
            snprintf(err->message + len, sizeof err->message - len, ". %s", exec->install_hint);
        }
        goto out;
    }
    close(out_pipe[1]);
    close(err_pipe[1]);
    out_pipe[1] = err_pipe[1] = -1;

    uint64_t deadline = http_now_ms() + timeout_ms;
    bool out_open = true, err_open = true;
    char chunk[4096];
    /* Bounded by the deadline: poll waits at most until then. */
    while (out_open || err_open) {
        uint64_t now = http_now_ms();
        if (now >= deadline) {
            rc = err_set(err, FCB_ERR_CONFIG, "%s: timed out after %u ms", where, timeout_ms);
            goto out;
        }
        if (cancel != NULL && atomic_load(cancel)) {
            rc = err_set(err, FCB_ERR_CANCELLED, "%s: stopped (the backend is closing)", where);
            goto out;
        }
        struct pollfd fds[2] = {{.fd = out_open ? out_pipe[0] : -1, .events = POLLIN},
                                {.fd = err_open ? err_pipe[0] : -1, .events = POLLIN}};
        uint64_t slice = deadline - now;
        if (cancel != NULL && slice > EXEC_CANCEL_CHECK_MS)
            slice = EXEC_CANCEL_CHECK_MS;
        int n = poll(fds, 2, (int)slice);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = err_set(err, FCB_ERR_CONFIG, "%s: poll: %s", where, strerror(errno));
            goto out;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || fds[i].revents == 0)
                continue;
            ssize_t got = read(fds[i].fd, chunk, sizeof chunk);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0) {
                if (i == 0)
                    out_open = false;
                else
                    err_open = false;
                continue;
            }
            if (i == 0) {
                if (so.len + (size_t)got > KUBE_EXEC_MAX_OUTPUT) {
                    rc = err_set(err, FCB_ERR_CONFIG, "%s: output larger than %u bytes", where,
                                 KUBE_EXEC_MAX_OUTPUT);
                    goto out;
                }
                sbuf_append(&so, chunk, (size_t)got);
            } else if (se.len < KUBE_EXEC_MAX_STDERR) {
                size_t keep = (size_t)got;
                if (se.len + keep > KUBE_EXEC_MAX_STDERR)
                    keep = KUBE_EXEC_MAX_STDERR - se.len;
                sbuf_append(&se, chunk, keep);
            }
        }
    }
    explicit_bzero(chunk, sizeof chunk);
    if (sbuf_failed(&so) || sbuf_failed(&se)) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    int status = 0;
    pid_t waited;
    do {
        waited = waitpid(pid, &status, 0);
    } while (waited < 0 && errno == EINTR);
    pid = -1;
    if (se.len > 0)
        svc_log(host, FCB_LOG_DEBUG, EXEC_PLUGIN, "exec credential plugin stderr", "command",
                exec->command, "stderr", se.data, NULL);
    /* waited < 0 (ECHILD: the host ignores SIGCHLD): judge by the output alone. */
    if (waited > 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        char line[256];
        first_line(se.data != NULL ? se.data : "", se.len, line, sizeof line);
        if (WIFEXITED(status))
            rc = err_set(err, FCB_ERR_CONFIG, "%s: exited with status %d%s%s", where,
                         WEXITSTATUS(status), line[0] != '\0' ? ": " : "", line);
        else
            rc = err_set(err, FCB_ERR_CONFIG, "%s: killed by signal %d", where,
                         WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        goto out;
    }
    rc = kube_exec_parse(host, exec->api_version, where, so.data != NULL ? so.data : "", so.len,
                         out, err);
out:
    if (pid > 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (actions_ready)
        posix_spawn_file_actions_destroy(&actions);
    for (int i = 0; i < 2; i++) {
        if (out_pipe[i] >= 0)
            close(out_pipe[i]);
        if (err_pipe[i] >= 0)
            close(err_pipe[i]);
    }
    if (so.data != NULL)
        explicit_bzero(so.data, so.len);
    sbuf_free(&so);
    sbuf_free(&se);
    svc_free(host, argv);
    svc_free(host, envp);
    svc_free(host, info_entry);
    svc_free(host, info);
    return rc;
}
