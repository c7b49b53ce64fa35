/* Unit tests of plugin/common/probe.c against loopback listeners. */
#include "clockx.h"
#include "probe.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A listener on 127.0.0.1:<ephemeral>; returns the fd and the port. */
static int listen_loopback(unsigned *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(fd, 8), 0);
    socklen_t len = sizeof a;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

typedef struct server {
    int fd;
    const char *answer; /* NULL: accept and say nothing */
} server;

static void *serve_one(void *arg)
{
    server *s = arg;
    int c = accept(s->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    char buf[256];
    (void)recv(c, buf, sizeof buf, 0);
    if (s->answer != NULL)
        (void)send(c, s->answer, strlen(s->answer), MSG_NOSIGNAL);
    else {
        struct timespec nap = {0, 500 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
    close(c);
    return NULL;
}

Test(probe, tcp_mode_is_ready_when_a_connect_is_accepted)
{
    unsigned port;
    int fd = listen_loopback(&port);
    cr_assert(probe_once("127.0.0.1", port, PROBE_TCP, 1000));
    close(fd);
}

Test(probe, nothing_listening_is_not_ready_in_either_mode)
{
    unsigned port;
    int fd = listen_loopback(&port);
    close(fd); /* the port is now closed */
    cr_assert_not(probe_once("127.0.0.1", port, PROBE_TCP, 1000));
    cr_assert_not(probe_once("127.0.0.1", port, PROBE_HTTP, 1000));
}

Test(probe, http_mode_is_ready_only_on_a_status_line)
{
    unsigned port;
    server s = {.fd = listen_loopback(&port), .answer = "HTTP/1.1 404 Not Found\r\n\r\n"};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, serve_one, &s), 0);
    cr_assert(probe_once("127.0.0.1", port, PROBE_HTTP, 2000));
    pthread_join(th, NULL);
    s.answer = "SSH-2.0-x\r\n";
    cr_assert_eq(pthread_create(&th, NULL, serve_one, &s), 0);
    cr_assert_not(probe_once("127.0.0.1", port, PROBE_HTTP, 2000));
    pthread_join(th, NULL);
    close(s.fd);
}

Test(probe, http_mode_against_a_silent_peer_gives_up_at_the_timeout)
{
    /* What docker-proxy does before anything listens in the container. */
    unsigned port;
    server s = {.fd = listen_loopback(&port), .answer = NULL};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, serve_one, &s), 0);
    uint64_t start = clockx_now_ms();
    cr_assert_not(probe_once("127.0.0.1", port, PROBE_HTTP, 100));
    uint64_t took = clockx_now_ms() - start;
    cr_assert_lt(took, 450, "bounded by its timeout, took %llu ms", (unsigned long long)took);
    pthread_join(th, NULL);
    close(s.fd);
}

Test(probe, refuses_bad_ports_and_a_missing_host)
{
    cr_assert_not(probe_once("127.0.0.1", 0, PROBE_TCP, 100));
    cr_assert_not(probe_once("127.0.0.1", 70000, PROBE_TCP, 100));
    cr_assert_not(probe_once(NULL, 80, PROBE_TCP, 100));
}

Test(probe, backoff_doubles_up_to_its_cap)
{
    cr_assert_eq(probe_next_delay(0), PROBE_FIRST_DELAY_MS);
    cr_assert_eq(probe_next_delay(5), 10);
    cr_assert_eq(probe_next_delay(80), PROBE_MAX_DELAY_MS);
    cr_assert_eq(probe_next_delay(PROBE_MAX_DELAY_MS), PROBE_MAX_DELAY_MS);
}
