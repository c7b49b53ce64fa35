/* bench_http: per-request libcurl easy handles over one share pool; bodies are
 * collected in an open_memstream. */
#include "bench_http.h"

#include <curl/curl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BHTTP_BODY_MAX ((size_t)512 << 20)

struct bhttp_client {
    char *base_url;
    char *ca_file;
    char *cert_file;
    char *key_file;
    char *auth_header;
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t stat_lock;
    long connects;
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ctx)
{
    (void)h;
    (void)access;
    bhttp_client *c = ctx;
    pthread_mutex_lock(&c->locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ctx)
{
    (void)h;
    bhttp_client *c = ctx;
    pthread_mutex_unlock(&c->locks[data]);
}

bhttp_client *bhttp_client_new(const char *base_url, const bhttp_tls *tls)
{
    bhttp_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    pthread_mutex_init(&c->stat_lock, NULL);
    c->base_url = strdup(base_url);
    if (c->base_url == NULL)
        goto fail;
    if (tls) {
        c->ca_file = dup_or_null(tls->ca_file);
        c->cert_file = dup_or_null(tls->cert_file);
        c->key_file = dup_or_null(tls->key_file);
        if (tls->bearer_token) {
            size_t n = strlen(tls->bearer_token) + 32;
            c->auth_header = malloc(n);
            if (c->auth_header == NULL)
                goto fail;
            snprintf(c->auth_header, n, "Authorization: Bearer %s", tls->bearer_token);
        }
    }
    c->share = curl_share_init();
    if (c->share == NULL)
        goto fail;
    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    return c;
fail:
    bhttp_client_free(c);
    return NULL;
}

void bhttp_client_free(bhttp_client *c)
{
    if (c == NULL)
        return;
    if (c->share)
        curl_share_cleanup(c->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&c->locks[i]);
    pthread_mutex_destroy(&c->stat_lock);
    free(c->base_url);
    free(c->ca_file);
    free(c->cert_file);
    free(c->key_file);
    free(c->auth_header);
    free(c);
}

long bhttp_client_connects(bhttp_client *c)
{
    pthread_mutex_lock(&c->stat_lock);
    long n = c->connects;
    pthread_mutex_unlock(&c->stat_lock);
    return n;
}

/* The response body: stdio grows (and NUL-terminates) the buffer. */
typedef struct body_sink {
    FILE *stream; /* open_memstream(&data, &len) */
    char *data;
    size_t len;
    size_t written;
    bool too_big;
} body_sink;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ctx)
{
    body_sink *b = ctx;
    size_t n = size * nmemb;
    if (b->written + n + 1 > BHTTP_BODY_MAX) {
        b->too_big = true;
        return 0;
    }
    b->written += n;
    return fwrite(ptr, 1, n, b->stream); /* short on ENOMEM: curl fails the transfer */
}

/* Closes the stream; the body is then in b->data (NULL if the stream could not flush). */
static int body_sink_close(body_sink *b)
{
    int rc = fclose(b->stream);
    b->stream = NULL;
    return rc;
}

int bhttp_request(bhttp_client *c, const char *method, const char *path, const char *body,
                  long timeout_ms, bhttp_response *resp, char err[BHTTP_ERR_MAX])
{
    int rc = -1;
    body_sink buf = {0};
    struct curl_slist *headers = NULL;
    char *url = NULL;
    resp->status = 0;
    resp->body = NULL;
    resp->len = 0;

    CURL *h = curl_easy_init();
    size_t n = strlen(c->base_url) + strlen(path) + 1;
    url = malloc(n);
    buf.stream = open_memstream(&buf.data, &buf.len);
    if (h == NULL || url == NULL || buf.stream == NULL) {
        snprintf(err, BHTTP_ERR_MAX, "%s %s: out of memory", method, path);
        goto out;
    }
    snprintf(url, n, "%s%s", c->base_url, path);
    headers = curl_slist_append(headers, "Accept: application/json");
    if (body)
        headers = curl_slist_append(headers, "Content-Type: application/json");
    if (c->auth_header)
        headers = curl_slist_append(headers, c->auth_header);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    /* kube-rs' defaults: connect 30 s, read/write 295 s. */
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 30000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 295000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "fakecloud-bench-baseline/0.1.0");
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    if (c->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    if (c->cert_file)
        curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert_file);
    if (c->key_file)
        curl_easy_setopt(h, CURLOPT_SSLKEY, c->key_file);
    curl_easy_setopt(h, CURLOPT_SHARE, c->share);
    /*
     * curl_easy_perform's private multi keeps 4 idle connections by
     * default and closes the rest; hyper's pool (kube-rs) keeps every
     * idle connection, so lift the cap.
     */
    curl_easy_setopt(h, CURLOPT_MAXCONNECTS, 10000L);
    CURLcode cc = curl_easy_perform(h);
    long connects = 0;
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
    pthread_mutex_lock(&c->stat_lock);
    c->connects += connects;
    pthread_mutex_unlock(&c->stat_lock);
    if (cc != CURLE_OK) {
        snprintf(err, BHTTP_ERR_MAX, "%s %s: %s%s", method, path, curl_easy_strerror(cc),
                 buf.too_big ? " (body over 512 MiB)" : "");
        goto out;
    }
    if (body_sink_close(&buf) != 0 || buf.data == NULL) {
        snprintf(err, BHTTP_ERR_MAX, "%s %s: out of memory for the body", method, path);
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->body = buf.data;
    resp->len = buf.len;
    buf.data = NULL;
    rc = 0;
out:
    if (buf.stream != NULL)
        body_sink_close(&buf);
    free(buf.data);
    free(url);
    curl_slist_free_all(headers);
    if (h)
        curl_easy_cleanup(h);
    return rc;
}

void bhttp_response_free(bhttp_response *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
}

int bhttp_tcp_probe(const char *ip, int port, int timeout_ms)
{
    int rc = -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        rc = 0;
        goto out;
    }
    if (errno != EINPROGRESS)
        goto out;
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    if (poll(&p, 1, timeout_ms) != 1)
        goto out;
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0)
        rc = 0;
out:
    close(fd);
    return rc;
}
