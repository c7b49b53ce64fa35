/*
 * An out-of-tree backend plugin: built only from the installed public header
 * and version script (pkg-config fakecloud-backend), as a third party would.
 *
 * launch() starts a one-thread loopback HTTP server that answers every
 * request with {"oot":true,"function":NAME,"bytes":<request body size>};
 * terminate() stops it. Build:
 *   cc -shared -fPIC -fvisibility=hidden $(pkg-config --cflags fakecloud-backend) \
 *      oot_plugin.c -o fakecloud-backend-oot.so -pthread \
 *      -Wl,--version-script=$(pkg-config --variable=version_script fakecloud-backend)
 */
#define _POSIX_C_SOURCE 200809L
#include <fakecloud/backend_plugin.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

FCB_PLUGIN_DESCRIPTOR("oot", "0.0.1", "Out-of-tree example backend");

struct fcb_backend {
    const fcb_host_services *host;
    pthread_mutex_t lock;
    int listen_fd; /* one instance at a time keeps the example short */
    int stop[2];
    pthread_t thread;
    int running;
    char function[128];
};

static void fail(fcb_error *err, int code, const char *message)
{
    err->code = code;
    snprintf(err->message, sizeof err->message, "%s", message);
}

static void *serve(void *arg)
{
    fcb_backend *b = arg;
    for (int round = 0; round < 100000; round++) {
        struct pollfd fds[2] = {{b->listen_fd, POLLIN, 0}, {b->stop[0], POLLIN, 0}};
        if (poll(fds, 2, 500) < 0 || fds[1].revents)
            break;
        if (!(fds[0].revents & POLLIN))
            continue;
        int fd = accept(b->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        char req[65536];
        size_t len = 0;
        const char *body = NULL;
        long want = -1;
        for (int i = 0; i < 1000 && len < sizeof req - 1; i++) {
            ssize_t n = recv(fd, req + len, sizeof req - 1 - len, 0);
            if (n <= 0)
                break;
            len += (size_t)n;
            req[len] = '\0';
            if (body == NULL && (body = strstr(req, "\r\n\r\n")) != NULL) {
                body += 4;
                const char *cl = strstr(req, "Content-Length:");
                want = cl != NULL ? strtol(cl + 15, NULL, 10) : 0;
            }
            if (body != NULL && (long)(len - (size_t)(body - req)) >= want)
                break;
        }
        char payload[256], resp[512];
        int plen =
            snprintf(payload, sizeof payload, "{\"oot\":true,\"function\":\"%s\",\"bytes\":%ld}",
                     b->function, body != NULL ? (long)(len - (size_t)(body - req)) : 0L);
        int rlen = snprintf(resp, sizeof resp,
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                            "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                            plen, payload);
        if (send(fd, resp, (size_t)rlen, MSG_NOSIGNAL) < 0)
            perror("oot: send");
        close(fd);
    }
    return NULL;
}

static void stop_instance(fcb_backend *b)
{
    if (!b->running)
        return;
    if (write(b->stop[1], "x", 1) != 1)
        perror("oot: write");
    pthread_join(b->thread, NULL);
    close(b->listen_fd);
    close(b->stop[0]);
    close(b->stop[1]);
    b->running = 0;
}

static int oot_open(const fcb_host_services *host, const fcb_open_params *params, fcb_backend **out,
                    fcb_error *err)
{
    (void)params;
    fcb_backend *b = host->alloc(host->alloc_ctx, sizeof *b);
    if (b == NULL) {
        fail(err, FCB_ERR_NO_MEMORY, "oot: out of memory");
        return FCB_ERR_NO_MEMORY;
    }
    memset(b, 0, sizeof *b);
    b->host = host;
    pthread_mutex_init(&b->lock, NULL);
    *out = b;
    return FCB_OK;
}

static void oot_close(fcb_backend *b)
{
    if (b == NULL)
        return;
    stop_instance(b);
    pthread_mutex_destroy(&b->lock);
    b->host->free(b->host->alloc_ctx, b);
}

static int oot_launch(fcb_backend *b, const fcb_launch_request *req, fcb_instance *out,
                      fcb_error *err)
{
    pthread_mutex_lock(&b->lock);
    int rc = FCB_ERR_START_FAILED;
    if (b->running) {
        fail(err, FCB_ERR_UNSUPPORTED, "oot: one instance at a time");
        rc = FCB_ERR_UNSUPPORTED;
        goto out;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof addr;
    b->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (b->listen_fd < 0 || bind(b->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(b->listen_fd, 16) != 0 ||
        getsockname(b->listen_fd, (struct sockaddr *)&addr, &alen) != 0 || pipe(b->stop) != 0) {
        fail(err, FCB_ERR_START_FAILED, "oot: cannot listen on 127.0.0.1");
        if (b->listen_fd >= 0)
            close(b->listen_fd);
        goto out;
    }
    snprintf(b->function, sizeof b->function, "%s", req->function->function_name);
    if (pthread_create(&b->thread, NULL, serve, b) != 0) {
        fail(err, FCB_ERR_START_FAILED, "oot: cannot start the server thread");
        close(b->listen_fd);
        close(b->stop[0]);
        close(b->stop[1]);
        goto out;
    }
    b->running = 1;
    snprintf(out->endpoint, sizeof out->endpoint, "127.0.0.1:%u", (unsigned)ntohs(addr.sin_port));
    snprintf(out->handle, sizeof out->handle, "oot/%s", req->deploy_id);
    rc = FCB_OK;
out:
    pthread_mutex_unlock(&b->lock);
    return rc;
}

static int oot_terminate(fcb_backend *b, const char *handle, fcb_error *err)
{
    (void)handle;
    (void)err;
    pthread_mutex_lock(&b->lock);
    stop_instance(b);
    pthread_mutex_unlock(&b->lock);
    return FCB_OK;
}

static int oot_reap(fcb_backend *b, size_t *reaped, fcb_error *err)
{
    (void)b;
    (void)err;
    if (reaped != NULL)
        *reaped = 0;
    return FCB_OK;
}

/* Designated initializers: members a later ABI minor appends stay NULL without warnings. */
static const fcb_backend_ops oot_ops = {.size = sizeof(fcb_backend_ops),
                                        .name = "oot",
                                        .open = oot_open,
                                        .close = oot_close,
                                        .launch = oot_launch,
                                        .terminate = oot_terminate,
                                        .reap_stale = oot_reap};

const fcb_backend_ops *backend_plugin_init(const fcb_host_services *host, fcb_error *err)
{
    if (host->abi_major != FCB_ABI_MAJOR) {
        fail(err, FCB_ERR_UNSUPPORTED, "oot: host ABI major differs");
        return NULL;
    }
    return &oot_ops;
}
