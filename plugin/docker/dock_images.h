/*
 * dock_images: typed verbs on the Engine API's /images resource.
 *
 * The only place in plugin/docker that knows image URL paths and the pull
 * progress stream. FIELD ("ImageUri", "runtime image", "image") names the
 * image in every error. Thread-safe; both verbs are cancellable.
 */
#ifndef FCB_DOCK_IMAGES_H
#define FCB_DOCK_IMAGES_H

#include "dock_engine.h"

#include <stdbool.h>
#include <stdint.h>

/*
 * GET /images/IMAGE/json: *PRESENT true (200) or false (404); other answers
 * are errors. FCB_ERR_INVALID_ARGUMENT for a malformed reference (no call made).
 * TIMEOUT_MS bounds the call (0 = 30 s).
 */
int dock_image_inspect(dock_engine *engine, const char *image, const char *field,
                       uint32_t timeout_ms, bool *present, fcb_error *err);

/*
 * POST /images/create?fromImage=<repo>&tag=<tag> with REGISTRY_AUTH (the
 * X-Registry-Auth value, may be NULL) within TIMEOUT_MS. The engine answers
 * 200 and then streams progress; an error line in the stream fails the pull
 * (FCB_ERR_START_FAILED with the engine's message), as does a non-200
 * answer. FCB_ERR_INVALID_ARGUMENT for a malformed reference (no call made),
 * FCB_ERR_TIMEOUT when TIMEOUT_MS passed.
 */
int dock_image_pull(dock_engine *engine, const char *image, const char *field,
                    const char *registry_auth, uint32_t timeout_ms, fcb_error *err);

#endif
