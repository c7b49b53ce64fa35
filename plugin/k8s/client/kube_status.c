/* kube_status: Status bodies and HTTP codes to fcb_error messages. */
#include "kube_status.h"

#include "jsonx.h"
#include "svc.h"

#include <stdio.h>
#include <string.h>

static const char *reason_for(long http_status)
{
    switch (http_status) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 406: return "NotAcceptable";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "RequestEntityTooLarge";
    case 415: return "UnsupportedMediaType";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 503: return "ServiceUnavailable";
    case 504: return "Timeout";
    default: return "";
    }
}

static bool is_status(json_object *body)
{
    const char *kind = jsonx_get_string(body, "kind");
    return kind != NULL && strcmp(kind, "Status") == 0;
}

void kube_status_reason(long http_status, json_object *body, char *out, size_t out_size)
{
    const char *reason = is_status(body) ? jsonx_get_string(body, "reason") : NULL;
    if (reason == NULL || reason[0] == '\0')
        reason = reason_for(http_status);
    snprintf(out, out_size, "%s", reason);
}

int kube_status_code(long http_status)
{
    if (http_status >= 200 && http_status < 300)
        return FCB_OK;
    if (http_status == 404)
        return FCB_ERR_NOT_FOUND;
    return FCB_ERR_BACKEND;
}

/* Append TEXT to OUT (capacity CAP, current length *LEN) minus control chars. */
static void append_clean(char *out, size_t cap, size_t *len, const char *text, size_t text_len)
{
    for (size_t i = 0; i < text_len && *len + 1 < cap; i++) {
        unsigned char c = (unsigned char)text[i];
        out[(*len)++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    out[*len] = '\0';
}

int kube_status_error(fcb_error *err, int code, const char *method, const char *path,
                      long http_status, json_object *body, const char *raw, size_t raw_len)
{
    char reason[64];
    char detail[700];
    size_t dlen = 0;
    size_t path_len = strcspn(path, "?");
    detail[0] = '\0';
    kube_status_reason(http_status, body, reason, sizeof reason);
    if (is_status(body)) {
        const char *message = jsonx_get_string(body, "message");
        if (message != NULL)
            append_clean(detail, sizeof detail, &dlen, message, strlen(message));
    } else if (body != NULL) {
        const char *text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
        append_clean(detail, sizeof detail, &dlen, text, strlen(text));
    } else if (raw != NULL && raw_len > 0) {
        append_clean(detail, sizeof detail, &dlen, raw, raw_len > 300 ? 300 : raw_len);
        if (raw_len > 300)
            append_clean(detail, sizeof detail, &dlen, "...", 3);
    }
    if (detail[0] == '\0')
        snprintf(detail, sizeof detail, "(no message)");
    return err_set(err, code, "k8s %s %.*s: %ld%s%s: %s", method, (int)path_len, path, http_status,
                   reason[0] != '\0' ? " " : "", reason, detail);
}
