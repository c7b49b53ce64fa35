/* invoker: one libcurl POST per invocation. */
#include "invoker.h"

#include <curl/curl.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct response_buffer {
    char *data;
    size_t len;
    size_t cap;
    bool too_big;
} response_buffer;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ctx)
{
    response_buffer *b = ctx;
    size_t n = size * nmemb;
    if (b->len + n > INVOKER_RESPONSE_MAX) {
        b->too_big = true;
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (p == NULL)
            return 0;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* X-Amz-Function-Error of the answer, kept in the result. */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ctx)
{
    invoker_result *res = ctx;
    size_t n = size * nmemb;
    static const char name[] = "x-amz-function-error:";
    if (n > sizeof name - 1 && strncasecmp(ptr, name, sizeof name - 1) == 0) {
        const char *v = ptr + sizeof name - 1;
        size_t len = n - (sizeof name - 1);
        while (len > 0 && (*v == ' ' || *v == '\t'))
            v++, len--;
        while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
            len--;
        if (len >= sizeof res->function_error)
            len = sizeof res->function_error - 1;
        memcpy(res->function_error, v, len);
        res->function_error[len] = '\0';
    }
    return n;
}

static invoker_failure failure_of(CURLcode code)
{
    switch (code) {
    case CURLE_COULDNT_CONNECT: return INVOKER_NOT_CONNECTED;
    case CURLE_OPERATION_TIMEDOUT: return INVOKER_TIMED_OUT;
    case CURLE_ABORTED_BY_CALLBACK: return INVOKER_CANCELLED;
    default: return INVOKER_BROKEN;
    }
}

typedef struct cancel_check {
    int (*cancelled)(void *ctx);
    void *ctx;
} cancel_check;

static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const cancel_check *c = ctx;
    return c->cancelled(c->ctx) ? 1 : 0; /* non-zero aborts the transfer */
}

/*
 * curl_easy_perform, but CHECK is polled every INVOKER_CANCEL_POLL_MS (the
 * progress callback alone runs only about once a second on an idle
 * connection, too slow for a prompt exit on SIGTERM). CURLOPT_TIMEOUT_MS
 * bounds the loop in time; the round count bounds it in count.
 */
#define INVOKER_CANCEL_POLL_MS 50
static CURLcode perform_cancellable(CURL *curl, const cancel_check *check)
{
    CURLM *multi = curl_multi_init();
    if (multi == NULL)
        return CURLE_OUT_OF_MEMORY;
    if (curl_multi_add_handle(multi, curl) != CURLM_OK) {
        curl_multi_cleanup(multi);
        return CURLE_OUT_OF_MEMORY;
    }
    CURLcode res = CURLE_OK;
    int running = 1;
    for (unsigned long round = 0; running && round < 100000000ul; round++) {
        if (check->cancelled(check->ctx)) {
            res = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
        CURLMcode mc = curl_multi_perform(multi, &running);
        if (mc == CURLM_OK && running)
            mc = curl_multi_poll(multi, NULL, 0, INVOKER_CANCEL_POLL_MS, NULL);
        if (mc != CURLM_OK) {
            res = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_RECV_ERROR;
            break;
        }
    }
    if (res == CURLE_OK) {
        int left = 0;
        CURLMsg *msg = curl_multi_info_read(multi, &left);
        res = msg != NULL && msg->msg == CURLMSG_DONE ? msg->data.result : CURLE_RECV_ERROR;
    }
    curl_multi_remove_handle(multi, curl);
    curl_multi_cleanup(multi);
    return res;
}

int invoker_post(const char *endpoint, const char *payload, size_t len, long timeout_ms,
                 invoker_result *result, char *why, size_t why_size)
{
    return invoker_post_cancellable(endpoint, payload, len, timeout_ms, NULL, NULL, result, why,
                                    why_size);
}

int invoker_post_cancellable(const char *endpoint, const char *payload, size_t len, long timeout_ms,
                             int (*cancelled)(void *ctx), void *ctx, invoker_result *result,
                             char *why, size_t why_size)
{
    cancel_check check = {cancelled, ctx};
    memset(result, 0, sizeof *result);
    result->failure = INVOKER_BROKEN;
    int rc = -1;
    response_buffer body = {0};
    char *url = NULL;
    struct curl_slist *headers = NULL;
    CURL *curl = curl_easy_init();
    if (curl == NULL || asprintf(&url, "http://%s" INVOKER_PATH, endpoint) < 0) {
        url = NULL;
        snprintf(why, why_size, "invoke %s: out of memory", endpoint);
        goto out;
    }
    headers = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *more = headers != NULL ? curl_slist_append(headers, "Expect:") : NULL;
    if (more == NULL) {
        snprintf(why, why_size, "invoke %s: out of memory", endpoint);
        goto out;
    }
    headers = more;
    char curl_error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, result);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
    if (cancelled != NULL) {
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &check);
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    }
    CURLcode code = cancelled != NULL ? perform_cancellable(curl, &check) : curl_easy_perform(curl);
    if (code != CURLE_OK) {
        result->failure = failure_of(code);
        snprintf(why, why_size, "invoke %s: %s", url,
                 code == CURLE_ABORTED_BY_CALLBACK ? "interrupted"
                 : body.too_big                    ? "response larger than 16 MiB"
                 : curl_error[0]                   ? curl_error
                                                   : curl_easy_strerror(code));
        goto out;
    }
    result->failure = INVOKER_ANSWERED;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result->status);
    if (body.data == NULL) {
        body.data = calloc(1, 1);
        if (body.data == NULL) {
            snprintf(why, why_size, "invoke %s: out of memory", endpoint);
            goto out;
        }
    }
    result->body = body.data;
    result->body_len = body.len;
    body.data = NULL;
    rc = 0;
out:
    free(body.data);
    free(url);
    curl_slist_free_all(headers);
    if (curl != NULL)
        curl_easy_cleanup(curl);
    return rc;
}

void invoker_result_free(invoker_result *result)
{
    if (result == NULL)
        return;
    free(result->body);
    result->body = NULL;
    result->body_len = 0;
}
