/*
 * fuzz_runtime: property test of plugin/common/runtime.c.
 *
 * Input: up to three NUL-separated parts: VALUE, HOST, PORT. Properties:
 *   - runtime_image either maps VALUE to a public.ecr.aws/lambda/ image or
 *     refuses it (FCB_ERR_UNSUPPORTED, or FCB_ERR_INVALID_ARGUMENT when
 *     empty) with a message;
 *   - runtime_translate_ecr always writes a NUL-terminated string shorter
 *     than RUNTIME_IMAGE_MAX, and copies VALUE unchanged when it says "not
 *     an ECR URI";
 *   - runtime_rewrite_localhost leaks nothing (mock host), returns NULL only
 *     when an allocation failed, and is idempotent when HOST itself holds no
 *     loopback name;
 *   - with the Nth allocation failing, it returns NULL and leaks nothing.
 */
#include "fuzz_common.h"
#include "fuzz_targets.h"

#include <mock_host.h>
#include <runtime.h>
#include <svc.h>

#include <string.h>

int fuzz_runtime(const uint8_t *data, size_t size)
{
    char *parts[3];
    size_t n = fuzz_split(data, size, parts, 3);
    const char *value = parts[0];
    const char *host_name = n > 1 ? parts[1] : "";
    unsigned port = n > 2 ? (unsigned)strtoul(parts[2], NULL, 10) : 0;

    char out[RUNTIME_IMAGE_MAX];
    fcb_error err = FCB_ERROR_INIT;
    int rc = runtime_image(value, out, &err);
    if (rc == FCB_OK)
        FUZZ_REQUIRE(strncmp(out, "public.ecr.aws/lambda/", 22) == 0, "image \"%s\"", out);
    else
        FUZZ_REQUIRE((rc == FCB_ERR_UNSUPPORTED || rc == FCB_ERR_INVALID_ARGUMENT) &&
                         err.code == rc && err.message[0] != '\0',
                     "rc %d message \"%s\"", rc, err.message);

    memset(out, 'Z', sizeof out);
    bool translated = runtime_translate_ecr(value, host_name, port, out);
    FUZZ_REQUIRE(memchr(out, '\0', sizeof out) != NULL, "translate_ecr output not terminated");
    if (!translated && strlen(value) < RUNTIME_IMAGE_MAX)
        FUZZ_REQUIRE(strcmp(out, value) == 0, "untranslated image changed");

    mock_host *mh = mock_host_new();
    const fcb_host_services *svc = mock_host_services(mh);
    char *once = runtime_rewrite_localhost(svc, value, host_name);
    FUZZ_REQUIRE(once != NULL, "rewrite returned NULL without an allocation failure");
    if (strstr(host_name, "localhost") == NULL && strstr(host_name, "127.0.0.1") == NULL) {
        char *twice = runtime_rewrite_localhost(svc, once, host_name);
        FUZZ_REQUIRE(twice != NULL && strcmp(once, twice) == 0, "rewrite not idempotent");
        svc_free(svc, twice);
    }
    svc_free(svc, once);
    for (size_t fail = 1; fail <= 4; fail++) {
        size_t failed_before = mock_host_failed_allocs(mh);
        mock_host_fail_alloc(mh, fail);
        char *r = runtime_rewrite_localhost(svc, value, host_name);
        if (mock_host_failed_allocs(mh) > failed_before)
            FUZZ_REQUIRE(r == NULL, "rewrite ignored failed allocation %zu", fail);
        svc_free(svc, r);
    }
    mock_host_fail_alloc(mh, 0);
    FUZZ_REQUIRE(mock_host_outstanding_bytes(mh) == 0, "%zu bytes leaked",
                 mock_host_outstanding_bytes(mh));
    mock_host_free(mh);
    fuzz_parts_free(parts, n);
    return 0;
}
