/* kube_config: kubeconfig merging, field resolution, in-cluster config. */
#include "kube_config.h"

#include "jsonx.h"
#include "base64.h"
#include "names.h"
#include "yamlx.h"
#include "svc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KUBECONFIG_MAX_BYTES (4u << 20)
#define KUBE_PEM_MAX_BYTES   (1u << 20)
#define KUBECONFIG_MAX_FILES 64

/* One parsed kubeconfig file. */
typedef struct kc_doc {
    char *path;
    json_object *root;
} kc_doc;

typedef struct kc_set {
    const fcb_host_services *host;
    kc_doc docs[KUBECONFIG_MAX_FILES];
    size_t n;
    char *origin; /* "kubeconfig PATH" or "kubeconfig A:B" for the merge */
} kc_set;

void kube_secret_free(const fcb_host_services *host, char *secret)
{
    if (secret == NULL)
        return;
    explicit_bzero(secret, strlen(secret));
    svc_free(host, secret);
}

static bool shown_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch != '\0' && strchr("-._:/@+=~%[]", ch) != NULL);
}

/* Up to MAX shown bytes of TEXT appended at OUT + *LEN (room for MAX + "..." + NUL). */
static void shown_append(char *out, size_t *len, const char *text, size_t max)
{
    size_t n = 0;
    while (n < max && shown_char(text[n]))
        out[(*len)++] = text[n++];
    if (text[n] != '\0') {
        memcpy(out + *len, "...", 3);
        *len += 3;
    }
    out[*len] = '\0';
}

const char *kube_shown(char out[KUBE_SHOWN_SIZE], const char *text)
{
    size_t len = 0;
    shown_append(out, &len, text != NULL ? text : "", KUBE_SHOWN_MAX);
    return out;
}

const char *kube_path_shown(char out[KUBE_LONG_SHOWN_SIZE], const char *path)
{
    size_t len = 0;
    shown_append(out, &len, path != NULL ? path : "", KUBE_LONG_SHOWN_MAX);
    return out;
}

/* AUTHORITY (up to '/', '?', '#') ends with a numeric port or none: nothing like "user:pw". */
static bool port_plain(const char *authority)
{
    size_t n = strcspn(authority, "/?#");
    const char *colon = NULL;
    for (size_t i = 0; i < n; i++)
        if (authority[i] == ':')
            colon = authority + i;
        else if (authority[i] == ']')
            colon = NULL;
    if (colon == NULL)
        return true;
    for (const char *p = colon + 1; p < authority + n; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

const char *kube_url_shown(char out[KUBE_LONG_SHOWN_SIZE], const char *url)
{
    size_t len = 0, prefix = 0;
    if (url == NULL)
        url = "";
    const char *scheme_end = strstr(url, "://");
    if (scheme_end != NULL && scheme_end - url <= 16)
        prefix = (size_t)(scheme_end - url) + 3;
    /* Over-redact rather than miss: the last '@' anywhere ends the userinfo, and an
     * authority "a:b" whose b is no port may be a userinfo cut before its '@'. */
    const char *authority = url + prefix;
    const char *at = strrchr(authority, '@');
    const char *rest = authority, *mask = "";
    if (at != NULL) {
        rest = at + 1;
        mask = "***@";
    } else if (!port_plain(authority)) {
        rest = authority + strcspn(authority, "/?#");
        mask = "***";
    }
    char head[24];
    snprintf(head, sizeof head, "%.*s", (int)prefix, url);
    shown_append(out, &len, head, prefix);
    if (len != prefix)
        return out; /* the scheme itself was cut */
    memcpy(out + len, mask, strlen(mask) + 1);
    len += strlen(mask);
    shown_append(out, &len, rest, KUBE_LONG_SHOWN_MAX - len);
    return out;
}

static void secret_free_len(const fcb_host_services *host, char *secret, size_t len)
{
    if (secret == NULL)
        return;
    explicit_bzero(secret, len);
    svc_free(host, secret);
}

void kube_config_free(const fcb_host_services *host, kube_config *cfg)
{
    if (cfg == NULL)
        return;
    svc_free(host, cfg->origin);
    svc_free(host, cfg->context);
    svc_free(host, cfg->user);
    svc_free(host, cfg->server);
    svc_free(host, cfg->ca_pem);
    svc_free(host, cfg->tls_server_name);
    svc_free(host, cfg->proxy_url);
    svc_free(host, cfg->namespace);
    kube_secret_free(host, cfg->token);
    svc_free(host, cfg->token_file);
    svc_free(host, cfg->cert_pem);
    secret_free_len(host, cfg->key_pem, cfg->key_len);
    svc_free(host, cfg->username);
    kube_secret_free(host, cfg->password);
    if (cfg->exec != NULL) {
        kube_exec_config *e = cfg->exec;
        svc_free(host, e->api_version);
        svc_free(host, e->command);
        svc_free(host, e->install_hint);
        for (size_t i = 0; i < e->n_args; i++)
            svc_free(host, e->args[i]);
        svc_free(host, e->args);
        for (size_t i = 0; i < e->n_env; i++)
            kube_secret_free(host, e->env[i]);
        svc_free(host, e->env);
        svc_free(host, e);
    }
    svc_free(host, cfg);
}

/* What a non-regular file is, for the message. */
static const char *file_kind(mode_t mode)
{
    return S_ISFIFO(mode)   ? "a FIFO"
           : S_ISDIR(mode)  ? "a directory"
           : S_ISCHR(mode)  ? "a character device"
           : S_ISBLK(mode)  ? "a block device"
           : S_ISSOCK(mode) ? "a socket"
                            : "a special file";
}

/*
 * Open PATH for reading without ever blocking: O_NONBLOCK makes opening a
 * FIFO return at once, and anything but a regular file is refused. The
 * descriptor is returned in *FD with its size in *SIZE.
 */
static int open_regular(const char *path, int *fd, off_t *size, fcb_error *err)
{
    char shown[KUBE_LONG_SHOWN_SIZE];
    struct stat st;
    *fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (*fd < 0)
        return err_set(err, FCB_ERR_CONFIG, "cannot read %s: %s", kube_path_shown(shown, path),
                       strerror(errno));
    int rc = FCB_OK;
    if (fstat(*fd, &st) != 0)
        rc = err_set(err, FCB_ERR_CONFIG, "cannot read %s: %s", kube_path_shown(shown, path),
                     strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = err_set(err, FCB_ERR_CONFIG, "cannot read %s: %s, not a regular file",
                     kube_path_shown(shown, path), file_kind(st.st_mode));
    if (rc != FCB_OK) {
        close(*fd);
        *fd = -1;
        return rc;
    }
    *size = st.st_size;
    return FCB_OK;
}

/* PATH is a regular file this process can open (tokenFile: read later by the client). */
static int check_regular(const char *path, fcb_error *err)
{
    int fd = -1;
    off_t size = 0;
    int rc = open_regular(path, &fd, &size, err);
    if (fd >= 0)
        close(fd);
    return rc;
}

int kube_file_read(const fcb_host_services *host, const char *path, size_t max, char **data,
                   size_t *len, fcb_error *err)
{
    char shown[KUBE_LONG_SHOWN_SIZE];
    int fd = -1;
    off_t size = 0;
    int rc = open_regular(path, &fd, &size, err);
    if (rc != FCB_OK)
        return rc;
    if ((uint64_t)size > max) {
        close(fd);
        return err_set(err, FCB_ERR_CONFIG, "%s is larger than %zu bytes",
                       kube_path_shown(shown, path), max);
    }
    sbuf buf;
    sbuf_init(&buf, host, max);
    char chunk[8192];
    /* Bounded by MAX: the file may grow while read, the buffer refuses to grow past it. */
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = err_set(err, FCB_ERR_CONFIG, "cannot read %s: %s", kube_path_shown(shown, path),
                         strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        if (buf.len + (size_t)n > max) {
            rc = err_set(err, FCB_ERR_CONFIG, "%s is larger than %zu bytes",
                         kube_path_shown(shown, path), max);
            goto out;
        }
        if (!sbuf_append(&buf, chunk, (size_t)n)) {
            rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory reading %s",
                         kube_path_shown(shown, path));
            goto out;
        }
    }
    *data = sbuf_steal(&buf, len);
    if (*data == NULL)
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory reading %s",
                     kube_path_shown(shown, path));
out:
    explicit_bzero(chunk, sizeof chunk);
    if (rc != FCB_OK && buf.data != NULL)
        explicit_bzero(buf.data, buf.len);
    sbuf_free(&buf);
    close(fd);
    return rc;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* PATH resolved against the directory of BASE_FILE unless absolute. */
static char *resolve_path(const fcb_host_services *host, const char *base_file, const char *path)
{
    if (path[0] == '/' || base_file == NULL)
        return svc_strdup(host, path);
    const char *slash = strrchr(base_file, '/');
    if (slash == NULL)
        return svc_strdup(host, path);
    return svc_sprintf(host, "%.*s/%s", (int)(slash - base_file), base_file, path);
}

static void set_free(kc_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        svc_free(set->host, set->docs[i].path);
        json_object_put(set->docs[i].root);
    }
    svc_free(set->host, set->origin);
    set->n = 0;
}

static int set_add_file(kc_set *set, const char *path, fcb_error *err)
{
    char *text = NULL;
    size_t len = 0;
    json_object *root = NULL;
    char name[FCB_ERROR_MESSAGE_MAX / 2];
    snprintf(name, sizeof name, "kubeconfig %s", path);
    if (set->n == KUBECONFIG_MAX_FILES)
        return err_set(err, FCB_ERR_CONFIG, "KUBECONFIG lists more than %d files",
                       KUBECONFIG_MAX_FILES);
    int rc = kube_file_read(set->host, path, KUBECONFIG_MAX_BYTES, &text, &len, err);
    if (rc != FCB_OK)
        return err_prefix(err, "kubeconfig");
    rc = yamlx_parse(text, len, name, &root, err);
    /* Kubeconfigs may embed tokens and keys: wipe the raw text. */
    explicit_bzero(text, len);
    svc_free(set->host, text);
    if (rc != FCB_OK)
        return rc;
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return err_set(err, FCB_ERR_CONFIG, "%s: not a kubeconfig (expected a mapping)", name);
    }
    char *copy = svc_strdup(set->host, path);
    if (copy == NULL) {
        json_object_put(root);
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    }
    set->docs[set->n].path = copy;
    set->docs[set->n].root = root;
    set->n++;
    return FCB_OK;
}

/*
 * Find the entry called NAME in list KIND ("clusters", "users", "contexts")
 * of the first file defining it; returns its inner object (member INNER) and
 * the defining file, or NULL. A malformed list is an error.
 */
static int set_find(kc_set *set, const char *kind, const char *inner, const char *name,
                    json_object **found, const char **file, fcb_error *err)
{
    *found = NULL;
    *file = NULL;
    for (size_t d = 0; d < set->n; d++) {
        json_object *list = jsonx_get(set->docs[d].root, kind);
        if (list == NULL)
            continue;
        if (!json_object_is_type(list, json_type_array))
            return err_set(err, FCB_ERR_CONFIG, "kubeconfig %s: %s: must be a list",
                           set->docs[d].path, kind);
        size_t n = json_object_array_length(list);
        for (size_t i = 0; i < n; i++) {
            json_object *entry = json_object_array_get_idx(list, i);
            const char *entry_name = jsonx_get_string(entry, "name");
            if (entry_name == NULL || strcmp(entry_name, name) != 0)
                continue;
            json_object *body = jsonx_get(entry, inner);
            char shown[KUBE_SHOWN_SIZE];
            if (body != NULL && !json_object_is_type(body, json_type_object))
                return err_set(err, FCB_ERR_CONFIG, "kubeconfig %s: %s '%s': %s: must be a mapping",
                               set->docs[d].path, kind, kube_shown(shown, name), inner);
            *found = body; /* NULL: an entry without a body reads as empty */
            *file = set->docs[d].path;
            return 1;
        }
    }
    return 0;
}

/* Optional string field; wrong type is an error naming WHERE and FIELD. */
static int opt_string(json_object *obj, const char *field, const char *where, const char **out,
                      fcb_error *err)
{
    *out = NULL;
    json_object *v = jsonx_get(obj, field);
    if (v == NULL)
        return FCB_OK;
    if (!json_object_is_type(v, json_type_string))
        return err_set(err, FCB_ERR_CONFIG, "%s: %s: must be a string", where, field);
    *out = json_object_get_string(v);
    if ((*out)[0] == '\0')
        *out = NULL;
    return FCB_OK;
}

/*
 * Load PEM material either from FIELD-data (base64) or from FIELD (a path
 * relative to FILE). Data wins, as in client-go.
 */
static int load_pem(const fcb_host_services *host, json_object *obj, const char *field,
                    const char *file, const char *where, char **out, size_t *out_len,
                    fcb_error *err)
{
    char data_field[64];
    snprintf(data_field, sizeof data_field, "%s-data", field);
    const char *data = NULL, *path = NULL;
    int rc = opt_string(obj, data_field, where, &data, err);
    if (rc == FCB_OK)
        rc = opt_string(obj, field, where, &path, err);
    if (rc != FCB_OK)
        return rc;
    if (data != NULL) {
        rc = base64_decode(host, data, out, out_len);
        if (rc == FCB_ERR_INVALID_ARGUMENT)
            return err_set(err, FCB_ERR_CONFIG, "%s: %s: invalid base64", where, data_field);
        if (rc != FCB_OK)
            return err_set(err, rc, "out of memory");
        if (*out_len == 0) {
            svc_free(host, *out);
            *out = NULL;
            return err_set(err, FCB_ERR_CONFIG, "%s: %s: empty", where, data_field);
        }
        return FCB_OK;
    }
    if (path == NULL)
        return FCB_OK;
    char *resolved = resolve_path(host, file, path);
    if (resolved == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    rc = kube_file_read(host, resolved, KUBE_PEM_MAX_BYTES, out, out_len, err);
    svc_free(host, resolved);
    if (rc != FCB_OK)
        return err_prefix(err, "%s: %s", where, field);
    return FCB_OK;
}

static int dup_opt(const fcb_host_services *host, const char *s, char **out, fcb_error *err)
{
    *out = NULL;
    if (s == NULL)
        return FCB_OK;
    *out = svc_strdup(host, s);
    return *out == NULL ? err_set(err, FCB_ERR_NO_MEMORY, "out of memory") : FCB_OK;
}

/* Only bytes a URL may hold: printable ASCII without space, quotes, "\\<>^`{|}". */
static bool url_text_ok(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f ||
            strchr("\"'\\<>^`{|}", *s) != NULL)
            return false;
    return true;
}

static int load_cluster(const fcb_host_services *host, json_object *cl, const char *file,
                        const char *name, kube_config *cfg, fcb_error *err)
{
    char where[512], shown[KUBE_SHOWN_SIZE];
    snprintf(where, sizeof where, "kubeconfig %s: cluster '%s'", file, kube_shown(shown, name));
    const char *server = NULL, *tsn = NULL, *proxy = NULL;
    int rc = opt_string(cl, "server", where, &server, err);
    if (rc == FCB_OK)
        rc = opt_string(cl, "tls-server-name", where, &tsn, err);
    if (rc == FCB_OK)
        rc = opt_string(cl, "proxy-url", where, &proxy, err);
    if (rc != FCB_OK)
        return rc;
    if (server == NULL)
        return err_set(err, FCB_ERR_CONFIG, "%s: server: missing", where);
    /* Quoted as kube_url_shown shows it: a broken quote in the file can make
     * "server" swallow the rest of it, key data included. */
    char shown_url[KUBE_LONG_SHOWN_SIZE];
    if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)
        return err_set(err, FCB_ERR_CONFIG, "%s: server: '%s' is not an http(s) URL", where,
                       kube_url_shown(shown_url, server));
    if (!url_text_ok(server))
        return err_set(err, FCB_ERR_CONFIG,
                       "%s: server: '%s' is not a URL (space, quote or control character)", where,
                       kube_url_shown(shown_url, server));
    json_object *insecure = jsonx_get(cl, "insecure-skip-tls-verify");
    if (insecure != NULL && !jsonx_get_bool(cl, "insecure-skip-tls-verify", &cfg->insecure))
        return err_set(err, FCB_ERR_CONFIG, "%s: insecure-skip-tls-verify: must be true or false",
                       where);
    size_t slen = strlen(server);
    while (slen > 0 && server[slen - 1] == '/')
        slen--;
    cfg->server = svc_strndup(host, server, slen);
    if (cfg->server == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    if ((rc = dup_opt(host, tsn, &cfg->tls_server_name, err)) != FCB_OK ||
        (rc = dup_opt(host, proxy, &cfg->proxy_url, err)) != FCB_OK)
        return rc;
    return load_pem(host, cl, "certificate-authority", file, where, &cfg->ca_pem, &cfg->ca_len,
                    err);
}

static int load_string_list(const fcb_host_services *host, json_object *list, const char *where,
                            const char *field, char ***out, size_t *n_out, fcb_error *err)
{
    *out = NULL;
    *n_out = 0;
    if (list == NULL)
        return FCB_OK;
    if (!json_object_is_type(list, json_type_array))
        return err_set(err, FCB_ERR_CONFIG, "%s: %s: must be a list", where, field);
    size_t n = json_object_array_length(list);
    char **items = svc_calloc(host, n + 1, sizeof *items);
    if (items == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    *out = items;
    for (size_t i = 0; i < n; i++) {
        json_object *v = json_object_array_get_idx(list, i);
        if (v == NULL ||
            !(json_object_is_type(v, json_type_string) || json_object_is_type(v, json_type_int) ||
              json_object_is_type(v, json_type_boolean)))
            return err_set(err, FCB_ERR_CONFIG, "%s: %s[%zu]: must be a string", where, field, i);
        items[i] = svc_strdup(host, json_object_get_string(v));
        if (items[i] == NULL)
            return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
        *n_out = i + 1;
    }
    return FCB_OK;
}

static int load_exec(const fcb_host_services *host, json_object *ex, const char *file,
                     const char *where_user, kube_config *cfg, fcb_error *err)
{
    char where[600], shown[KUBE_SHOWN_SIZE];
    snprintf(where, sizeof where, "%s: exec", where_user);
    if (!json_object_is_type(ex, json_type_object))
        return err_set(err, FCB_ERR_CONFIG, "%s: must be a mapping", where);
    kube_exec_config *e = svc_calloc(host, 1, sizeof *e);
    if (e == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    cfg->exec = e;
    const char *api = NULL, *command = NULL, *mode = NULL, *hint = NULL;
    int rc = opt_string(ex, "apiVersion", where, &api, err);
    if (rc == FCB_OK)
        rc = opt_string(ex, "installHint", where, &hint, err);
    if (rc == FCB_OK)
        rc = opt_string(ex, "command", where, &command, err);
    if (rc == FCB_OK)
        rc = opt_string(ex, "interactiveMode", where, &mode, err);
    if (rc != FCB_OK)
        return rc;
    if (api == NULL)
        return err_set(err, FCB_ERR_CONFIG, "%s: apiVersion: missing", where);
    if (strcmp(api, "client.authentication.k8s.io/v1") != 0 &&
        strcmp(api, "client.authentication.k8s.io/v1beta1") != 0)
        return err_set(err, FCB_ERR_CONFIG,
                       "%s: apiVersion: '%s' is not supported (use "
                       "client.authentication.k8s.io/v1 or v1beta1)",
                       where, kube_shown(shown, api));
    if (command == NULL)
        return err_set(err, FCB_ERR_CONFIG, "%s: command: missing", where);
    if (mode != NULL && strcmp(mode, "Always") == 0)
        return err_set(err, FCB_ERR_CONFIG,
                       "%s: interactiveMode: 'Always' needs a terminal; the backend runs exec "
                       "plugins non-interactively",
                       where);
    e->api_version = svc_strdup(host, api);
    e->command = strchr(command, '/') != NULL ? resolve_path(host, file, command)
                                              : svc_strdup(host, command);
    if (e->api_version == NULL || e->command == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    if ((rc = dup_opt(host, hint, &e->install_hint, err)) != FCB_OK)
        return rc;
    if (jsonx_get(ex, "provideClusterInfo") != NULL &&
        !jsonx_get_bool(ex, "provideClusterInfo", &e->provide_cluster_info))
        return err_set(err, FCB_ERR_CONFIG, "%s: provideClusterInfo: must be true or false", where);
    rc = load_string_list(host, jsonx_get(ex, "args"), where, "args", &e->args, &e->n_args, err);
    if (rc != FCB_OK)
        return rc;
    json_object *env = jsonx_get(ex, "env");
    if (env == NULL)
        return FCB_OK;
    if (!json_object_is_type(env, json_type_array))
        return err_set(err, FCB_ERR_CONFIG, "%s: env: must be a list", where);
    size_t n = json_object_array_length(env);
    e->env = svc_calloc(host, n + 1, sizeof *e->env);
    if (e->env == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_object *item = json_object_array_get_idx(env, i);
        const char *name = jsonx_get_string(item, "name");
        json_object *value = jsonx_get(item, "value");
        if (name == NULL || name[0] == '\0' || strchr(name, '=') != NULL)
            return err_set(err, FCB_ERR_CONFIG, "%s: env[%zu].name: missing or invalid", where, i);
        if (value != NULL && json_object_is_type(value, json_type_object))
            return err_set(err, FCB_ERR_CONFIG, "%s: env[%zu].value: must be a string", where, i);
        e->env[i] =
            svc_sprintf(host, "%s=%s", name, value != NULL ? json_object_get_string(value) : "");
        if (e->env[i] == NULL)
            return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
        e->n_env = i + 1;
    }
    return FCB_OK;
}

static int load_user(const fcb_host_services *host, json_object *us, const char *file,
                     const char *name, kube_config *cfg, fcb_error *err)
{
    char where[512], shown[KUBE_SHOWN_SIZE];
    snprintf(where, sizeof where, "kubeconfig %s: user '%s'", file, kube_shown(shown, name));
    if (us == NULL)
        return FCB_OK;
    const char *token = NULL, *token_file = NULL, *username = NULL, *password = NULL;
    int rc = opt_string(us, "token", where, &token, err);
    if (rc == FCB_OK)
        rc = opt_string(us, "tokenFile", where, &token_file, err);
    if (rc == FCB_OK)
        rc = opt_string(us, "username", where, &username, err);
    if (rc == FCB_OK)
        rc = opt_string(us, "password", where, &password, err);
    if (rc != FCB_OK)
        return rc;
    if (jsonx_get(us, "auth-provider") != NULL)
        return err_set(err, FCB_ERR_CONFIG,
                       "%s: auth-provider: not supported (removed from kubectl; use an exec "
                       "plugin such as gke-gcloud-auth-plugin or kubelogin)",
                       where);
    if ((rc = dup_opt(host, token, &cfg->token, err)) != FCB_OK ||
        (rc = dup_opt(host, username, &cfg->username, err)) != FCB_OK ||
        (rc = dup_opt(host, password, &cfg->password, err)) != FCB_OK)
        return rc;
    if (token_file != NULL) {
        cfg->token_file = resolve_path(host, file, token_file);
        if (cfg->token_file == NULL)
            return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
        if (check_regular(cfg->token_file, err) != FCB_OK)
            return err_prefix(err, "%s: tokenFile", where);
    }
    rc = load_pem(host, us, "client-certificate", file, where, &cfg->cert_pem, &cfg->cert_len, err);
    if (rc == FCB_OK)
        rc = load_pem(host, us, "client-key", file, where, &cfg->key_pem, &cfg->key_len, err);
    if (rc != FCB_OK)
        return rc;
    if ((cfg->cert_pem == NULL) != (cfg->key_pem == NULL))
        return err_set(err, FCB_ERR_CONFIG,
                       "%s: %s: missing (client-certificate and client-key "
                       "go together)",
                       where, cfg->cert_pem == NULL ? "client-certificate" : "client-key");
    if ((cfg->username == NULL) != (cfg->password == NULL))
        return err_set(err, FCB_ERR_CONFIG, "%s: %s: missing (username and password go together)",
                       where, cfg->username == NULL ? "username" : "password");
    json_object *ex = jsonx_get(us, "exec");
    if (ex != NULL)
        return load_exec(host, ex, file, where, cfg, err);
    return FCB_OK;
}

static int set_resolve(kc_set *set, const char *context_override, kube_config *cfg, fcb_error *err)
{
    const fcb_host_services *host = set->host;
    const char *context = context_override;
    const char *ctx_source = "FAKECLOUD_K8S_CONTEXT";
    char shown_context[KUBE_SHOWN_SIZE], shown[KUBE_SHOWN_SIZE];
    if (context == NULL) {
        for (size_t d = 0; d < set->n && context == NULL; d++) {
            json_object *cc = jsonx_get(set->docs[d].root, "current-context");
            if (cc != NULL && json_object_is_type(cc, json_type_string) &&
                json_object_get_string(cc)[0] != '\0')
                context = json_object_get_string(cc);
        }
        ctx_source = "current-context";
        if (context == NULL)
            return err_set(err, FCB_ERR_CONFIG,
                           "%s: current-context is not set (set it, or name a context in "
                           "FAKECLOUD_K8S_CONTEXT)",
                           set->origin);
    }
    json_object *ctx = NULL;
    const char *ctx_file = NULL;
    int found = set_find(set, "contexts", "context", context, &ctx, &ctx_file, err);
    if (found < 0)
        return found;
    if (found == 0)
        return err_set(err, FCB_ERR_CONFIG, "%s: context '%s' (from %s) not found", set->origin,
                       kube_shown(shown_context, context), ctx_source);
    kube_shown(shown_context, context);
    char where[512];
    snprintf(where, sizeof where, "kubeconfig %s: context '%s'", ctx_file, shown_context);
    const char *cluster = NULL, *user = NULL, *ns = NULL;
    int rc = opt_string(ctx, "cluster", where, &cluster, err);
    if (rc == FCB_OK)
        rc = opt_string(ctx, "user", where, &user, err);
    if (rc == FCB_OK)
        rc = opt_string(ctx, "namespace", where, &ns, err);
    if (rc != FCB_OK)
        return rc;
    if (cluster == NULL)
        return err_set(err, FCB_ERR_CONFIG, "%s: cluster: missing", where);
    if (ns != NULL && !names_is_dns_label(ns))
        return err_set(err, FCB_ERR_CONFIG,
                       "%s: namespace: '%s' is not a namespace name (lower-case letters, digits "
                       "and '-', at most 63)",
                       where, kube_shown(shown, ns));
    cfg->context = svc_strdup(host, context);
    cfg->namespace = svc_strdup(host, ns != NULL ? ns : "default");
    if (cfg->context == NULL || cfg->namespace == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");

    json_object *cl = NULL;
    const char *cl_file = NULL;
    found = set_find(set, "clusters", "cluster", cluster, &cl, &cl_file, err);
    if (found < 0)
        return found;
    if (found == 0)
        return err_set(err, FCB_ERR_CONFIG,
                       "kubeconfig %s: context '%s' refers to missing cluster '%s'", ctx_file,
                       shown_context, kube_shown(shown, cluster));
    rc = load_cluster(host, cl, cl_file, cluster, cfg, err);
    if (rc != FCB_OK || user == NULL)
        return rc;
    json_object *us = NULL;
    const char *us_file = NULL;
    found = set_find(set, "users", "user", user, &us, &us_file, err);
    if (found < 0)
        return found;
    if (found == 0)
        return err_set(err, FCB_ERR_CONFIG,
                       "kubeconfig %s: context '%s' refers to missing user '%s'", ctx_file,
                       shown_context, kube_shown(shown, user));
    cfg->user = svc_strdup(host, user);
    if (cfg->user == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    return load_user(host, us, us_file, user, cfg, err);
}

int kube_config_from_files(const fcb_host_services *host, const char *const *paths, size_t n_paths,
                           const char *context, kube_config **out, fcb_error *err)
{
    kc_set set = {.host = host};
    kube_config *cfg = NULL;
    sbuf origin;
    int rc;
    *out = NULL;
    sbuf_init(&origin, host, 0);
    sbuf_puts(&origin, "kubeconfig ");
    for (size_t i = 0; i < n_paths; i++) {
        if (i > 0)
            sbuf_puts(&origin, ":");
        sbuf_puts(&origin, paths[i]);
    }
    set.origin = sbuf_steal(&origin, NULL);
    if (set.origin == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_paths; i++) {
        rc = set_add_file(&set, paths[i], err);
        if (rc != FCB_OK)
            goto out;
    }
    cfg = svc_calloc(host, 1, sizeof *cfg);
    if (cfg == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    cfg->origin = svc_strdup(host, set.origin);
    if (cfg->origin == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    rc = set_resolve(&set, context, cfg, err);
    if (rc == FCB_OK) {
        *out = cfg;
        cfg = NULL;
    }
out:
    sbuf_free(&origin);
    kube_config_free(host, cfg);
    set_free(&set);
    return rc;
}

static void trim_right(char *s, size_t *len)
{
    while (*len > 0 && (s[*len - 1] == '\n' || s[*len - 1] == '\r' || s[*len - 1] == ' ' ||
                        s[*len - 1] == '\t'))
        s[--*len] = '\0';
}

int kube_config_in_cluster(const fcb_host_services *host, const char *sa_dir, kube_config **out,
                           fcb_error *err)
{
    const char *svc_host = svc_config_nonempty(host, "KUBERNETES_SERVICE_HOST");
    const char *svc_port = svc_config_nonempty(host, "KUBERNETES_SERVICE_PORT");
    kube_config *cfg = NULL;
    char *path = NULL;
    int rc = FCB_OK;
    *out = NULL;
    if (svc_host == NULL || svc_port == NULL)
        return err_set(err, FCB_ERR_CONFIG, "in-cluster config: %s unset",
                       svc_host == NULL ? "KUBERNETES_SERVICE_HOST" : "KUBERNETES_SERVICE_PORT");
    cfg = svc_calloc(host, 1, sizeof *cfg);
    if (cfg == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    bool ipv6 = strchr(svc_host, ':') != NULL;
    cfg->origin = svc_sprintf(host, "in-cluster config (%s)", sa_dir);
    cfg->server = svc_sprintf(host, ipv6 ? "https://[%s]:%s" : "https://%s:%s", svc_host, svc_port);
    cfg->token_file = svc_sprintf(host, "%s/token", sa_dir);
    path = svc_sprintf(host, "%s/ca.crt", sa_dir);
    if (cfg->origin == NULL || cfg->server == NULL || cfg->token_file == NULL || path == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    fcb_error check_err = FCB_ERROR_INIT;
    if (check_regular(cfg->token_file, &check_err) != FCB_OK) {
        rc = err_set(err, FCB_ERR_CONFIG,
                     "in-cluster config: ServiceAccount token: %s (is "
                     "automountServiceAccountToken disabled?)",
                     check_err.message);
        goto out;
    }
    rc = kube_file_read(host, path, KUBE_PEM_MAX_BYTES, &cfg->ca_pem, &cfg->ca_len, err);
    if (rc != FCB_OK) {
        err_prefix(err, "in-cluster config: ServiceAccount CA");
        goto out;
    }
    svc_free(host, path);
    path = svc_sprintf(host, "%s/namespace", sa_dir);
    if (path == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    if (file_exists(path)) {
        size_t len = 0;
        rc = kube_file_read(host, path, 256, &cfg->namespace, &len, err);
        if (rc != FCB_OK) {
            err_prefix(err, "in-cluster config: ServiceAccount namespace");
            goto out;
        }
        trim_right(cfg->namespace, &len);
        if (len == 0) {
            svc_free(host, cfg->namespace);
            cfg->namespace = NULL;
        }
    }
    if (cfg->namespace == NULL && (cfg->namespace = svc_strdup(host, "default")) == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    *out = cfg;
    cfg = NULL;
out:
    svc_free(host, path);
    kube_config_free(host, cfg);
    return rc;
}

int kube_config_load(const fcb_host_services *host, kube_config **out, fcb_error *err)
{
    const char *kubeconfig = svc_config_nonempty(host, "KUBECONFIG");
    const char *context = svc_config_nonempty(host, "FAKECLOUD_K8S_CONTEXT");
    const char *home = svc_config_nonempty(host, "HOME");
    const char *sa_dir = svc_config_nonempty(host, "FAKECLOUD_K8S_SA_DIR");
    char *list = NULL, *home_config = NULL;
    const char *paths[KUBECONFIG_MAX_FILES];
    size_t n = 0;
    int rc;
    sbuf missing;
    sbuf_init(&missing, host, 0);
    *out = NULL;
    if (sa_dir == NULL)
        sa_dir = KUBE_SA_DIR_DEFAULT;

    if (kubeconfig != NULL) {
        list = svc_strdup(host, kubeconfig);
        if (list == NULL) {
            rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
            goto out;
        }
        char *save = NULL;
        for (char *p = strtok_r(list, ":", &save); p != NULL; p = strtok_r(NULL, ":", &save)) {
            bool dup = false;
            for (size_t i = 0; i < n && !dup; i++)
                dup = strcmp(paths[i], p) == 0;
            if (dup)
                continue;
            if (!file_exists(p)) {
                sbuf_printf(&missing, "%s%s", missing.len > 0 ? ", " : "", p);
                continue;
            }
            if (n == KUBECONFIG_MAX_FILES) {
                rc = err_set(err, FCB_ERR_CONFIG, "KUBECONFIG lists more than %d files",
                             KUBECONFIG_MAX_FILES);
                goto out;
            }
            paths[n++] = p;
        }
    } else if (home != NULL) {
        home_config = svc_sprintf(host, "%s/.kube/config", home);
        if (home_config == NULL) {
            rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
            goto out;
        }
        if (file_exists(home_config))
            paths[n++] = home_config;
    }
    if (n > 0) {
        rc = kube_config_from_files(host, paths, n, context, out, err);
        goto out;
    }
    if (svc_config_nonempty(host, "KUBERNETES_SERVICE_HOST") != NULL) {
        rc = kube_config_in_cluster(host, sa_dir, out, err);
        goto out;
    }
    if (kubeconfig != NULL)
        rc = err_set(err, FCB_ERR_CONFIG,
                     "no Kubernetes configuration: KUBECONFIG files not found (%s), not in a "
                     "cluster (KUBERNETES_SERVICE_HOST unset)",
                     sbuf_failed(&missing) || missing.data == NULL ? kubeconfig : missing.data);
    else if (home_config != NULL)
        rc = err_set(err, FCB_ERR_CONFIG,
                     "no Kubernetes configuration: KUBECONFIG unset, %s not found, not in a "
                     "cluster (KUBERNETES_SERVICE_HOST unset)",
                     home_config);
    else
        rc = err_set(err, FCB_ERR_CONFIG,
                     "no Kubernetes configuration: KUBECONFIG and HOME unset, not in a cluster "
                     "(KUBERNETES_SERVICE_HOST unset)");
out:
    sbuf_free(&missing);
    svc_free(host, list);
    svc_free(host, home_config);
    return rc;
}
