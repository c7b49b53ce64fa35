/*
 * fuzz_watch_framer: property test of plugin/k8s/client/kube_watch_framer.c.
 *
 * The input is a watch stream. It is fed once in one piece and once in
 * chunks whose sizes come from the input itself (1..64 bytes). Properties:
 *   - both feeds deliver the same events, in the same order, and end with
 *     the same result (FCB_OK or the same error code);
 *   - an error leaves a clean fcb_error; the framer can be reset and reused;
 *   - every delivered event is a JSON object and kube_watch_event_decode
 *     either decodes it or refuses it cleanly;
 *   - no event larger than the limit is delivered; nothing leaks.
 */
#include "fuzz_common.h"
#include "fuzz_targets.h"

#include <kube_watch_framer.h>
#include <mock_host.h>

#include <string.h>

#define FRAMER_LIMIT 4096
#define MAX_EVENTS   256

typedef struct collected {
    char *events[MAX_EVENTS];
    size_t n;
} collected;

static int collect(void *ctx, json_object *event)
{
    collected *c = ctx;
    FUZZ_REQUIRE(json_object_is_type(event, json_type_object), "event is not an object");
    const char *text = json_object_to_json_string_ext(event, JSON_C_TO_STRING_PLAIN);
    kube_watch_event ev;
    fcb_error err = FCB_ERROR_INIT;
    int rc = kube_watch_event_decode(event, &ev, &err);
    if (rc == FCB_OK)
        FUZZ_REQUIRE(ev.type != NULL && ev.object != NULL, "decoded event without type/object");
    else
        FUZZ_REQUIRE(err.code == rc && err.message[0] != '\0', "unclean decode error");
    if (c->n == MAX_EVENTS)
        return 1; /* stop: enough for one input */
    c->events[c->n] = strdup(text);
    if (c->events[c->n] == NULL)
        abort();
    c->n++;
    return 0;
}

static void collected_free(collected *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->events[i]);
    c->n = 0;
}

static int feed(kube_watch_framer *f, const uint8_t *data, size_t size, size_t chunk_seed,
                collected *c, fcb_error *err)
{
    size_t off = 0;
    uint32_t step = (uint32_t)chunk_seed;
    while (off < size) {
        size_t n = fuzz_next_chunk(&step, size - off);
        int rc = kube_watch_framer_feed(f, (const char *)data + off, n, collect, c, err);
        if (rc != FCB_OK)
            return rc;
        off += n;
    }
    return FCB_OK;
}

int fuzz_watch_framer(const uint8_t *data, size_t size)
{
    mock_host *mh = mock_host_new();
    const fcb_host_services *svc = mock_host_services(mh);
    kube_watch_framer *f = kube_watch_framer_new(svc, FRAMER_LIMIT);
    FUZZ_REQUIRE(f != NULL, "framer_new failed");

    collected whole = {0}, chunked = {0};
    fcb_error e1 = FCB_ERROR_INIT, e2 = FCB_ERROR_INIT;
    int rc1 = feed(f, data, size, 0, &whole, &e1);
    if (rc1 < 0)
        FUZZ_REQUIRE(e1.code == rc1 && e1.message[0] != '\0', "unclean framer error");
    kube_watch_framer_reset(f);
    uint32_t seed = 1;
    for (size_t i = 0; i < size && i < 8; i++)
        seed = seed * 31u + data[i];
    int rc2 = feed(f, data, size, seed | 1u, &chunked, &e2);
    FUZZ_REQUIRE(rc1 == rc2, "whole feed -> %d (%s), chunked -> %d (%s)", rc1, e1.message, rc2,
                 e2.message);
    FUZZ_REQUIRE(whole.n == chunked.n, "whole feed gave %zu events, chunked %zu", whole.n,
                 chunked.n);
    for (size_t i = 0; i < whole.n; i++) {
        FUZZ_REQUIRE(strcmp(whole.events[i], chunked.events[i]) == 0, "event %zu differs", i);
        FUZZ_REQUIRE(strlen(whole.events[i]) <= 4 * FRAMER_LIMIT, "event %zu too large", i);
    }
    collected_free(&whole);
    collected_free(&chunked);

    /* reusable after reset */
    kube_watch_framer_reset(f);
    fcb_error e3 = FCB_ERROR_INIT;
    collected again = {0};
    static const char ok[] = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n";
    FUZZ_REQUIRE(kube_watch_framer_feed(f, ok, sizeof ok - 1, collect, &again, &e3) == FCB_OK &&
                     again.n == 1,
                 "framer not reusable after reset: %s", e3.message);
    collected_free(&again);
    kube_watch_framer_free(f);
    FUZZ_REQUIRE(mock_host_outstanding_bytes(mh) == 0, "%zu bytes leaked",
                 mock_host_outstanding_bytes(mh));
    mock_host_free(mh);
    return 0;
}
