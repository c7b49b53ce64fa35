/* dock_images: /images paths, query escaping and the pull progress stream. */
#include "dock_images.h"

#include "jsonx.h"
#include "runtime.h"

#include <json-c/json.h>

#include <stdio.h>
#include <string.h>

/* An image id as the engine names it: "sha256:" and hex digits. */
static bool dock_is_image_id(const char *image)
{
    return strncmp(image, "sha256:", 7) == 0 && image[7] != '\0' &&
           strspn(image + 7, "0123456789abcdef") == strlen(image + 7);
}

static void dock_image_info_read(const dock_response *resp, dock_image_info *info)
{
    json_object *root = json_tokener_parse(resp->body.data != NULL ? resp->body.data : "");
    const char *os = jsonx_get_string(root, "Os");
    const char *arch = jsonx_get_string(root, "Architecture");
    snprintf(info->os, sizeof info->os, "%s", os != NULL ? os : "");
    snprintf(info->architecture, sizeof info->architecture, "%s", arch != NULL ? arch : "");
    json_object_put(root);
}

int dock_image_inspect(dock_engine *engine, const char *image, const char *field,
                       uint32_t timeout_ms, const fcb_cancel *cancel, dock_image_info *info,
                       fcb_error *err)
{
    dock_response resp;
    char repo[RUNTIME_IMAGE_MAX], tag[RUNTIME_IMAGE_MAX];
    memset(&resp, 0, sizeof resp);
    memset(info, 0, sizeof *info);
    /* A malformed reference is the caller's mistake, said before any call. */
    int rc = dock_is_image_id(image)
                 ? FCB_OK
                 : dock_spec_split_image(image, field, repo, tag, sizeof repo, err);
    if (rc != FCB_OK)
        return rc;
    char *path = svc_sprintf(engine->host, "/images/%s/json", image);
    if (path == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "docker: out of memory");
    dock_request req = {
        .method = "GET", .path = path, .cancellable = true, .timeout_ms = (long)timeout_ms};
    dock_request_cancel_on(&req, cancel);
    rc = dock_engine_call(engine, &req, &resp, err);
    if (rc == FCB_OK && resp.status == 200) {
        info->present = true;
        dock_image_info_read(&resp, info);
    } else if (rc == FCB_OK && resp.status != 404) {
        rc = dock_engine_http_error(&resp, FCB_ERR_BACKEND, "inspect image", err);
        err_prefix(err, "%s '%s'", field, image);
    }
    dock_response_free(&resp);
    svc_free(engine->host, path);
    return rc;
}

typedef struct dock_pull_state {
    char error[512];
    bool failed;
} dock_pull_state;

static bool dock_pull_line(void *ctx, const char *line, size_t len)
{
    dock_pull_state *st = ctx;
    if (!st->failed && dock_spec_pull_line_error(line, len, st->error, sizeof st->error))
        st->failed = true;
    return true;
}

/* "/images/create?fromImage=<repo>&tag=<tag>[&platform=<p>]" for IMAGE, escaped. */
static int dock_pull_path(dock_engine *engine, const char *image, const char *field,
                          const char *platform, char **path, fcb_error *err)
{
    char repo[RUNTIME_IMAGE_MAX], tag[RUNTIME_IMAGE_MAX];
    *path = NULL;
    int rc = dock_spec_split_image(image, field, repo, tag, sizeof repo, err);
    if (rc != FCB_OK)
        return rc;
    char *erepo = dock_engine_escape(engine->host, repo);
    char *etag = dock_engine_escape(engine->host, tag);
    char *eplatform = platform != NULL ? dock_engine_escape(engine->host, platform) : NULL;
    if (erepo != NULL && etag != NULL && (platform == NULL || eplatform != NULL))
        *path =
            svc_sprintf(engine->host, "/images/create?fromImage=%s&tag=%s%s%s", erepo, etag,
                        platform != NULL ? "&platform=" : "", platform != NULL ? eplatform : "");
    svc_free(engine->host, erepo);
    svc_free(engine->host, etag);
    svc_free(engine->host, eplatform);
    return *path != NULL ? FCB_OK : err_set(err, FCB_ERR_NO_MEMORY, "docker: out of memory");
}

int dock_image_pull(dock_engine *engine, const char *image, const char *field,
                    const char *registry_auth, const char *platform, uint32_t timeout_ms,
                    const fcb_cancel *cancel, fcb_error *err)
{
    dock_response resp;
    char *path = NULL;
    memset(&resp, 0, sizeof resp);
    int rc = dock_pull_path(engine, image, field, platform, &path, err);
    if (rc != FCB_OK)
        return rc;
    dock_pull_state st = {.failed = false};
    dock_request req = {.method = "POST",
                        .path = path,
                        .cancellable = true,
                        .registry_auth = registry_auth,
                        .timeout_ms = (long)timeout_ms,
                        .on_line = dock_pull_line,
                        .line_ctx = &st};
    dock_request_cancel_on(&req, cancel);
    rc = dock_engine_call(engine, &req, &resp, err);
    if (rc != FCB_OK) {
        err_prefix(err, "pull %s '%s'", field, image);
    } else if (resp.status != 200) {
        char what[RUNTIME_IMAGE_MAX + 64];
        snprintf(what, sizeof what, "pull %s '%s'", field, image);
        rc = dock_engine_http_error(&resp, FCB_ERR_START_FAILED, what, err);
    } else if (st.failed) {
        rc = err_set(err, FCB_ERR_START_FAILED, "pull %s '%s' failed: %s", field, image, st.error);
    }
    dock_response_free(&resp);
    svc_free(engine->host, path);
    return rc;
}
