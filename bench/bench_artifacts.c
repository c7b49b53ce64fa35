/* bench_artifacts: libmicrohttpd on 127.0.0.1:0 serving one zip and empty layers. */
#include "bench_artifacts.h"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if MHD_VERSION < 0x00097002
typedef int mhd_result;
#else
typedef enum MHD_Result mhd_result;
#endif

struct bench_artifacts {
    struct MHD_Daemon *daemon;
    void *zip;
    size_t zip_size;
    char auth[256];
    char url[64];
    atomic_uint served;
};

static mhd_result answer(void *cls, struct MHD_Connection *conn, const char *url,
                         const char *method, const char *version, const char *upload_data,
                         size_t *upload_size, void **state)
{
    (void)version;
    (void)upload_data;
    (void)upload_size;
    (void)state;
    bench_artifacts *a = cls;
    unsigned code = MHD_HTTP_NOT_FOUND;
    const void *body = "";
    size_t len = 0;
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (strcmp(method, "GET") != 0) {
        code = MHD_HTTP_METHOD_NOT_ALLOWED;
    } else if (auth == NULL || strcmp(auth, a->auth) != 0) {
        code = MHD_HTTP_UNAUTHORIZED;
    } else if (strncmp(url, "/_fakecloud/lambda/_internal/code/", 34) == 0) {
        code = MHD_HTTP_OK;
        body = a->zip;
        len = a->zip_size;
    } else if (strncmp(url, "/_fakecloud/lambda/_internal/layers/", 36) == 0) {
        code = MHD_HTTP_OK;
    }
    if (code == MHD_HTTP_OK)
        atomic_fetch_add(&a->served, 1);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    mhd_result r = MHD_queue_response(conn, code, resp);
    MHD_destroy_response(resp);
    return r;
}

bench_artifacts *bench_artifacts_start(const void *zip, size_t zip_size, const char *token,
                                       const char **url)
{
    bench_artifacts *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->zip = malloc(zip_size ? zip_size : 1);
    if (a->zip == NULL)
        goto fail;
    memcpy(a->zip, zip, zip_size);
    a->zip_size = zip_size;
    snprintf(a->auth, sizeof(a->auth), "Bearer %s", token);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                                 NULL, NULL, answer, a, MHD_OPTION_SOCK_ADDR, &sa,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (a->daemon == NULL)
        goto fail;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL || info->port == 0)
        goto fail;
    snprintf(a->url, sizeof(a->url), "http://127.0.0.1:%u", (unsigned)info->port);
    *url = a->url;
    return a;
fail:
    bench_artifacts_stop(a);
    return NULL;
}

unsigned bench_artifacts_served(bench_artifacts *a)
{
    return atomic_load(&a->served);
}

void bench_artifacts_stop(bench_artifacts *a)
{
    if (a == NULL)
        return;
    if (a->daemon)
        MHD_stop_daemon(a->daemon);
    free(a->zip);
    free(a);
}
