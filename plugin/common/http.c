/* http: libcurl plumbing with bounded bodies and prompt cancellation. */
#include "http.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static bool global_ok;

static void global_init_once(void)
{
    global_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

bool http_global_init(void)
{
    pthread_once(&global_once, global_init_once);
    return global_ok;
}

uint64_t http_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void http_capture_init(http_capture *cap, const fcb_host_services *host, size_t limit)
{
    memset(cap, 0, sizeof *cap);
    sbuf_init(&cap->body, host, limit);
    cap->retry_after_s = -1;
}

void http_capture_reset(http_capture *cap)
{
    size_t limit = cap->body.limit;
    const fcb_host_services *host = cap->body.host;
    sbuf_free(&cap->body);
    sbuf_init(&cap->body, host, limit);
    cap->too_large = false;
    cap->retry_after_s = -1;
    cap->sink_stopped = false;
    cap->kept_value[0] = '\0';
}

void http_capture_free(http_capture *cap)
{
    sbuf_free(&cap->body);
}

static size_t capture_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    http_capture *cap = userdata;
    size_t len = size * nmemb;
    if (cap->sink != NULL) {
        if (!cap->sink(cap->sink_ctx, data, len)) {
            cap->sink_stopped = true;
            return 0;
        }
        return len;
    }
    if (cap->body.limit > 0 && cap->body.len + len > cap->body.limit) {
        cap->too_large = true;
        return 0;
    }
    /*
     * Grow here rather than in sbuf_append: doubling past the limit would
     * let a hostile server make us reserve twice the limit.
     */
    size_t need = cap->body.len + len + 1;
    if (!cap->body.failed && need > cap->body.cap) {
        size_t want = cap->body.cap < 4096 ? 4096 : cap->body.cap;
        while (want < need)
            want = want > SIZE_MAX / 2 ? need : want * 2;
        if (cap->body.limit > 0 && want > cap->body.limit + 1)
            want = cap->body.limit + 1;
        char *p = svc_realloc(cap->body.host, cap->body.data, want);
        if (p == NULL)
            return 0;
        cap->body.data = p;
        cap->body.cap = want;
    }
    if (!sbuf_append(&cap->body, data, len))
        return 0;
    return len;
}

/* LINE (LEN bytes) is "<keep_header>: value": keep the value, trimmed. */
static void capture_kept(http_capture *cap, const char *line, size_t len)
{
    size_t n = strlen(cap->keep_header);
    if (len <= n || line[n] != ':' || strncasecmp(line, cap->keep_header, n) != 0)
        return;
    size_t at = n + 1;
    while (at < len && (line[at] == ' ' || line[at] == '\t'))
        at++;
    size_t end = len;
    while (end > at && (line[end - 1] == '\r' || line[end - 1] == '\n' || line[end - 1] == ' ' ||
                        line[end - 1] == '\t'))
        end--;
    size_t vlen = end - at < sizeof cap->kept_value ? end - at : sizeof cap->kept_value - 1;
    memcpy(cap->kept_value, line + at, vlen);
    cap->kept_value[vlen] = '\0';
}

static size_t capture_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    http_capture *cap = userdata;
    size_t len = size * nmemb;
    if (cap->keep_header != NULL) {
        if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
            cap->kept_value[0] = '\0'; /* a new response: forget the last one's */
        else
            capture_kept(cap, data, len);
    }
    static const char name[] = "retry-after:";
    if (len > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
        char value[32];
        size_t vlen = len - (sizeof name - 1);
        if (vlen >= sizeof value)
            vlen = sizeof value - 1;
        memcpy(value, data + sizeof name - 1, vlen);
        value[vlen] = '\0';
        char *end = NULL;
        long s = strtol(value, &end, 10);
        /* Only the delta-seconds form; an HTTP date is ignored (backoff applies). */
        if (end != value && s >= 0)
            cap->retry_after_s = s;
    } else if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new response (after 100-continue): forget earlier headers. */
        cap->retry_after_s = -1;
    }
    return len;
}

void http_capture_attach(http_capture *cap, CURL *easy)
{
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, capture_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, cap);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, capture_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, cap);
    if (cap->body.limit > 0 && cap->sink == NULL)
        curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cap->body.limit);
}

void http_headers_add(struct curl_slist **list, const char *header, bool *failed)
{
    if (*failed)
        return;
    struct curl_slist *n = curl_slist_append(*list, header);
    if (n == NULL) {
        curl_slist_free_all(*list);
        *list = NULL;
        *failed = true;
        return;
    }
    *list = n;
}

void http_easy_defaults(CURL *easy, const char *user_agent, long connect_timeout_ms,
                        long low_speed_s)
{
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, user_agent);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
    if (low_speed_s > 0) {
        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, low_speed_s);
    }
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
#if CURL_AT_LEAST_VERSION(7, 85, 0)
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
}

static bool flag_raised(const atomic_bool *flag)
{
    return flag != NULL && atomic_load(flag);
}

http_run_result http_run(CURLM *shared_multi, CURL *easy, const atomic_bool *stop_a,
                         const atomic_bool *stop_b, uint64_t deadline_ms, CURLcode *code)
{
    http_run_result result = HTTP_RUN_FAILED;
    CURLM *multi = shared_multi != NULL ? shared_multi : curl_multi_init();
    if (multi == NULL)
        return HTTP_RUN_FAILED;
    if (curl_multi_add_handle(multi, easy) != CURLM_OK)
        goto out;
    /* Bounded by the deadline or the stop flags; each round waits <= HTTP_POLL_MS. */
    for (;;) {
        if (flag_raised(stop_a) || flag_raised(stop_b)) {
            result = HTTP_RUN_STOPPED;
            break;
        }
        if (deadline_ms != 0 && http_now_ms() >= deadline_ms) {
            result = HTTP_RUN_DEADLINE;
            break;
        }
        int running = 0;
        if (curl_multi_perform(multi, &running) != CURLM_OK)
            break;
        int queued = 0;
        CURLMsg *msg = curl_multi_info_read(multi, &queued);
        if (msg != NULL && msg->msg == CURLMSG_DONE) {
            *code = msg->data.result;
            result = HTTP_RUN_DONE;
            break;
        }
        if (running == 0)
            break; /* ended without a DONE message: treated as a failure */
        if (curl_multi_poll(multi, NULL, 0, HTTP_POLL_MS, NULL) != CURLM_OK)
            break;
    }
    curl_multi_remove_handle(multi, easy);
out:
    if (shared_multi == NULL)
        curl_multi_cleanup(multi);
    return result;
}

bool http_error_before_send(CURLcode code)
{
    switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT: return true;
    default: return false;
    }
}

bool http_error_is_tls(CURLcode code)
{
    switch (code) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_USE_SSL_FAILED: return true;
    default: return false;
    }
}
