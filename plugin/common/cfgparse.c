/*
 * cfgparse: strict parsers (strtoull with every check, libcurl's URL API)
 * and the table walk. Messages come from cfg_error() only.
 */
#include "cfgparse.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CFG_URL_MAX     1024
#define CFG_MAP_ENTRIES 256

int cfg_error(fcb_error *err, const char *key, const char *value, const char *what,
              const char *why_fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, why_fmt);
    vsnprintf(why, sizeof why, why_fmt, ap);
    va_end(ap);
    if (value == NULL)
        return err_set(err, FCB_ERR_CONFIG, "%s is not %s: %s (value not shown)", key, what, why);
    return err_set(err, FCB_ERR_CONFIG, "%s is not %s: %s (got \"%.200s\")", key, what, why, value);
}

/* Digits only, within MIN..MAX; WHAT is the phrase of the message. */
static int cfg_parse_number(const char *key, const char *value, uint64_t min, uint64_t max,
                            const char *what, uint64_t *out, fcb_error *err)
{
    if (value[0] < '0' || value[0] > '9')
        return cfg_error(err, key, value, what, "not a number");
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(value, &end, 10);
    if (end == NULL || *end != '\0')
        return cfg_error(err, key, value, what, "\"%.20s\" after the number", end);
    if (errno == ERANGE || n < min || n > max)
        return cfg_error(err, key, value, what, "out of range");
    *out = n;
    return FCB_OK;
}

int cfg_parse_uint(const char *key, const char *value, uint64_t min, uint64_t max, uint64_t *out,
                   fcb_error *err)
{
    char what[96];
    snprintf(what, sizeof what, "an integer from %llu to %llu", (unsigned long long)min,
             (unsigned long long)max);
    return cfg_parse_number(key, value, min, max, what, out, err);
}

int cfg_parse_ms(const char *key, const char *value, uint32_t min, uint32_t max, uint32_t *out,
                 fcb_error *err)
{
    char what[96];
    uint64_t v = 0;
    snprintf(what, sizeof what, "a duration in ms from %u to %u", min, max);
    int rc = cfg_parse_number(key, value, min, max, what, &v, err);
    if (rc == FCB_OK)
        *out = (uint32_t)v;
    return rc;
}

int cfg_parse_bool(const char *key, const char *value, bool *out, fcb_error *err)
{
    if (strcmp(value, "true") == 0)
        *out = true;
    else if (strcmp(value, "false") == 0)
        *out = false;
    else
        return cfg_error(err, key, value, "true or false", "unknown word");
    return FCB_OK;
}

static bool cfg_has_space(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s <= ' ' || (unsigned char)*s == 0x7f)
            return true;
    }
    return false;
}

/* Copy part PART of U into OUT (SIZE bytes); false when absent or too long. */
static bool cfg_url_part(CURLU *u, CURLUPart part, unsigned flags, char *out, size_t size)
{
    char *s = NULL;
    bool ok = curl_url_get(u, part, &s, flags) == CURLUE_OK && s != NULL && strlen(s) < size;
    if (ok)
        memcpy(out, s, strlen(s) + 1);
    curl_free(s);
    return ok;
}

static int cfg_url_fill(CURLU *u, const char *key, const char *value, cfg_url *out, fcb_error *err)
{
    static const char what[] = "a valid URL";
    char port[8], path[8], extra[2];
    if (!cfg_url_part(u, CURLUPART_HOST, 0, out->host, sizeof out->host) || out->host[0] == '\0')
        return cfg_error(err, key, value, what, "missing host");
    if (!cfg_url_part(u, CURLUPART_SCHEME, 0, out->scheme, sizeof out->scheme) ||
        (strcmp(out->scheme, "http") != 0 && strcmp(out->scheme, "https") != 0))
        return cfg_error(err, key, value, what, "scheme must be http or https");
    size_t hl = strlen(out->host);
    if (out->host[0] == '[' && hl > 2 && out->host[hl - 1] == ']') {
        memmove(out->host, out->host + 1, hl - 2);
        out->host[hl - 2] = '\0';
    }
    out->port_explicit = cfg_url_part(u, CURLUPART_PORT, 0, port, sizeof port);
    if (!cfg_url_part(u, CURLUPART_PORT, CURLU_DEFAULT_PORT, port, sizeof port))
        return cfg_error(err, key, value, what, "no port for its scheme");
    out->port = (unsigned)strtoul(port, NULL, 10);
    if (out->port == 0 || out->port > 65535)
        return cfg_error(err, key, value, what, "port out of range");
    out->has_path = !cfg_url_part(u, CURLUPART_PATH, 0, path, sizeof path) ||
                    (strcmp(path, "/") != 0 && path[0] != '\0');
    out->has_query = cfg_url_part(u, CURLUPART_QUERY, 0, extra, sizeof extra) ||
                     strchr(value, '?') != NULL || strchr(value, '#') != NULL;
    return FCB_OK;
}

int cfg_parse_url(const char *key, const char *value, unsigned flags, cfg_url *out, fcb_error *err)
{
    static const char what[] = "a valid URL";
    memset(out, 0, sizeof *out);
    if (strlen(value) > CFG_URL_MAX)
        return cfg_error(err, key, value, what, "longer than %d bytes", CFG_URL_MAX);
    if (cfg_has_space(value))
        return cfg_error(err, key, value, what, "contains whitespace");
    CURLU *u = curl_url();
    if (u == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "%s: out of memory parsing the URL", key);
    unsigned cflags = (flags & CFG_URL_HOST_PORT) != 0 ? CURLU_DEFAULT_SCHEME : 0;
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, value, cflags);
    int rc = uc == CURLUE_OK ? cfg_url_fill(u, key, value, out, err)
                             : cfg_error(err, key, value, what, "%s", curl_url_strerror(uc));
    curl_url_cleanup(u);
    return rc;
}

/* "k=v,k2=v2" into MAP. */
static int cfg_map_pairs(const fcb_host_services *host, const char *key, const char *value,
                         json_object *map, fcb_error *err)
{
    static const char what[] = "a map (k=v,k2=v2 or a JSON object of strings)";
    const char *p = value;
    for (size_t items = 0; *p != '\0'; items++) {
        if (items == CFG_MAP_ENTRIES)
            return cfg_error(err, key, value, what, "more than %d entries", CFG_MAP_ENTRIES);
        size_t n = strcspn(p, ",");
        const char *eq = memchr(p, '=', n);
        if (eq == NULL || eq == p)
            return cfg_error(err, key, value, what, "\"%.*s\" is not key=value",
                             (int)(n > 100 ? 100 : n), p);
        char *name = svc_strndup(host, p, (size_t)(eq - p));
        json_object *v = json_object_new_string_len(eq + 1, (int)(n - (size_t)(eq - p) - 1));
        if (name == NULL || v == NULL || json_object_object_add(map, name, v) != 0) {
            svc_free(host, name);
            json_object_put(v);
            return err_set(err, FCB_ERR_NO_MEMORY, "%s: out of memory reading the map", key);
        }
        svc_free(host, name);
        p += n;
        if (*p == ',')
            p++;
    }
    return FCB_OK;
}

int cfg_parse_map(const fcb_host_services *host, const char *key, const char *value,
                  json_object **out, fcb_error *err)
{
    static const char what[] = "a map (k=v,k2=v2 or a JSON object of strings)";
    json_object *map = NULL;
    int rc = FCB_OK;
    *out = NULL;
    if (value[strspn(value, " \t\r\n")] == '{') {
        map = json_tokener_parse(value);
        if (map == NULL || !json_object_is_type(map, json_type_object)) {
            rc = cfg_error(err, key, value, what, "not a JSON object");
            goto out;
        }
        if (json_object_object_length(map) > CFG_MAP_ENTRIES) {
            rc = cfg_error(err, key, value, what, "more than %d entries", CFG_MAP_ENTRIES);
            goto out;
        }
        json_object_object_foreach(map, k, v)
        {
            if (!json_object_is_type(v, json_type_string)) {
                rc = cfg_error(err, key, value, what, "the value of %.100s is not a string", k);
                goto out;
            }
        }
    } else {
        map = json_object_new_object();
        rc = map == NULL ? err_set(err, FCB_ERR_NO_MEMORY, "%s: out of memory reading the map", key)
                         : cfg_map_pairs(host, key, value, map, err);
        if (rc != FCB_OK)
            goto out;
    }
    if (json_object_object_length(map) > 0) {
        *out = map;
        map = NULL;
    }
out:
    json_object_put(map);
    return rc;
}

/* ------------------------------------------------------------ key tables */

int cfg_key_uint32(const fcb_host_services *host, const cfg_key *key, const char *value, void *cfg,
                   fcb_error *err)
{
    (void)host;
    uint64_t v = 0;
    uint64_t max = key->max > UINT32_MAX ? UINT32_MAX : key->max;
    int rc = cfg_parse_uint(key->name, value, key->min, max, &v, err);
    if (rc == FCB_OK)
        *CFG_FIELD(cfg, key, uint32_t) = (uint32_t)v;
    return rc;
}

int cfg_key_uint64(const fcb_host_services *host, const cfg_key *key, const char *value, void *cfg,
                   fcb_error *err)
{
    (void)host;
    return cfg_parse_uint(key->name, value, key->min, key->max, CFG_FIELD(cfg, key, uint64_t), err);
}

int cfg_key_ms(const fcb_host_services *host, const cfg_key *key, const char *value, void *cfg,
               fcb_error *err)
{
    (void)host;
    uint32_t max = key->max > UINT32_MAX ? UINT32_MAX : (uint32_t)key->max;
    return cfg_parse_ms(key->name, value, (uint32_t)key->min, max, CFG_FIELD(cfg, key, uint32_t),
                        err);
}

int cfg_key_bool(const fcb_host_services *host, const cfg_key *key, const char *value, void *cfg,
                 fcb_error *err)
{
    (void)host;
    return cfg_parse_bool(key->name, value, CFG_FIELD(cfg, key, bool), err);
}

int cfg_key_string(const fcb_host_services *host, const cfg_key *key, const char *value, void *cfg,
                   fcb_error *err)
{
    char **field = CFG_FIELD(cfg, key, char *);
    svc_free(host, *field);
    *field = svc_strdup(host, value);
    return *field != NULL ? FCB_OK
                          : err_set(err, FCB_ERR_NO_MEMORY, "%s: out of memory", key->name);
}

void cfg_release_string(const fcb_host_services *host, const cfg_key *key, void *cfg)
{
    char **field = CFG_FIELD(cfg, key, char *);
    svc_free(host, *field);
    *field = NULL;
}

int cfg_table_read(const fcb_host_services *host, const cfg_key *keys, size_t n, void *cfg,
                   fcb_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const char *value = svc_config_nonempty(host, keys[i].name);
        if (value == NULL)
            value = keys[i].def;
        if (value == NULL || keys[i].parse == NULL)
            continue;
        int rc = keys[i].parse(host, &keys[i], value, cfg, err);
        if (rc != FCB_OK) {
            cfg_table_free(host, keys, n, cfg);
            return rc;
        }
    }
    return FCB_OK;
}

void cfg_table_free(const fcb_host_services *host, const cfg_key *keys, size_t n, void *cfg)
{
    for (size_t i = 0; i < n; i++) {
        if (keys[i].release != NULL)
            keys[i].release(host, &keys[i], cfg);
    }
}
