/* baseline_docker: the reference's CLI sequence, one child process per step. */
#include "baseline_docker.h"

#include "bench_http.h"
#include "bench_stats.h"

#include <archive.h>
#include <archive_entry.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void errf(char err[BASEDOCK_ERR_MAX], const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, BASEDOCK_ERR_MAX, fmt, ap);
    va_end(ap);
}

int basedock_run(const char *const *argv, char *out, size_t out_size, int timeout_ms,
                 char err[BASEDOCK_ERR_MAX])
{
    int pipefd[2];
    pid_t pid;
    size_t len = 0;
    char sink[4096];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        errf(err, "%s: pipe: %s", argv[0], strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
    int sp = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (sp != 0) {
        close(pipefd[0]);
        errf(err, "cannot run %s: %s", argv[0], strerror(sp));
        return -1;
    }
    int64_t deadline = bench_now_ns() + (int64_t)timeout_ms * 1000000;
    bool timed_out = false;
    for (;;) {
        int64_t left = (deadline - bench_now_ns()) / 1000000;
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        char *dst = out && len + 1 < out_size ? out + len : sink;
        size_t room = out && len + 1 < out_size ? out_size - 1 - len : sizeof(sink);
        ssize_t r = read(pipefd[0], dst, room);
        if (r <= 0)
            break;
        if (dst != sink)
            len += (size_t)r;
    }
    close(pipefd[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (out) {
        out[len] = '\0';
        while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
            out[--len] = '\0';
    }
    if (timed_out) {
        errf(err, "%s %s: no exit within %d ms", argv[0], argv[1] ? argv[1] : "", timeout_ms);
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Extract a zip into DIR (the reference unzips in process before docker cp). */
static int extract_zip(const void *zip, size_t size, const char *dir, char err[BASEDOCK_ERR_MAX])
{
    int rc = -1;
    struct archive *in = archive_read_new();
    struct archive *out = archive_write_disk_new();
    struct archive_entry *e;
    archive_read_support_format_zip(in);
    archive_write_disk_set_options(out, ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                            ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_PERM);
    if (archive_read_open_memory(in, zip, size) != ARCHIVE_OK) {
        errf(err, "code zip: %s", archive_error_string(in));
        goto out;
    }
    for (int i = 0; i < 100000; i++) {
        int r = archive_read_next_header(in, &e);
        if (r == ARCHIVE_EOF) {
            rc = 0;
            break;
        }
        if (r != ARCHIVE_OK) {
            errf(err, "code zip: %s", archive_error_string(in));
            goto out;
        }
        char path[4096];
        const char *entry = archive_entry_pathname(e);
        if (entry == NULL || entry[0] == '/') {
            errf(err, "code zip: entry %s: absolute path refused", entry ? entry : "(null)");
            goto out;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, entry);
        archive_entry_set_pathname(e, path);
        if (archive_write_header(out, e) != ARCHIVE_OK) {
            errf(err, "code zip: %s: %s", path, archive_error_string(out));
            goto out;
        }
        const void *buf;
        size_t n;
        la_int64_t off;
        while (archive_read_data_block(in, &buf, &n, &off) == ARCHIVE_OK)
            archive_write_data_block(out, buf, n, off);
        archive_write_finish_entry(out);
    }
out:
    archive_read_free(in);
    archive_write_free(out);
    return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static atomic_uint launch_counter;

int basedock_launch(const char *docker, const basedock_function *fn, char id[80], char endpoint[64],
                    basedock_steps *steps, char err[BASEDOCK_ERR_MAX])
{
    basedock_steps local;
    if (steps == NULL)
        steps = &local;
    memset(steps, 0, sizeof(*steps));
    int64_t t = bench_now_ns();
#define STEP(field)                              \
    do {                                         \
        int64_t now_ = bench_now_ns();           \
        steps->field = (double)(now_ - t) / 1e6; \
        t = now_;                                \
    } while (0)
    int rc = -1;
    bool created = false;
    char dir[] = "/tmp/fakecloud-bench-code-XXXXXX";
    char name[160], lab_inst[160], lab_fn[160], env_fn[160], src[64], dst[120], port_out[256];
    const char *cli = docker ? docker : "docker";
    id[0] = '\0';
    if (mkdtemp(dir) == NULL) {
        errf(err, "mkdtemp: %s", strerror(errno));
        return -1;
    }
    if (extract_zip(fn->code_zip, fn->code_zip_size, dir, err) != 0)
        goto out;
    STEP(extract_ms);
    snprintf(name, sizeof(name), "fakecloud-%s-%d-%u", fn->name, (int)getpid(),
             atomic_fetch_add(&launch_counter, 1));
    snprintf(lab_inst, sizeof(lab_inst), "fakecloud-instance=%s", fn->instance_id);
    snprintf(lab_fn, sizeof(lab_fn), "fakecloud-lambda=%s", fn->name);
    snprintf(env_fn, sizeof(env_fn), "AWS_LAMBDA_FUNCTION_NAME=%s", fn->name);
    const char *create[] = {cli,       "create",
                            "--name",  name,
                            "--label", "fakecloud-managed-by=fakecloud",
                            "--label", lab_inst,
                            "--label", lab_fn,
                            "-p",      "127.0.0.1::8080",
                            "-e",      env_fn,
                            "-e",      "AWS_LAMBDA_FUNCTION_TIMEOUT=3",
                            "-e",      "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
                            fn->image, fn->handler,
                            NULL};
    int st = basedock_run(create, id, 80, 60000, err);
    if (st != 0) {
        if (st > 0)
            errf(err, "docker create %s: exit %d", name, st);
        goto out;
    }
    created = true;
    STEP(create_ms);
    snprintf(src, sizeof(src), "%s/.", dir);
    snprintf(dst, sizeof(dst), "%s:/var/task", id);
    const char *cp[] = {cli, "cp", src, dst, NULL};
    if ((st = basedock_run(cp, NULL, 0, 60000, err)) != 0) {
        if (st > 0)
            errf(err, "docker cp %s: exit %d", id, st);
        goto out;
    }
    STEP(cp_ms);
    const char *start[] = {cli, "start", id, NULL};
    if ((st = basedock_run(start, NULL, 0, 60000, err)) != 0) {
        if (st > 0)
            errf(err, "docker start %s: exit %d", id, st);
        goto out;
    }
    STEP(start_ms);
    const char *port[] = {cli, "port", id, "8080", NULL};
    if ((st = basedock_run(port, port_out, sizeof(port_out), 60000, err)) != 0) {
        if (st > 0)
            errf(err, "docker port %s: exit %d", id, st);
        goto out;
    }
    STEP(port_ms);
    /* First line, e.g. "127.0.0.1:49153". */
    port_out[strcspn(port_out, "\r\n")] = '\0';
    char *colon = strrchr(port_out, ':');
    int hport = colon ? atoi(colon + 1) : 0;
    if (hport <= 0) {
        errf(err, "docker port %s: cannot parse \"%s\"", id, port_out);
        goto out;
    }
    for (int i = 0; i < 20; i++) {
        bench_sleep_ms(500);
        if (bhttp_tcp_probe("127.0.0.1", hport, 10000) == 0) {
            snprintf(endpoint, 64, "127.0.0.1:%d", hport);
            STEP(probe_ms);
            rc = 0;
            goto out;
        }
    }
    errf(err, "container %s: port %d not accepting connections within 10s", id, hport);
out:
    if (rc != 0 && created) {
        char ignored[BASEDOCK_ERR_MAX];
        basedock_terminate(docker, id, ignored);
    }
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
#undef STEP
}

int basedock_terminate(const char *docker, const char *id, char err[BASEDOCK_ERR_MAX])
{
    const char *rm[] = {docker ? docker : "docker", "rm", "-f", id, NULL};
    int st = basedock_run(rm, NULL, 0, 60000, err);
    if (st > 0)
        errf(err, "docker rm -f %s: exit %d", id, st);
    return st == 0 ? 0 : -1;
}
