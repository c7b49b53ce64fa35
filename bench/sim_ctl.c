/* sim_ctl: kubesim as a child process, its ready line, and its admin API. */
#include "sim_ctl.h"

#include "bench_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void errf(char err[SIMCTL_ERR_MAX], const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, SIMCTL_ERR_MAX, fmt, ap);
    va_end(ap);
}

static int copy_field(json_object *ready, const char *key, char *dst, size_t n, bool required,
                      char err[SIMCTL_ERR_MAX])
{
    json_object *v = NULL;
    dst[0] = '\0';
    if (!json_object_object_get_ex(ready, key, &v) || json_object_is_type(v, json_type_null)) {
        if (required) {
            errf(err, "kubesim ready line: field %s missing", key);
            return -1;
        }
        return 0;
    }
    if ((size_t)snprintf(dst, n, "%s", json_object_get_string(v)) >= n) {
        errf(err, "kubesim ready line: field %s too long", key);
        return -1;
    }
    return 0;
}

int simctl_start(simctl *sim, const char *python, const char *launcher, const char *script,
                 const char *dir, const char *const *extra_args, char err[SIMCTL_ERR_MAX])
{
    int rc = -1;
    int pipefd[2] = {-1, -1};
    char line[8192];
    size_t len = 0;
    json_object *ready = NULL;
    const char *argv[64];
    size_t argc = 0;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;

    memset(sim, 0, sizeof(*sim));
    sim->pid = -1;
    snprintf(sim->dir, sizeof(sim->dir), "%s", dir);
    argv[argc++] = python;
    if (launcher)
        argv[argc++] = launcher;
    argv[argc++] = script;
    argv[argc++] = "--dir";
    argv[argc++] = dir;
    argv[argc++] = "--exit-with-parent";
    for (size_t i = 0; extra_args && extra_args[i] && argc < 62; i++)
        argv[argc++] = extra_args[i];
    argv[argc] = NULL;

    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        errf(err, "kubesim: pipe: %s", strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    int sp = posix_spawnp(&sim->pid, python, &fa, &attr, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(pipefd[1]);
    pipefd[1] = -1;
    if (sp != 0) {
        sim->pid = -1;
        errf(err, "kubesim: cannot run %s %s: %s", python, script, strerror(sp));
        goto out;
    }

    /* Read the ready line: bounded by 60 s and the buffer size. */
    int64_t deadline = bench_now_ns() + 60LL * 1000000000;
    while (len < sizeof(line) - 1 && memchr(line, '\n', len) == NULL) {
        int64_t left_ms = (deadline - bench_now_ns()) / 1000000;
        if (left_ms <= 0) {
            errf(err, "kubesim: no ready line within 60 s (see its stderr)");
            goto out;
        }
        struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
        int pr = poll(&p, 1, (int)left_ms);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        ssize_t r = read(pipefd[0], line + len, sizeof(line) - 1 - len);
        if (r <= 0) {
            errf(err, "kubesim exited before it was ready (see its stderr)");
            goto out;
        }
        len += (size_t)r;
    }
    line[len] = '\0';
    ready = json_tokener_parse(line);
    if (ready == NULL) {
        errf(err, "kubesim: ready line is not JSON: %.200s", line);
        goto out;
    }
    if (copy_field(ready, "url", sim->url, sizeof(sim->url), true, err) ||
        copy_field(ready, "kubeconfig", sim->kubeconfig, sizeof(sim->kubeconfig), true, err) ||
        copy_field(ready, "ca", sim->ca, sizeof(sim->ca), false, err) ||
        copy_field(ready, "client_cert", sim->client_cert, sizeof(sim->client_cert), false, err) ||
        copy_field(ready, "client_key", sim->client_key, sizeof(sim->client_key), false, err))
        goto out;
    char token_file[768];
    if (copy_field(ready, "token_file", token_file, sizeof(token_file), false, err))
        goto out;
    if (token_file[0]) {
        FILE *f = fopen(token_file, "r");
        if (f) {
            if (fgets(sim->token, sizeof(sim->token), f) == NULL)
                sim->token[0] = '\0';
            fclose(f);
            sim->token[strcspn(sim->token, "\r\n")] = '\0';
        }
    }
    bhttp_tls tls = {sim->ca[0] ? sim->ca : NULL, sim->client_cert[0] ? sim->client_cert : NULL,
                     sim->client_key[0] ? sim->client_key : NULL, NULL};
    sim->admin = bhttp_client_new(sim->url, &tls, true);
    if (sim->admin == NULL) {
        errf(err, "kubesim: out of memory");
        goto out;
    }
    rc = 0;
out:
    json_object_put(ready);
    if (pipefd[0] >= 0)
        close(pipefd[0]);
    if (rc != 0)
        simctl_stop(sim);
    return rc;
}

void simctl_stop(simctl *sim)
{
    if (sim->admin) {
        bhttp_client_free(sim->admin);
        sim->admin = NULL;
    }
    if (sim->pid <= 0)
        return;
    kill(sim->pid, SIGTERM);
    int status;
    for (int i = 0; i < 500; i++) {
        pid_t w = waitpid(sim->pid, &status, WNOHANG);
        if (w == sim->pid || (w < 0 && errno == ECHILD)) {
            sim->pid = -1;
            return;
        }
        bench_sleep_ms(10);
    }
    kill(-sim->pid, SIGKILL);
    waitpid(sim->pid, &status, 0);
    sim->pid = -1;
}

json_object *simctl_post(simctl *sim, const char *method, const char *path, const char *body,
                         char err[SIMCTL_ERR_MAX])
{
    bhttp_response resp;
    char why[BHTTP_ERR_MAX];
    json_object *doc = NULL;
    if (sim->admin == NULL) {
        errf(err, "kubesim: not running");
        return NULL;
    }
    if (bhttp_request(sim->admin, method, path, body, 300000, &resp, why) != 0) {
        errf(err, "kubesim %s", why);
        return NULL;
    }
    if (resp.status < 200 || resp.status >= 300) {
        errf(err, "kubesim %s %s: HTTP %ld: %.300s", method, path, resp.status,
             resp.body ? resp.body : "");
        goto out;
    }
    doc = resp.body && resp.len ? json_tokener_parse(resp.body) : json_object_new_object();
    if (doc == NULL)
        errf(err, "kubesim %s %s: response is not JSON", method, path);
out:
    bhttp_response_free(&resp);
    return doc;
}

json_object *simctl_get(simctl *sim, const char *path, char err[SIMCTL_ERR_MAX])
{
    return simctl_post(sim, "GET", path, NULL, err);
}

long simctl_stat_long(json_object *stats, const char *key)
{
    json_object *v = NULL;
    if (stats == NULL || !json_object_object_get_ex(stats, key, &v))
        return 0;
    return (long)json_object_get_int64(v);
}
