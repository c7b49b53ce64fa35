/* rel_hostile: one poll()-driven thread per server; bounded writes and waits. */
#include "rel_hostile.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define HOSTILE_BUDGET       (200ull * 1024 * 1024) /* bytes per connection at most */
#define HOSTILE_CONN_SECONDS 120                    /* a connection lives at most this long */

struct rel_hostile {
    rel_hostile_mode mode;
    int listen_fd;
    int port;
    char unix_path[108];
    pthread_t thread;
    atomic_bool stop;
    atomic_size_t connections;
    atomic_size_t bytes;
};

const char *rel_hostile_mode_name(rel_hostile_mode mode)
{
    switch (mode) {
    case REL_HOSTILE_HUGE_BODY: return "100 MiB body";
    case REL_HOSTILE_HUGE_CHUNKED: return "never-ending chunked body";
    case REL_HOSTILE_ENDLESS_HEADERS: return "never-ending headers";
    case REL_HOSTILE_SILENT: return "never answers";
    case REL_HOSTILE_GARBAGE: return "not HTTP";
    }
    return "?";
}

/* Write all of buf unless the peer is gone or we stop; false = give up. */
static bool send_all(rel_hostile *h, int fd, const char *buf, size_t len)
{
    while (len > 0 && !atomic_load(&h->stop)) {
        struct pollfd p = {fd, POLLOUT, 0};
        int r = poll(&p, 1, 100);
        if (r < 0 && errno != EINTR)
            return false;
        if (r <= 0)
            continue;
        if (p.revents & (POLLERR | POLLHUP))
            return false;
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        atomic_fetch_add(&h->bytes, (size_t)n);
        buf += n;
        len -= (size_t)n;
    }
    return len == 0;
}

/* Read the request head (bounded); false when the peer went away. */
static bool read_request(rel_hostile *h, int fd)
{
    char buf[8192];
    size_t got = 0;
    for (int i = 0; i < 100 && !atomic_load(&h->stop); i++) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (n <= 0)
            return false;
        got += (size_t)n;
        buf[got] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL || got == sizeof buf - 1)
            return true;
    }
    return true;
}

static void serve(rel_hostile *h, int fd)
{
    if (!read_request(h, fd))
        return;
    char chunk[16384];
    unsigned long long sent = 0;
    time_t end = time(NULL) + HOSTILE_CONN_SECONDS;
    switch (h->mode) {
    case REL_HOSTILE_HUGE_BODY: {
        const char *head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                           "Api-Version: 1.43\r\nContent-Length: 104857600\r\n\r\n{\"items\":[\"";
        if (!send_all(h, fd, head, strlen(head)))
            return;
        memset(chunk, 'A', sizeof chunk);
        while (sent < 100ull * 1024 * 1024 && time(NULL) < end &&
               send_all(h, fd, chunk, sizeof chunk))
            sent += sizeof chunk;
        break;
    }
    case REL_HOSTILE_HUGE_CHUNKED: {
        const char *head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                           "Api-Version: 1.43\r\nTransfer-Encoding: chunked\r\n\r\n";
        if (!send_all(h, fd, head, strlen(head)))
            return;
        int n = snprintf(chunk, sizeof chunk, "%x\r\n", 8192);
        memset(chunk + n, ' ', 8192);
        memcpy(chunk + n + 8192, "\r\n", 2);
        while (sent < HOSTILE_BUDGET && time(NULL) < end &&
               send_all(h, fd, chunk, (size_t)n + 8194))
            sent += 8192;
        break;
    }
    case REL_HOSTILE_ENDLESS_HEADERS: {
        const char *head = "HTTP/1.1 200 OK\r\n";
        if (!send_all(h, fd, head, strlen(head)))
            return;
        for (unsigned long i = 0; sent < HOSTILE_BUDGET && time(NULL) < end; i++) {
            int n = snprintf(chunk, sizeof chunk, "X-Filler-%lu: %0200lu\r\n", i, i);
            if (!send_all(h, fd, chunk, (size_t)n))
                break;
            sent += (unsigned long long)n;
        }
        break;
    }
    case REL_HOSTILE_SILENT:
        /* hold the connection open without a byte until the peer gives up */
        while (!atomic_load(&h->stop) && time(NULL) < end) {
            struct pollfd p = {fd, POLLIN, 0};
            if (poll(&p, 1, 100) > 0) {
                if (recv(fd, chunk, sizeof chunk, 0) <= 0)
                    break;
            }
        }
        break;
    case REL_HOSTILE_GARBAGE: {
        for (size_t i = 0; i < sizeof chunk; i++)
            chunk[i] = (char)(i * 131u + 7u);
        send_all(h, fd, "\x16\x03\x01garbage\r\n\r\n", 13);
        send_all(h, fd, chunk, sizeof chunk);
        break;
    }
    }
}

static void *hostile_main(void *arg)
{
    rel_hostile *h = arg;
    while (!atomic_load(&h->stop)) {
        struct pollfd p = {h->listen_fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int fd = accept(h->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        atomic_fetch_add(&h->connections, 1);
        serve(h, fd);
        close(fd);
    }
    return NULL;
}

rel_hostile *rel_hostile_start(rel_hostile_mode mode, const char *unix_path)
{
    rel_hostile *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->mode = mode;
    if (unix_path != NULL) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", unix_path);
        snprintf(h->unix_path, sizeof h->unix_path, "%s", unix_path);
        unlink(unix_path);
        h->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (h->listen_fd < 0 || bind(h->listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0)
            goto fail;
    } else {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        h->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        socklen_t len = sizeof sa;
        if (h->listen_fd < 0 || bind(h->listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
            getsockname(h->listen_fd, (struct sockaddr *)&sa, &len) != 0)
            goto fail;
        h->port = ntohs(sa.sin_port);
    }
    if (listen(h->listen_fd, 16) != 0 || pthread_create(&h->thread, NULL, hostile_main, h) != 0)
        goto fail;
    return h;
fail:
    if (h->listen_fd >= 0)
        close(h->listen_fd);
    free(h);
    return NULL;
}

int rel_hostile_port(const rel_hostile *h)
{
    return h->port;
}

size_t rel_hostile_connections(rel_hostile *h)
{
    return atomic_load(&h->connections);
}

size_t rel_hostile_bytes_sent(rel_hostile *h)
{
    return atomic_load(&h->bytes);
}

void rel_hostile_stop(rel_hostile *h)
{
    if (h == NULL)
        return;
    atomic_store(&h->stop, true);
    pthread_join(h->thread, NULL);
    close(h->listen_fd);
    if (h->unix_path[0] != '\0')
        unlink(h->unix_path);
    free(h);
}
