/* Unit tests: watch stream framing (incl. a fuzz-style split test) and Status messages. */
#include "kube_status.h"
#include "kube_watch_framer.h"
#include "mock_fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

MOCK_HOST_SUITE(kube_watch_framer);
TestSuite(kube_status);

/* Collected events, serialised, one per line. */
typedef struct collected {
    char *text;
    size_t len, cap;
    size_t count;
} collected;

static int collect(void *ctx, json_object *event)
{
    collected *c = ctx;
    const char *s = json_object_to_json_string_ext(event, JSON_C_TO_STRING_PLAIN);
    size_t n = strlen(s);
    if (c->len + n + 2 > c->cap) {
        c->cap = (c->len + n + 2) * 2;
        c->text = realloc(c->text, c->cap);
        cr_assert_not_null(c->text);
    }
    memcpy(c->text + c->len, s, n);
    c->len += n;
    c->text[c->len++] = '\n';
    c->text[c->len] = '\0';
    c->count++;
    return 0;
}

/* A recorded-style stream: pods with growing bodies, a bookmark, an ERROR, one big object. */
static char *make_stream(size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    cr_assert_not_null(f);
    for (int i = 0; i < 40; i++) {
        fprintf(
            f,
            "{\"type\":\"%s\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":"
            "{\"name\":\"fakecloud-lambda-fn-%d\",\"namespace\":\"default\",\"resourceVersion\":"
            "\"%d\",\"labels\":{\"fakecloud-managed-by\":\"fakecloud\"}},\"status\":{\"phase\":"
            "\"Pending\",\"message\":\"quote \\\" brace } bracket ] newline \\n unicode \\u00e9\","
            "\"n\":[1,2.5,-3e2,true,false,null]}}}\n",
            i % 3 == 0   ? "ADDED"
            : i % 3 == 1 ? "MODIFIED"
                         : "DELETED",
            i, 100 + i);
        if (i == 20)
            fputs("{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
                  "\"metadata\":{\"resourceVersion\":\"120\"}}}\r\n\n",
                  f);
    }
    fputs("{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"big\",\"resourceVersion\":"
          "\"200\"},\"data\":\"",
          f);
    for (int i = 0; i < 20000; i++)
        fputc('a' + i % 26, f);
    fputs("\"}}\n", f);
    fputs("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":"
          "\"Failure\",\"message\":\"too old resource version: 1 (100)\",\"reason\":\"Expired\","
          "\"code\":410}}\n",
          f);
    fclose(f);
    *len = size;
    return buf;
}

Test(kube_watch_framer, frames_a_stream_fed_in_one_piece)
{
    size_t len = 0;
    char *stream = make_stream(&len);
    kube_watch_framer *fr = kube_watch_framer_new(host, 1u << 20);
    cr_assert_not_null(fr);
    collected c = {0};
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(kube_watch_framer_feed(fr, stream, len, collect, &c, &err), FCB_OK, "%s",
                 err.message);
    cr_expect_eq(c.count, 43);
    cr_expect_eq(kube_watch_framer_pending(fr), 0);
    kube_watch_framer_free(fr);
    free(c.text);
    free(stream);
}

Test(kube_watch_framer, gives_the_same_events_for_1000_random_splits)
{
    size_t len = 0;
    char *stream = make_stream(&len);
    kube_watch_framer *fr = kube_watch_framer_new(host, 1u << 20);
    cr_assert_not_null(fr);
    collected want = {0};
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(kube_watch_framer_feed(fr, stream, len, collect, &want, &err), FCB_OK);
    unsigned seed = 12345;
    for (int iter = 0; iter < 1000; iter++) {
        collected got = {0};
        kube_watch_framer_reset(fr);
        size_t off = 0;
        /* Small pieces often (byte-by-byte splits of tokens), big pieces sometimes. */
        size_t max_piece = iter % 4 == 0 ? 7 : iter % 4 == 1 ? 300 : iter % 4 == 2 ? 5000 : 40000;
        while (off < len) {
            size_t piece = 1 + (size_t)rand_r(&seed) % max_piece;
            if (piece > len - off)
                piece = len - off;
            int rc = kube_watch_framer_feed(fr, stream + off, piece, collect, &got, &err);
            cr_assert_eq(rc, FCB_OK, "iteration %d at %zu: %s", iter, off, err.message);
            off += piece;
        }
        cr_assert_eq(got.count, want.count, "iteration %d", iter);
        cr_assert_eq(got.len, want.len, "iteration %d", iter);
        cr_assert(memcmp(got.text, want.text, want.len) == 0, "iteration %d", iter);
        free(got.text);
    }
    kube_watch_framer_free(fr);
    free(want.text);
    free(stream);
}

Test(kube_watch_framer, refuses_an_event_larger_than_the_limit)
{
    size_t len = 0;
    char *stream = make_stream(&len);
    kube_watch_framer *fr = kube_watch_framer_new(host, 16u << 10);
    collected c = {0};
    fcb_error err = FCB_ERROR_INIT;
    int rc = FCB_OK;
    for (size_t off = 0; off < len && rc == FCB_OK; off += 1000)
        rc = kube_watch_framer_feed(fr, stream + off, len - off < 1000 ? len - off : 1000, collect,
                                    &c, &err);
    cr_expect_eq(rc, FCB_ERR_BACKEND);
    cr_expect(strstr(err.message, "event larger than 16384 bytes") != NULL, "%s", err.message);
    cr_expect_eq(c.count, 41, "every event before the big one was delivered");
    kube_watch_framer_free(fr);
    free(c.text);
    free(stream);
}

Test(kube_watch_framer, reports_invalid_json_with_its_offset)
{
    kube_watch_framer *fr = kube_watch_framer_new(host, 1024);
    collected c = {0};
    fcb_error err = FCB_ERROR_INIT;
    const char *s = "{\"type\":\"ADDED\",\"object\":{}}\n{\"type\" \"x\"}\n";
    cr_expect_eq(kube_watch_framer_feed(fr, s, strlen(s), collect, &c, &err), FCB_ERR_BACKEND);
    cr_expect(strstr(err.message, "watch stream: invalid JSON at byte") != NULL, "%s", err.message);
    cr_expect_eq(c.count, 1);
    kube_watch_framer_free(fr);
    free(c.text);
}

Test(kube_watch_framer, treats_garbage_after_an_event_on_its_line_the_same_however_split)
{
    /* Fuzz finding: the event, then non-JSON on the same line. */
    const char *s = "{\"type\":\"ADDED\",\"object\":{}}\r\r   zF{ }\n";
    size_t len = strlen(s);
    for (size_t split = 0; split <= len; split++) {
        kube_watch_framer *fr = kube_watch_framer_new(host, 1024);
        collected c = {0};
        fcb_error err = FCB_ERROR_INIT;
        int rc = kube_watch_framer_feed(fr, s, split, collect, &c, &err);
        if (rc == FCB_OK)
            rc = kube_watch_framer_feed(fr, s + split, len - split, collect, &c, &err);
        cr_expect_eq(rc, FCB_ERR_BACKEND, "split at %zu", split);
        cr_expect(strstr(err.message, "watch stream: unexpected data after the event") != NULL,
                  "split at %zu: %s", split, err.message);
        cr_expect_eq(c.count, 0,
                     "split at %zu: %zu events (an event is handed out when its "
                     "line ends)",
                     split, c.count);
        kube_watch_framer_free(fr);
        free(c.text);
    }
}

Test(kube_watch_framer, refuses_events_that_are_not_objects)
{
    kube_watch_framer *fr = kube_watch_framer_new(host, 1024);
    collected c = {0};
    fcb_error err = FCB_ERROR_INIT;
    const char *s = "[1,2]\n";
    cr_expect_eq(kube_watch_framer_feed(fr, s, strlen(s), collect, &c, &err), FCB_ERR_BACKEND);
    cr_expect(strstr(err.message, "not a JSON object") != NULL, "%s", err.message);
    kube_watch_framer_free(fr);
}

static int stop_after_one(void *ctx, json_object *event)
{
    (*(int *)ctx)++;
    return 7;
}

Test(kube_watch_framer, stops_when_the_callback_asks)
{
    kube_watch_framer *fr = kube_watch_framer_new(host, 1024);
    int calls = 0;
    const char *s = "{\"a\":1}\n{\"b\":2}\n";
    cr_expect_eq(kube_watch_framer_feed(fr, s, strlen(s), stop_after_one, &calls, NULL), 7);
    cr_expect_eq(calls, 1);
    kube_watch_framer_free(fr);
}

Test(kube_watch_framer, decodes_error_events_with_their_code)
{
    json_object *ev = json_tokener_parse("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
                                         "\"code\":410,\"reason\":\"Expired\"}}");
    kube_watch_event out;
    cr_assert_eq(kube_watch_event_decode(ev, &out, NULL), FCB_OK);
    cr_expect_str_eq(out.type, "ERROR");
    cr_expect_eq(out.error_code, 410);
    json_object_put(ev);
    ev = json_tokener_parse(
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\"}}}");
    cr_assert_eq(kube_watch_event_decode(ev, &out, NULL), FCB_OK);
    cr_expect_str_eq(out.resource_version, "9");
    json_object_put(ev);
    ev = json_tokener_parse("{\"object\":{}}");
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(kube_watch_event_decode(ev, &out, &err), FCB_ERR_BACKEND);
    cr_expect_str_eq(err.message, "watch stream: event without type");
    json_object_put(ev);
}

Test(kube_status, formats_a_status_body_with_code_reason_and_message)
{
    json_object *body = json_tokener_parse(
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\"Pod "
        "\\\"x\\\" is invalid: spec.containers[0].image: Required value\",\"reason\":\"Invalid\","
        "\"code\":422}");
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(kube_status_error(&err, FCB_ERR_BACKEND, "POST",
                                   "/api/v1/namespaces/ns/pods?fieldValidation=Strict", 422, body,
                                   NULL, 0),
                 FCB_ERR_BACKEND);
    cr_expect_str_eq(err.message, "k8s POST /api/v1/namespaces/ns/pods: 422 Invalid: Pod \"x\" is "
                                  "invalid: spec.containers[0].image: Required value");
    char reason[64];
    kube_status_reason(422, body, reason, sizeof reason);
    cr_expect_str_eq(reason, "Invalid");
    json_object_put(body);
}

Test(kube_status, uses_the_http_reason_when_the_body_is_not_a_status)
{
    fcb_error err = FCB_ERROR_INIT;
    const char *raw = "upstream\nconnect error";
    kube_status_error(&err, FCB_ERR_BACKEND, "GET", "/api/v1/pods", 503, NULL, raw, strlen(raw));
    cr_expect_str_eq(err.message,
                     "k8s GET /api/v1/pods: 503 ServiceUnavailable: upstream connect error");
    char reason[64];
    kube_status_reason(404, NULL, reason, sizeof reason);
    cr_expect_str_eq(reason, "NotFound");
    kube_status_reason(299, NULL, reason, sizeof reason);
    cr_expect_str_eq(reason, "");
}

Test(kube_status, keeps_already_exists_from_the_status_reason)
{
    json_object *body = json_tokener_parse(
        "{\"kind\":\"Status\",\"message\":\"pods \\\"p\\\" already exists\",\"reason\":"
        "\"AlreadyExists\",\"code\":409}");
    char reason[64];
    kube_status_reason(409, body, reason, sizeof reason);
    cr_expect_str_eq(reason, "AlreadyExists");
    fcb_error err = FCB_ERROR_INIT;
    kube_status_error(&err, FCB_ERR_BACKEND, "POST", "/api/v1/namespaces/d/pods", 409, body, NULL,
                      0);
    cr_expect_str_eq(
        err.message,
        "k8s POST /api/v1/namespaces/d/pods: 409 AlreadyExists: pods \"p\" already exists");
    json_object_put(body);
}

Test(kube_status, maps_http_codes_to_plugin_codes)
{
    cr_expect_eq(kube_status_code(200), FCB_OK);
    cr_expect_eq(kube_status_code(201), FCB_OK);
    cr_expect_eq(kube_status_code(404), FCB_ERR_NOT_FOUND);
    cr_expect_eq(kube_status_code(409), FCB_ERR_BACKEND);
    cr_expect_eq(kube_status_code(500), FCB_ERR_BACKEND);
}
