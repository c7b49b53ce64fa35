/* rel_docker: libcurl over the dockerd unix socket, bounded timeouts. */
#include "rel_docker.h"

#include <criterion/criterion.h>
#include <curl/curl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REL_DOCKER_IMAGE "public.ecr.aws/lambda/python:3.12"

const char *rel_docker_socket(void)
{
    const char *h = getenv("DOCKER_HOST");
    if (h == NULL || strncmp(h, "unix://", 7) != 0)
        return NULL;
    return h + 7;
}

typedef struct body_buf {
    char *data;
    size_t len;
} body_buf;

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
    body_buf *b = ctx;
    size_t add = size * n;
    if (b->len + add > 16u * 1024u * 1024u)
        return 0;
    char *d = realloc(b->data, b->len + add + 1);
    if (d == NULL)
        return 0;
    memcpy(d + b->len, p, add);
    b->data = d;
    b->len += add;
    d[b->len] = '\0';
    return add;
}

long rel_docker_request(const char *method, const char *path, const char *body, char **out)
{
    const char *sock = rel_docker_socket();
    if (sock == NULL)
        return -1;
    CURL *c = curl_easy_init();
    if (c == NULL)
        return -1;
    char url[2048];
    snprintf(url, sizeof url, "http://docker%s", path);
    body_buf b = {0};
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (body != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    long status = -1;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    if (out != NULL)
        *out = b.data;
    else
        free(b.data);
    return status;
}

static long count_matching(const char *path)
{
    char *body = NULL;
    long st = rel_docker_request("GET", path, NULL, &body);
    if (st != 200) {
        free(body);
        return -1;
    }
    long n = 0;
    for (const char *p = body; (p = strstr(p, "\"Id\":")) != NULL; p += 5)
        n++;
    free(body);
    return n;
}

long rel_docker_count_leases(void)
{
    /*
     * filters={"label":["fakecloud-lease"]}; distinct holders, not volumes: a
     * renewal briefly shows two volumes of one instance (seq+1 before seq is deleted).
     */
    char *body = NULL;
    long st = rel_docker_request(
        "GET", "/volumes?filters=%7B%22label%22%3A%5B%22fakecloud-lease%22%5D%7D", NULL, &body);
    if (st != 200) {
        free(body);
        return -1;
    }
    static const char key[] = "\"fakecloud-lease\":\"";
    char seen[64][40];
    long n = 0;
    for (const char *p = body; (p = strstr(p, key)) != NULL; p += sizeof key - 1) {
        char id[40];
        snprintf(id, sizeof id, "%.*s", (int)strcspn(p + sizeof key - 1, "\""), p + sizeof key - 1);
        bool dup = false;
        for (long i = 0; i < n && !dup; i++)
            dup = strcmp(seen[i], id) == 0;
        if (!dup && n < 64)
            snprintf(seen[n++], sizeof seen[0], "%s", id);
    }
    free(body);
    return n;
}

long rel_docker_count_managed(void *ctx)
{
    (void)ctx;
    /* filters={"label":["fakecloud-managed-by=fakecloud"]} */
    long containers = count_matching("/containers/json?all=1&filters=%7B%22label%22%3A%5B%22"
                                     "fakecloud-managed-by%3Dfakecloud%22%5D%7D");
    long leases = rel_docker_count_leases();
    return containers < 0 || leases < 0 ? -1 : containers + leases;
}

long rel_docker_count_all(void)
{
    return count_matching("/containers/json?all=1");
}

const char *rel_docker_create(const char *name, const char *labels_json)
{
    static char id[128];
    char path[512], body[2048];
    snprintf(path, sizeof path, "/containers/create?name=%s", name);
    snprintf(body, sizeof body, "{\"Image\":\"%s\",\"Cmd\":[\"sleep\",\"60\"],\"Labels\":%s}",
             REL_DOCKER_IMAGE, labels_json != NULL ? labels_json : "{}");
    char *out = NULL;
    long st = rel_docker_request("POST", path, body, &out);
    cr_assert_eq(st, 201, "creating container %s: HTTP %ld %s", name, st, out ? out : "");
    const char *p = strstr(out, "\"Id\":\"");
    cr_assert_not_null(p);
    snprintf(id, sizeof id, "%.64s", p + 6);
    free(out);
    return id;
}

bool rel_docker_exists(const char *name_or_id)
{
    char path[512];
    snprintf(path, sizeof path, "/containers/%s/json", name_or_id);
    return rel_docker_request("GET", path, NULL, NULL) == 200;
}

void rel_docker_remove(const char *name_or_id)
{
    char path[512];
    snprintf(path, sizeof path, "/containers/%s?force=1&v=1", name_or_id);
    rel_docker_request("DELETE", path, NULL, NULL);
}

void rel_docker_plant_stale(void *ctx)
{
    (void)ctx;
    static unsigned n;
    char name[64];
    snprintf(name, sizeof name, "rel-stale-%u-%u", (unsigned)getpid(), ++n);
    rel_docker_create(name, "{\"fakecloud-managed-by\":\"fakecloud\",\"fakecloud-instance\":"
                            "\"00000000dead0000\",\"fakecloud-service\":\"lambda\"}");
    /* Older than D: Created has whole seconds and the backend rounds it up. */
    usleep((useconds_t)(atoi(REL_DOCKER_LEASE_SECONDS) * 1000 + 1100) * 1000);
}

void rel_docker_configure(void *ctx, mock_host *mh)
{
    (void)ctx;
    mock_host_set_config(mh, "DOCKER_HOST", getenv("DOCKER_HOST"));
    mock_host_set_config(mh, "FAKECLOUD_DOCKER_LEASE_SECONDS", REL_DOCKER_LEASE_SECONDS);
}
