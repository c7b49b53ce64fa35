/*
 * dock_images: typed verbs on the Engine API's /images resource.
 *
 * The only place in plugin/docker that knows image URL paths and the pull
 * progress stream. FIELD ("ImageUri", "runtime image", "image") names the
 * image in every error. Thread-safe; both verbs are cancellable: by the
 * backend closing, and by CANCEL (a host's token, may be NULL) within
 * ~100 ms.
 */
#ifndef FCB_DOCK_IMAGES_H
#define FCB_DOCK_IMAGES_H

#include "dock_engine.h"

#include <stdbool.h>
#include <stdint.h>

/* What GET /images/{ref}/json says of a local image. */
typedef struct dock_image_info {
    bool present;
    char os[16];           /* "linux"; "" when the answer has none */
    char architecture[16]; /* Go name: "amd64", "arm64"; "" when the answer has none */
} dock_image_info;

/*
 * GET /images/IMAGE/json: INFO->present true (200, with its platform) or
 * false (404); other answers are errors. IMAGE may be a reference or an
 * image id ("sha256:..."). FCB_ERR_INVALID_ARGUMENT for a malformed
 * reference (no call made). TIMEOUT_MS bounds the call (0 = 30 s).
 */
int dock_image_inspect(dock_engine *engine, const char *image, const char *field,
                       uint32_t timeout_ms, const fcb_cancel *cancel, dock_image_info *info,
                       fcb_error *err);

/*
 * POST /images/create?fromImage=<repo>&tag=<tag>[&platform=PLATFORM] with
 * REGISTRY_AUTH (the X-Registry-Auth value, may be NULL) within TIMEOUT_MS.
 * PLATFORM ("linux/arm64", NULL = the engine's own) selects the variant of
 * a multi-platform image. The engine answers 200 and then streams progress;
 * an error line in the stream fails the pull (FCB_ERR_START_FAILED with the
 * engine's message), as does a non-200 answer. FCB_ERR_INVALID_ARGUMENT for
 * a malformed reference (no call made), FCB_ERR_TIMEOUT when TIMEOUT_MS
 * passed, FCB_ERR_CANCELLED when CANCEL fired or the backend closes.
 */
int dock_image_pull(dock_engine *engine, const char *image, const char *field,
                    const char *registry_auth, const char *platform, uint32_t timeout_ms,
                    const fcb_cancel *cancel, fcb_error *err);

#endif
