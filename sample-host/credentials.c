/* credentials: `aws sts assume-role` JSON -> fcb_credentials. */
#include "credentials.h"

#include <json-c/json.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Longest credential string accepted (AWS session tokens are ~1-2 KB). */
#define CREDENTIALS_STRING_MAX 8192

/* A printable-ASCII string member NAME of O; required or not. */
static int cred_string(json_object *o, const char *name, int required, char **out, char *why,
                       size_t why_size)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, name, &v) || json_object_is_type(v, json_type_null)) {
        if (!required)
            return 0;
        snprintf(why, why_size, "Credentials.%s: required", name);
        return -1;
    }
    if (!json_object_is_type(v, json_type_string)) {
        snprintf(why, why_size, "Credentials.%s: expected a string", name);
        return -1;
    }
    const char *s = json_object_get_string(v);
    size_t n = strlen(s);
    if (n == 0 || n > CREDENTIALS_STRING_MAX) {
        snprintf(why, why_size, "Credentials.%s: expected 1 to %d characters, got %zu", name,
                 CREDENTIALS_STRING_MAX, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f) {
            snprintf(why, why_size,
                     "Credentials.%s: character %zu is not printable ASCII (value not shown)", name,
                     i);
            return -1;
        }
    }
    *out = strdup(s);
    if (*out == NULL) {
        snprintf(why, why_size, "Credentials.%s: out of memory", name);
        return -1;
    }
    return 0;
}

/* "2026-12-03T15:00:00Z", "...:00.123Z", "...:00+01:00" -> unix seconds. */
static int cred_time(const char *s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL)
        return -1;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++) {
        }
    long offset = 0;
    if (*p == 'Z') {
        p++;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int hh = 0, mm = 0;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2 || hh > 23 || mm > 59)
            return -1;
        offset = (*p == '+' ? 1 : -1) * (hh * 3600L + mm * 60L);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    *out = (int64_t)timegm(&tm) - offset;
    return 0;
}

static int cred_expiration(json_object *o, int64_t *out, char *why, size_t why_size)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, "Expiration", &v) || json_object_is_type(v, json_type_null))
        return 0;
    if (!json_object_is_type(v, json_type_string) ||
        cred_time(json_object_get_string(v), out) != 0) {
        snprintf(why, why_size,
                 "Credentials.Expiration: expected an ISO 8601 time such as "
                 "2026-12-03T15:00:00Z");
        return -1;
    }
    return 0;
}

int credentials_parse(const char *text, size_t len, host_credentials *out, char *why,
                      size_t why_size)
{
    memset(out, 0, sizeof *out);
    json_tokener *tok = json_tokener_new();
    json_object *root = tok != NULL ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    json_object *c = NULL;
    int rc = -1;
    if (root == NULL || !json_object_is_type(root, json_type_object)) {
        snprintf(why, why_size,
                 "expected a JSON object ({\"Credentials\": {...}} as `aws sts "
                 "assume-role` prints)");
        goto out;
    }
    if (!json_object_object_get_ex(root, "Credentials", &c) ||
        !json_object_is_type(c, json_type_object)) {
        snprintf(why, why_size, "Credentials: required, an object");
        goto out;
    }
    if (cred_string(c, "AccessKeyId", 1, &out->access_key_id, why, why_size) != 0 ||
        cred_string(c, "SecretAccessKey", 1, &out->secret_access_key, why, why_size) != 0 ||
        cred_string(c, "SessionToken", 0, &out->session_token, why, why_size) != 0 ||
        cred_expiration(c, &out->expiration_unix_s, why, why_size) != 0)
        goto out;
    out->fcb = (fcb_credentials){sizeof out->fcb, out->access_key_id, out->secret_access_key,
                                 out->session_token, out->expiration_unix_s};
    rc = 0;
out:
    json_object_put(root);
    if (tok != NULL)
        json_tokener_free(tok);
    if (rc != 0)
        credentials_free(out);
    return rc;
}

static void wipe_free(char *s)
{
    if (s != NULL)
        explicit_bzero(s, strlen(s));
    free(s);
}

void credentials_free(host_credentials *c)
{
    if (c == NULL)
        return;
    wipe_free(c->access_key_id);
    wipe_free(c->secret_access_key);
    wipe_free(c->session_token);
    memset(c, 0, sizeof *c);
}
