/*
 * fuzz_kube_status: property test of plugin/k8s/client/kube_status.c.
 *
 * Input: 2 bytes of HTTP status (100..599), the rest is a response body,
 * given both as parsed JSON (when it parses) and as raw text. Properties:
 *   - kube_status_reason always writes a NUL-terminated reason that fits;
 *   - kube_status_error returns the code, sets err.code and a non-empty,
 *     NUL-terminated message that starts with the request ("k8s GET /p");
 *   - a raw (non-JSON) body never brings control characters (newlines,
 *     escapes) into the message: log lines stay single lines;
 *   - kube_status_code maps 2xx to FCB_OK and everything else to an error.
 */
#include "fuzz_common.h"
#include "fuzz_targets.h"

#include <kube_status.h>

#include <string.h>

int fuzz_kube_status(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    long status = 100 + ((long)data[0] << 8 | data[1]) % 500;
    const char *raw = (const char *)data + 2;
    size_t raw_len = size - 2;

    json_tokener *tok = json_tokener_new();
    json_object *body =
        json_tokener_parse_ex(tok, raw, (int)(raw_len > 1 << 20 ? 1 << 20 : raw_len));
    json_tokener_free(tok);

    char reason[64];
    memset(reason, 'x', sizeof reason);
    kube_status_reason(status, body, reason, sizeof reason);
    FUZZ_REQUIRE(memchr(reason, '\0', sizeof reason) != NULL, "reason not terminated");
    char tiny[1] = {'x'};
    kube_status_reason(status, body, tiny, sizeof tiny);
    FUZZ_REQUIRE(tiny[0] == '\0', "reason overflowed a 1-byte buffer");

    for (int pass = 0; pass < 2; pass++) {
        json_object *b = pass == 0 ? body : NULL;
        fcb_error err = FCB_ERROR_INIT;
        int rc = kube_status_error(&err, FCB_ERR_BACKEND, "GET", "/api/v1/pods?x=1", status, b, raw,
                                   raw_len);
        FUZZ_REQUIRE(rc == FCB_ERR_BACKEND && err.code == rc, "code %d/%d", rc, err.code);
        FUZZ_REQUIRE(memchr(err.message, '\0', sizeof err.message) != NULL,
                     "message not terminated");
        FUZZ_REQUIRE(strncmp(err.message, "k8s GET /api/v1/pods: ", 22) == 0,
                     "message does not start with the request (query dropped): \"%s\"",
                     err.message);
        if (b == NULL) {
            for (const char *p = err.message; *p != '\0'; p++)
                FUZZ_REQUIRE((unsigned char)*p >= 0x20 && *p != 0x7f,
                             "control character 0x%02x in message \"%s\"", (unsigned char)*p,
                             err.message);
        }
    }
    int code = kube_status_code(status);
    FUZZ_REQUIRE((status >= 200 && status < 300) == (code == FCB_OK), "status %ld -> %d", status,
                 code);
    json_object_put(body);
    return 0;
}
