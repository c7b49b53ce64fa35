/* engine_http: see engine_http.h. */
#include "engine_http.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

typedef struct buf {
    char *data;
    size_t len;
} buf;

static size_t buf_write(char *p, size_t size, size_t n, void *ctx)
{
    buf *b = ctx;
    char *d = realloc(b->data, b->len + size * n + 1);
    if (d == NULL)
        return 0;
    memcpy(d + b->len, p, size * n);
    b->data = d;
    b->len += size * n;
    d[b->len] = '\0';
    return size * n;
}

long engine_http(const char *method, const char *url, const char *unix_path, const char *body,
                 char **out)
{
    buf b = {0};
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (unix_path != NULL)
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, unix_path);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (out != NULL)
        *out = b.data;
    else
        free(b.data);
    return status;
}

long engine_http_api(const char *socket_path, const char *method, const char *path,
                     const char *body, char **out)
{
    char url[1024];
    snprintf(url, sizeof url, "http://d%s", path);
    return engine_http(method, url, socket_path, body, out);
}

size_t engine_http_count_containers(const char *socket_path, const char *label)
{
    char *esc = curl_easy_escape(NULL, label, 0);
    char path[512];
    snprintf(path, sizeof path,
             "/containers/json?all=1&filters=%%7B%%22label%%22%%3A%%5B%%22%s%%22%%5D%%7D", esc);
    curl_free(esc);
    char *out = NULL;
    cr_assert_eq(engine_http_api(socket_path, "GET", path, NULL, &out), 200, "list: %s",
                 out ? out : "");
    json_object *arr = json_tokener_parse(out);
    cr_assert(json_object_is_type(arr, json_type_array), "list: %s", out);
    size_t n = json_object_array_length(arr);
    json_object_put(arr);
    free(out);
    return n;
}

char *engine_http_invoke(const char *endpoint, const char *event)
{
    char url[512];
    char *out = NULL;
    snprintf(url, sizeof url, "http://%s/2015-03-31/functions/function/invocations", endpoint);
    long status = engine_http("POST", url, NULL, event, &out);
    cr_assert_eq(status, 200, "invoke %s: HTTP %ld: %s", endpoint, status, out ? out : "");
    return out;
}

char *engine_http_create_container(const char *socket_path, const char *name, const char *labels)
{
    char body[512], path[128];
    char *out = NULL;
    snprintf(body, sizeof body, "{\"Image\":\"fakecloud-test/crash:1\",\"Labels\":%s}", labels);
    snprintf(path, sizeof path, "/containers/create?name=%s", name);
    cr_assert_eq(engine_http_api(socket_path, "POST", path, body, &out), 201, "%s", out);
    const char *id = out != NULL ? strstr(out, "\"Id\":\"") : NULL;
    cr_assert_not_null(id, "%s", out);
    id += 6;
    char *copy = strndup(id, strcspn(id, "\""));
    free(out);
    return copy;
}

int engine_http_stalled_registry(unsigned *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(fd, 64), 0);
    socklen_t len = sizeof a;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}
