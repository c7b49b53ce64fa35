/*
 * probe: non-blocking socket, every step polled against one deadline.
 */
#include "probe.h"

#include "clockx.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Poll FD for EVENTS until DEADLINE; true when ready without error. */
static bool probe_poll(int fd, short events, uint64_t deadline)
{
    for (int i = 0; i < 64; i++) {
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)clockx_remaining_ms(deadline));
        if (n < 0 && errno == EINTR)
            continue;
        return n == 1 && (p.revents & events) != 0 && (p.revents & POLLERR) == 0;
    }
    return false;
}

static bool probe_connected(int fd, const struct addrinfo *ai, uint64_t deadline)
{
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return true;
    if (errno != EINPROGRESS)
        return false;
    if (!probe_poll(fd, POLLOUT, deadline))
        return false;
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    return getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0;
}

/* Send a request and read the first five bytes of the answer: "HTTP/". */
static bool probe_status_line(int fd, uint64_t deadline)
{
    static const char request[] = "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";
    if (send(fd, request, sizeof request - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof request - 1))
        return false;
    char buf[8];
    size_t got = 0;
    for (int i = 0; i < 16 && got < 5; i++) {
        if (!probe_poll(fd, POLLIN, deadline))
            return false;
        ssize_t n = recv(fd, buf + got, 5 - got, 0);
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return got == 5 && memcmp(buf, "HTTP/", 5) == 0;
}

bool probe_once(const char *host, unsigned port, probe_mode mode, uint32_t timeout_ms)
{
    uint64_t deadline = clockx_after_ms(timeout_ms);
    struct addrinfo hints, *res = NULL;
    char service[16];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (host == NULL || port == 0 || port > 65535)
        return false;
    snprintf(service, sizeof service, "%u", port);
    if (getaddrinfo(host, service, &hints, &res) != 0 || res == NULL)
        return false;
    bool ready = false;
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0 && probe_connected(fd, res, deadline))
        ready = mode == PROBE_TCP || probe_status_line(fd, deadline);
    if (fd >= 0)
        close(fd);
    freeaddrinfo(res);
    return ready;
}

uint32_t probe_next_delay(uint32_t delay_ms)
{
    if (delay_ms == 0)
        return PROBE_FIRST_DELAY_MS;
    return delay_ms * 2 > PROBE_MAX_DELAY_MS ? PROBE_MAX_DELAY_MS : delay_ms * 2;
}
