/* kube_exec: posix_spawn + poll-bounded capture of an exec credential plugin. */
#include "kube_exec.h"

#include "http.h"
#include "jsonx.h"
#include "base64.h"
#include "svc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define EXEC_CANCEL_CHECK_MS 100u
/* After the plugin exits, its pipes are read this much longer (a child it left may hold them). */
#define EXEC_DRAIN_MS        200u
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
    char shown[KUBE_SHOWN_SIZE];
    if (kind == NULL || strcmp(kind, "ExecCredential") != 0) {
        rc = err_set(err, FCB_ERR_CONFIG, "%s: output kind is '%s', expected ExecCredential", where,
                     kube_shown(shown, kind));
        goto out;
    }
    if (api == NULL || strcmp(api, api_version) != 0) {
        rc = err_set(err, FCB_ERR_CONFIG,
                     "%s: plugin returned apiVersion '%s', the kubeconfig asks for '%s'", where,
                     kube_shown(shown, api), api_version);
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
                         kube_shown(shown, expiry));
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

/*
 * An installHint is prose (spaces allowed) but comes from the kubeconfig:
 * printable ASCII only, at most KUBE_HINT_SHOWN_MAX bytes, cut at a quote or
 * backslash and at ": " / " #" (a quote left open before it folds the
 * following "key: value" lines into the hint).
 */
#define KUBE_HINT_SHOWN_MAX  200
#define KUBE_HINT_SHOWN_SIZE (KUBE_HINT_SHOWN_MAX + 4)
static const char *hint_shown(char out[KUBE_HINT_SHOWN_SIZE], const char *hint)
{
    size_t n = 0;
    while (n < KUBE_HINT_SHOWN_MAX && hint[n] >= ' ' && hint[n] < 0x7f &&
           strchr("\"'\\`", hint[n]) == NULL && !(hint[n] == ':' && hint[n + 1] == ' ') &&
           !(hint[n] == ' ' && hint[n + 1] == '#')) {
        out[n] = hint[n];
        n++;
    }
    memcpy(out + n, hint[n] != '\0' ? "..." : "", hint[n] != '\0' ? 4 : 1);
    return out;
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

/* A running plugin. */
typedef struct exec_proc {
    pid_t pid;          /* -1 once reaped or never started */
    pid_t pgid;         /* its process group (= its first pid), -1 if never started */
    int out_fd, err_fd; /* read ends of stdout / stderr, -1 when closed */
    bool exited;        /* reaped by the capture loop; status holds its wait status */
    int status;
} exec_proc;

/*
 * Spawn the plugin with stdin /dev/null and stdout/stderr on pipes, in a
 * process group of its own (so a timeout or close kills what it started
 * too), with an empty signal mask and default dispositions (not the calling
 * thread's blocked mask nor the host's ignored signals).
 */
static int exec_spawn(const kube_exec_config *exec, char **argv, char **envp, const char *where,
                      exec_proc *p, fcb_error *err)
{
    int rc = FCB_OK;
    int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
    bool actions_ready = false, attr_ready = false;
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
        rc = err_set(err, FCB_ERR_CONFIG, "%s: pipe: %s", where, strerror(errno));
        goto out;
    }
    actions_ready = posix_spawn_file_actions_init(&actions) == 0;
    attr_ready = posix_spawnattr_init(&attr) == 0;
    if (!actions_ready || !attr_ready ||
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0) != 0 ||
        posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1) != 0 ||
        posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2) != 0 ||
        posix_spawnattr_setsigmask(&attr, &none) != 0 ||
        posix_spawnattr_setsigdefault(&attr, &all) != 0 ||
        posix_spawnattr_setpgroup(&attr, 0) != 0 ||
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                            POSIX_SPAWN_SETPGROUP) != 0) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    int spawn_rc = strchr(exec->command, '/') != NULL
                       ? posix_spawn(&p->pid, exec->command, &actions, &attr, argv, envp)
                       : posix_spawnp(&p->pid, exec->command, &actions, &attr, argv, envp);
    if (spawn_rc != 0) {
        p->pid = -1;
        bool missing = spawn_rc == ENOENT && strchr(exec->command, '/') == NULL;
        rc = err_set(err, FCB_ERR_CONFIG, "%s: cannot run: %s%s", where, strerror(spawn_rc),
                     missing ? " (not found in PATH; install it or give a path)" : "");
        if (missing && exec->install_hint != NULL && err != NULL) {
            char hint[KUBE_HINT_SHOWN_SIZE];
            size_t len = strlen(err->message);
            snprintf(err->message + len, sizeof err->message - len, ". %s",
                     hint_shown(hint, exec->install_hint));
        }
        goto out;
    }
    p->pgid = p->pid;
    p->out_fd = out_pipe[0];
    p->err_fd = err_pipe[0];
    out_pipe[0] = err_pipe[0] = -1;
out:
    if (actions_ready)
        posix_spawn_file_actions_destroy(&actions);
    if (attr_ready)
        posix_spawnattr_destroy(&attr);
    for (int i = 0; i < 2; i++) {
        if (out_pipe[i] >= 0)
            close(out_pipe[i]);
        if (err_pipe[i] >= 0)
            close(err_pipe[i]);
    }
    return rc;
}

/*
 * Kill the plugin's whole process group (what it started too, even after the
 * plugin itself exited: the group lives on while a member does) and reap the
 * plugin.
 */
static void exec_kill(exec_proc *p)
{
    if (p->pgid > 0)
        kill(-p->pgid, SIGKILL);
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGKILL); /* in case it left its group */
    while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    p->pid = -1;
}

/* Read from FD into BUF (stdout: refused past LIMIT; stderr: kept up to LIMIT). */
static int exec_read(int *fd, sbuf *buf, size_t limit, bool refuse, const char *where,
                     fcb_error *err)
{
    char chunk[4096];
    int rc = FCB_OK;
    ssize_t got = read(*fd, chunk, sizeof chunk);
    if (got < 0 && (errno == EINTR || errno == EAGAIN))
        return FCB_OK;
    if (got <= 0) {
        close(*fd);
        *fd = -1;
    } else if (refuse && buf->len + (size_t)got > limit) {
        rc = err_set(err, FCB_ERR_CONFIG, "%s: output larger than %zu bytes", where, limit);
    } else if (buf->len < limit) {
        sbuf_append(buf, chunk, buf->len + (size_t)got > limit ? limit - buf->len : (size_t)got);
    }
    explicit_bzero(chunk, sizeof chunk);
    return rc;
}

/*
 * Capture stdout and stderr until both close, within TIMEOUT_MS. Once the
 * plugin itself has exited, what it started may still hold the pipes: they
 * are read for EXEC_DRAIN_MS more, then left (the plugin's answer is
 * complete).
 */
static int exec_capture(exec_proc *p, unsigned timeout_ms, const atomic_bool *cancel,
                        const char *where, sbuf *so, sbuf *se, fcb_error *err)
{
    uint64_t deadline = http_now_ms() + timeout_ms, drain_until = 0;
    /* Bounded by the deadline: poll waits at most EXEC_CANCEL_CHECK_MS at a time. */
    while (p->out_fd >= 0 || p->err_fd >= 0) {
        uint64_t now = http_now_ms();
        if (now >= deadline)
            return err_set(err, FCB_ERR_CONFIG, "%s: timed out after %u ms", where, timeout_ms);
        if (cancel != NULL && atomic_load(cancel))
            return err_set(err, FCB_ERR_CANCELLED, "%s: stopped (the backend is closing)", where);
        if (!p->exited && waitpid(p->pid, &p->status, WNOHANG) == p->pid) {
            p->exited = true;
            p->pid = -1;
            drain_until = now + EXEC_DRAIN_MS;
        }
        if (p->exited && now >= drain_until)
            break;
        struct pollfd fds[2] = {{.fd = p->out_fd, .events = POLLIN},
                                {.fd = p->err_fd, .events = POLLIN}};
        uint64_t slice = deadline - now;
        if (slice > EXEC_CANCEL_CHECK_MS)
            slice = EXEC_CANCEL_CHECK_MS;
        int n = poll(fds, 2, (int)slice);
        if (n < 0 && errno != EINTR)
            return err_set(err, FCB_ERR_CONFIG, "%s: poll: %s", where, strerror(errno));
        int rc = FCB_OK;
        if (n > 0 && fds[0].revents != 0)
            rc = exec_read(&p->out_fd, so, KUBE_EXEC_MAX_OUTPUT, true, where, err);
        if (rc == FCB_OK && n > 0 && fds[1].revents != 0)
            rc = exec_read(&p->err_fd, se, KUBE_EXEC_MAX_STDERR, false, where, err);
        if (rc != FCB_OK)
            return rc;
    }
    if (sbuf_failed(so) || sbuf_failed(se))
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    return FCB_OK;
}

/* The plugin's wait status as an error, or FCB_OK for exit status 0 (or unknown). */
static int exec_status(exec_proc *p, const sbuf *se, const char *where, fcb_error *err)
{
    int status = p->status;
    pid_t waited = p->exited ? 1 : -1;
    if (!p->exited) {
        do {
            waited = waitpid(p->pid, &status, 0);
        } while (waited < 0 && errno == EINTR);
        p->pid = -1;
    }
    /* waited < 0 (ECHILD: the host ignores SIGCHLD): judge by the output alone. */
    if (waited < 0 || (WIFEXITED(status) && WEXITSTATUS(status) == 0))
        return FCB_OK;
    char line[256];
    first_line(se->data != NULL ? se->data : "", se->len, line, sizeof line);
    if (WIFEXITED(status))
        return err_set(err, FCB_ERR_CONFIG, "%s: exited with status %d%s%s", where,
                       WEXITSTATUS(status), line[0] != '\0' ? ": " : "", line);
    return err_set(err, FCB_ERR_CONFIG, "%s: killed by signal %d", where,
                   WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

int kube_exec_run(const fcb_host_services *host, const kube_config *cfg, unsigned timeout_ms,
                  const atomic_bool *cancel, kube_exec_result *out, fcb_error *err)
{
    const kube_exec_config *exec = cfg->exec;
    int rc = FCB_OK;
    exec_proc proc = {.pid = -1, .pgid = -1, .out_fd = -1, .err_fd = -1};
    char *info = NULL, *info_entry = NULL;
    char **argv = NULL, **envp = NULL;
    sbuf so, se;
    sbuf_init(&so, host, 0);
    sbuf_init(&se, host, 0);
    char where[512], shown_command[KUBE_LONG_SHOWN_SIZE], shown_user[KUBE_SHOWN_SIZE];
    snprintf(where, sizeof where, "exec plugin '%s' (user '%s' in %s)",
             kube_path_shown(shown_command, exec->command), kube_shown(shown_user, cfg->user),
             cfg->origin);
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
    rc = exec_spawn(exec, argv, envp, where, &proc, err);
    if (rc == FCB_OK)
        rc = exec_capture(&proc, timeout_ms, cancel, where, &so, &se, err);
    if (rc != FCB_OK)
        goto out;
    if (se.len > 0)
        svc_log(host, FCB_LOG_DEBUG, EXEC_PLUGIN, "exec credential plugin stderr", "command",
                shown_command, "stderr", se.data, NULL);
    rc = exec_status(&proc, &se, where, err);
    if (rc == FCB_OK)
        rc = kube_exec_parse(host, exec->api_version, where, so.data != NULL ? so.data : "", so.len,
                             out, err);
out:
    /* Success: the plugin was reaped; what it left running (a daemon it started) stays. */
    if (rc != FCB_OK)
        exec_kill(&proc);
    if (proc.out_fd >= 0)
        close(proc.out_fd);
    if (proc.err_fd >= 0)
        close(proc.err_fd);
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

/* ---------------------------------------------------------------------- */
/* credential cache                                                         */

struct kube_exec_cache {
    const fcb_host_services *host;
    char *key; /* what identifies the plugin run (holds env values: wiped on free) */
    size_t key_len;
    unsigned refs;         /* under cache_registry_lock */
    pthread_mutex_t lock;  /* serialises runs and guards what follows */
    kube_exec_result cred; /* valid when generation > 0 */
    unsigned long generation;
    kube_exec_cache *next;
};

static pthread_mutex_t cache_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static kube_exec_cache *cache_registry;

static void key_put(sbuf *key, const char *text)
{
    sbuf_append(key, text != NULL ? text : "", text != NULL ? strlen(text) + 1 : 1);
}

/* Everything the plugin run depends on, NUL-separated; host-allocated. */
static char *cache_key(const fcb_host_services *host, const kube_config *cfg, size_t *len)
{
    const kube_exec_config *e = cfg->exec;
    sbuf key;
    sbuf_init(&key, host, 0);
    char *info = kube_exec_info(host, cfg);
    if (info == NULL)
        return NULL;
    key_put(&key, cfg->origin);
    key_put(&key, cfg->user);
    key_put(&key, e->api_version);
    key_put(&key, e->command);
    key_put(&key, info);
    for (size_t i = 0; i < e->n_args; i++)
        key_put(&key, e->args[i]);
    key_put(&key, "\x01"); /* args | env */
    for (size_t i = 0; i < e->n_env; i++)
        key_put(&key, e->env[i]);
    svc_free(host, info);
    if (sbuf_failed(&key)) {
        if (key.data != NULL)
            explicit_bzero(key.data, key.len);
        sbuf_free(&key);
        return NULL;
    }
    return sbuf_steal(&key, len);
}

static void cache_free(kube_exec_cache *c)
{
    explicit_bzero(c->key, c->key_len);
    svc_free(c->host, c->key);
    kube_exec_result_clear(c->host, &c->cred);
    pthread_mutex_destroy(&c->lock);
    svc_free(c->host, c);
}

int kube_exec_cache_acquire(const fcb_host_services *host, const kube_config *cfg,
                            kube_exec_cache **out, fcb_error *err)
{
    size_t len = 0;
    char *key = cache_key(host, cfg, &len);
    *out = NULL;
    if (key == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    pthread_mutex_lock(&cache_registry_lock);
    kube_exec_cache *c = cache_registry;
    while (c != NULL && !(c->host == host && c->key_len == len && memcmp(c->key, key, len) == 0))
        c = c->next;
    if (c != NULL) {
        c->refs++;
        explicit_bzero(key, len);
        svc_free(host, key);
    } else if ((c = svc_calloc(host, 1, sizeof *c)) != NULL) {
        c->host = host;
        c->key = key;
        c->key_len = len;
        c->refs = 1;
        pthread_mutex_init(&c->lock, NULL);
        c->next = cache_registry;
        cache_registry = c;
    } else {
        explicit_bzero(key, len);
        svc_free(host, key);
    }
    pthread_mutex_unlock(&cache_registry_lock);
    if (c == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    *out = c;
    return FCB_OK;
}

void kube_exec_cache_release(kube_exec_cache *cache)
{
    if (cache == NULL)
        return;
    pthread_mutex_lock(&cache_registry_lock);
    bool last = --cache->refs == 0;
    if (last)
        for (kube_exec_cache **p = &cache_registry; *p != NULL; p = &(*p)->next)
            if (*p == cache) {
                *p = cache->next;
                break;
            }
    pthread_mutex_unlock(&cache_registry_lock);
    if (last)
        cache_free(cache);
}

/* Copy of SRC in host memory (secrets included); FCB_ERR_NO_MEMORY. */
static int result_copy(const fcb_host_services *host, const kube_exec_result *src,
                       kube_exec_result *dst, fcb_error *err)
{
    memset(dst, 0, sizeof *dst);
    dst->has_expiry = src->has_expiry;
    dst->expiry = src->expiry;
    dst->cert_len = src->cert_len;
    dst->key_len = src->key_len;
    if ((src->token != NULL && (dst->token = svc_strdup(host, src->token)) == NULL) ||
        (src->cert_pem != NULL &&
         (dst->cert_pem = svc_memdup(host, src->cert_pem, src->cert_len)) == NULL) ||
        (src->key_pem != NULL &&
         (dst->key_pem = svc_memdup(host, src->key_pem, src->key_len)) == NULL)) {
        kube_exec_result_clear(host, dst);
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    }
    return FCB_OK;
}

int kube_exec_cache_get(kube_exec_cache *cache, const kube_config *cfg, unsigned timeout_ms,
                        const atomic_bool *cancel, unsigned long refused, kube_exec_result *out,
                        unsigned long *generation, fcb_error *err)
{
    const fcb_host_services *host = cache->host;
    int rc = FCB_OK;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&cache->lock);
    bool expired =
        cache->cred.has_expiry && time(NULL) + KUBE_EXEC_EXPIRY_MARGIN_S >= cache->cred.expiry;
    if (cache->generation == 0 || expired || refused == cache->generation) {
        kube_exec_result fresh;
        rc = kube_exec_run(host, cfg, timeout_ms, cancel, &fresh, err);
        if (rc == FCB_OK) {
            kube_exec_result_clear(host, &cache->cred);
            cache->cred = fresh;
            cache->generation++;
            char shown[KUBE_LONG_SHOWN_SIZE];
            svc_log(host, FCB_LOG_DEBUG, EXEC_PLUGIN, "exec credential plugin ran", "command",
                    kube_path_shown(shown, cfg->exec->command), NULL);
        }
    }
    if (rc == FCB_OK)
        rc = result_copy(host, &cache->cred, out, err);
    *generation = cache->generation;
    pthread_mutex_unlock(&cache->lock);
    return rc;
}
