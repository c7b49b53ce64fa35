/* kubesim_ctl: process management (fork/exec, ready line, SIGTERM) and libcurl requests
 * for the kubesim simulator. Every wait is bounded: 10 s for the ready line, 5 s for
 * shutdown before SIGKILL, 15 s per HTTP request (the first and last are options). */
#include "kubesim_ctl.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef KUBESIM_PY
#error "build with -DKUBESIM_PY=\"/abs/path/to/tests/kubesim/kubesim.py\""
#endif
#ifndef KUBESIM_PYTHON
#define KUBESIM_PYTHON "python3"
#endif

#define KUBESIM_READY_TIMEOUT_MS   10000
#define KUBESIM_REQUEST_TIMEOUT_MS 15000L
#define KUBESIM_STOP_TIMEOUT_MS    5000
#define KUBESIM_MAX_ARGS           64
#define KUBESIM_LINE_MAX           8192

struct kubesim {
    pid_t pid;
    char dir[256];
    char *url;
    char *kubeconfig;
    char *kubeconfig_token;
    char *ca;
    char *client_cert;
    char *client_key;
    char *token_file;
    long request_timeout_ms;
    /* keep_connection: one easy handle (its connection cache) for every request. */
    CURL *kept;
    pthread_mutex_t kept_lock;
    int kept_lock_init;
};

static _Thread_local char last_error[512];

static int fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return code;
}

const char *kubesim_last_error(void)
{
    return last_error;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(const char *dir)
{
    if (dir[0] != '\0')
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *dup_field(struct json_object *ready, const char *key)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(ready, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return strdup(json_object_get_string(v));
}

static void kubesim_free(kubesim *k)
{
    if (k == NULL)
        return;
    free(k->url);
    free(k->kubeconfig);
    free(k->kubeconfig_token);
    free(k->ca);
    free(k->client_cert);
    free(k->client_key);
    free(k->token_file);
    if (k->kept != NULL)
        curl_easy_cleanup(k->kept);
    if (k->kept_lock_init)
        pthread_mutex_destroy(&k->kept_lock);
    free(k);
}

/* Reads one line from fd within timeout_ms. Returns its length or < 0. */
static int read_line(int fd, char *buf, size_t len, int timeout_ms)
{
    size_t used = 0;
    long long deadline = now_ms() + timeout_ms;
    while (used + 1 < len) {
        long long left = deadline - now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r == 0 ? -ETIMEDOUT : -errno;
        ssize_t n = read(fd, buf + used, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? -EPIPE : -errno;
        if (buf[used] == '\n') {
            buf[used] = '\0';
            return (int)used;
        }
        used++;
    }
    return -EMSGSIZE;
}

static int wait_exit(pid_t pid, int timeout_ms, int *status)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -errno;
        if (now_ms() >= deadline)
            return -ETIMEDOUT;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int kubesim_start(const char *const *extra_args, kubesim **out)
{
    kubesim_options opts = {.extra_args = extra_args};
    return kubesim_start_opts(&opts, out);
}

int kubesim_start_opts(const kubesim_options *opts, kubesim **out)
{
    static const kubesim_options defaults = {0};
    *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    const char *const *extra_args = opts->extra_args;
    if (opts->ready_timeout_ms < 0 || opts->request_timeout_ms < 0)
        return fail(-EINVAL, "kubesim_options: ready_timeout_ms and request_timeout_ms must "
                             "be >= 0 (0 = default)");
    int ready_timeout_ms =
        opts->ready_timeout_ms > 0 ? opts->ready_timeout_ms : KUBESIM_READY_TIMEOUT_MS;
    const char *script = opts->script;
    if (script == NULL || script[0] == '\0')
        script = getenv("KUBESIM_PY");
    if (script == NULL || script[0] == '\0')
        script = KUBESIM_PY;
    const char *python = opts->python;
    if (python == NULL || python[0] == '\0')
        python = getenv("KUBESIM_PYTHON");
    if (python == NULL || python[0] == '\0')
        python = KUBESIM_PYTHON;

    kubesim *k = calloc(1, sizeof *k);
    if (k == NULL)
        return fail(-ENOMEM, "out of memory");
    k->pid = -1;
    k->request_timeout_ms =
        opts->request_timeout_ms > 0 ? opts->request_timeout_ms : KUBESIM_REQUEST_TIMEOUT_MS;
    if (opts->keep_connection) {
        k->kept = curl_easy_init();
        if (k->kept == NULL || pthread_mutex_init(&k->kept_lock, NULL) != 0) {
            kubesim_free(k);
            return fail(-ENOMEM, "keep_connection: cannot create the curl handle or its lock");
        }
        k->kept_lock_init = 1;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(k->dir, sizeof k->dir, "%s/kubesim-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(k->dir) == NULL) {
        int e = errno;
        k->dir[0] = '\0';
        kubesim_free(k);
        return fail(-e, "mkdtemp: %s", strerror(e));
    }

    const char *argv[KUBESIM_MAX_ARGS + 8];
    size_t argc = 0;
    argv[argc++] = python;
    argv[argc++] = script;
    argv[argc++] = "--dir";
    argv[argc++] = k->dir;
    argv[argc++] = "--exit-with-parent";
    for (size_t i = 0; extra_args != NULL && extra_args[i] != NULL; i++) {
        if (i >= KUBESIM_MAX_ARGS) {
            remove_tree(k->dir);
            kubesim_free(k);
            return fail(-E2BIG, "too many extra arguments (max %d)", KUBESIM_MAX_ARGS);
        }
        argv[argc++] = extra_args[i];
    }
    argv[argc] = NULL;

    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        int e = errno;
        remove_tree(k->dir);
        kubesim_free(k);
        return fail(-e, "pipe: %s", strerror(e));
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(pipefd[0]);
        close(pipefd[1]);
        remove_tree(k->dir);
        kubesim_free(k);
        return fail(-e, "fork: %s", strerror(e));
    }
    if (pid == 0) {
        /* Child: stdout -> pipe; die with the parent so tests never leak simulators. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        dup2(pipefd[1], STDOUT_FILENO);
        execvp(python, (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    k->pid = pid;

    char line[KUBESIM_LINE_MAX];
    int n = read_line(pipefd[0], line, sizeof line, ready_timeout_ms);
    close(pipefd[0]);
    if (n < 0) {
        char why[64];
        if (n == -ETIMEDOUT)
            snprintf(why, sizeof why, "timeout after %d ms", ready_timeout_ms);
        else if (n == -EPIPE)
            snprintf(why, sizeof why, "it exited first");
        else
            snprintf(why, sizeof why, "%s", strerror(-n));
        int rc = fail(n, "%s %s did not become ready (%s); see its stderr", python, script, why);
        kubesim_stop(k);
        return rc;
    }
    struct json_object *ready = json_tokener_parse(line);
    if (ready != NULL) {
        k->url = dup_field(ready, "url");
        k->kubeconfig = dup_field(ready, "kubeconfig");
        k->kubeconfig_token = dup_field(ready, "kubeconfig_token");
        k->ca = dup_field(ready, "ca");
        k->client_cert = dup_field(ready, "client_cert");
        k->client_key = dup_field(ready, "client_key");
        k->token_file = dup_field(ready, "token_file");
        json_object_put(ready);
    }
    if (k->url == NULL || k->kubeconfig == NULL || k->token_file == NULL) {
        int rc = fail(-EPROTO, "bad ready line from kubesim: %.200s", line);
        kubesim_stop(k);
        return rc;
    }
    *out = k;
    return 0;
}

int kubesim_stop(kubesim *k)
{
    if (k == NULL)
        return 0;
    int status = 0, rc = -1;
    if (k->kept != NULL) {
        /* Close the kept connection while the simulator still answers. */
        curl_easy_cleanup(k->kept);
        k->kept = NULL;
    }
    if (k->pid > 0) {
        kill(k->pid, SIGTERM);
        if (wait_exit(k->pid, KUBESIM_STOP_TIMEOUT_MS, &status) != 0) {
            kill(k->pid, SIGKILL);
            wait_exit(k->pid, KUBESIM_STOP_TIMEOUT_MS, &status);
            fail(-ETIMEDOUT, "kubesim ignored SIGTERM for 5 s; killed");
        } else if (WIFEXITED(status)) {
            rc = WEXITSTATUS(status);
        }
    }
    remove_tree(k->dir);
    kubesim_free(k);
    return rc;
}

const char *kubesim_url(const kubesim *k)
{
    return k->url;
}
const char *kubesim_dir(const kubesim *k)
{
    return k->dir;
}
const char *kubesim_kubeconfig(const kubesim *k)
{
    return k->kubeconfig;
}
const char *kubesim_kubeconfig_token(const kubesim *k)
{
    return k->kubeconfig_token;
}
const char *kubesim_ca_file(const kubesim *k)
{
    return k->ca;
}
const char *kubesim_client_cert_file(const kubesim *k)
{
    return k->client_cert;
}
const char *kubesim_client_key_file(const kubesim *k)
{
    return k->client_key;
}
const char *kubesim_token_file(const kubesim *k)
{
    return k->token_file;
}
pid_t kubesim_pid(const kubesim *k)
{
    return k->pid;
}

struct buf {
    char *data;
    size_t len;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct buf *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n > (64u << 20))
        return 0;
    char *p = realloc(b->data, b->len + n + 1);
    if (p == NULL)
        return 0;
    memcpy(p + b->len, ptr, n);
    b->data = p;
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

int kubesim_request(kubesim *k, const char *method, const char *path, const char *body,
                    const char *content_type, struct json_object **out)
{
    if (out != NULL)
        *out = NULL;
    size_t ulen = strlen(k->url) + strlen(path) + 1;
    char *url = malloc(ulen);
    if (url == NULL)
        return fail(-ENOMEM, "out of memory");
    snprintf(url, ulen, "%s%s", k->url, path);
    CURL *c;
    if (k->kept != NULL) {
        /* curl_easy_reset keeps the handle's live connections: the next perform reuses. */
        pthread_mutex_lock(&k->kept_lock);
        c = k->kept;
        curl_easy_reset(c);
    } else {
        c = curl_easy_init();
    }
    if (c == NULL) {
        free(url);
        return fail(-ENOMEM, "curl_easy_init failed");
    }
    struct buf b = {0};
    char ctype[256];
    snprintf(ctype, sizeof ctype, "Content-Type: %s",
             content_type ? content_type : "application/json");
    struct curl_slist *hdrs = curl_slist_append(NULL, ctype);
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, k->request_timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (k->ca != NULL) {
        curl_easy_setopt(c, CURLOPT_CAINFO, k->ca);
        curl_easy_setopt(c, CURLOPT_SSLCERT, k->client_cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, k->client_key);
    }
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode cr = curl_easy_perform(c);
    long status = 0;
    int rc;
    if (cr != CURLE_OK) {
        rc = fail(-EIO, "%s %s: %s", method, path, curl_easy_strerror(cr));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        rc = (int)status;
        if (out != NULL && b.data != NULL)
            *out = json_tokener_parse(b.data);
    }
    curl_slist_free_all(hdrs);
    if (k->kept != NULL)
        pthread_mutex_unlock(&k->kept_lock);
    else
        curl_easy_cleanup(c);
    free(b.data);
    free(url);
    return rc;
}

int kubesim_get_json(kubesim *k, const char *path, struct json_object **out)
{
    return kubesim_request(k, "GET", path, NULL, NULL, out);
}

int kubesim_post_json(kubesim *k, const char *path, const char *body, struct json_object **out)
{
    return kubesim_request(k, "POST", path, body ? body : "{}", NULL, out);
}

long kubesim_stat_count(kubesim *k, const char *key)
{
    struct json_object *stats = NULL, *reqs = NULL, *v = NULL;
    int st = kubesim_get_json(k, "/_sim/stats", &stats);
    if (st != 200 || stats == NULL) {
        json_object_put(stats);
        return st < 0 ? st : fail(-EPROTO, "GET /_sim/stats answered %d", st);
    }
    long n = 0;
    if (json_object_object_get_ex(stats, "requests", &reqs) &&
        json_object_object_get_ex(reqs, key, &v))
        n = (long)json_object_get_int64(v);
    json_object_put(stats);
    return n;
}

static int post_expect_200(kubesim *k, const char *path, const char *body)
{
    int st = kubesim_post_json(k, path, body, NULL);
    if (st == 200)
        return 0;
    return st < 0 ? st : fail(-EPROTO, "POST %s answered %d", path, st);
}

int kubesim_set_faults(kubesim *k, const char *faults_json)
{
    return post_expect_200(k, "/_sim/faults", faults_json);
}

int kubesim_reset_stats(kubesim *k)
{
    return post_expect_200(k, "/_sim/reset", "{}");
}

int kubesim_write_token(kubesim *k, const char *token)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s.tmp", k->token_file);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return fail(-errno, "%s: %s", tmp, strerror(errno));
    int ok = fprintf(f, "%s\n", token) > 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, k->token_file) != 0) {
        int e = errno ? errno : EIO;
        unlink(tmp);
        return fail(-e, "writing token: %s", strerror(e));
    }
    return 0;
}

int kubesim_read_token(const kubesim *k, char *buf, size_t len)
{
    if (len == 0)
        return fail(-EINVAL, "empty buffer");
    FILE *f = fopen(k->token_file, "r");
    if (f == NULL)
        return fail(-errno, "%s: %s", k->token_file, strerror(errno));
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return 0;
}
