/* rel_common: /proc probes, the default request and the clean-error check. */
#include "rel_common.h"

#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static size_t rel_dir_entries(const char *path)
{
    size_t n = 0;
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n;
}

size_t rel_thread_count(void)
{
    return rel_dir_entries("/proc/self/task");
}

size_t rel_fd_count(void)
{
    /* opendir holds one descriptor itself while counting */
    size_t n = rel_dir_entries("/proc/self/fd");
    return n > 0 ? n - 1 : 0;
}

double rel_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

size_t rel_wait_threads(size_t want, unsigned timeout_ms)
{
    double end = rel_now_ms() + timeout_ms;
    size_t n = rel_thread_count();
    while (n > want && rel_now_ms() < end) {
        usleep(2000);
        n = rel_thread_count();
    }
    return n;
}

size_t rel_rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 0;
    unsigned long size = 0, resident = 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE) / 1024u;
}

void rel_assert_clean_error(int rc, const fcb_error *err, const char *what)
{
    cr_assert(rc < 0 && rc >= FCB_ERR_INTERNAL, "%s: returned %d, not an fcb_status", what, rc);
    cr_assert_eq(err->code, rc, "%s: err.code %d differs from the return value %d", what, err->code,
                 rc);
    size_t len = strnlen(err->message, sizeof err->message);
    cr_assert(len > 0 && len < sizeof err->message, "%s: failed (%s) with an empty message", what,
              fcb_status_name(rc));
}

/* zip of app.py = "def handler(e, c):\n    return e\n" (stored, made with Python zipfile) */
const unsigned char rel_code_zip[] = {
    0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0x00, 0x97, 0x99,
    0x62, 0x30, 0x20, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x61, 0x70,
    0x70, 0x2e, 0x70, 0x79, 0x64, 0x65, 0x66, 0x20, 0x68, 0x61, 0x6e, 0x64, 0x6c, 0x65, 0x72, 0x28,
    0x65, 0x2c, 0x20, 0x63, 0x29, 0x3a, 0x0a, 0x20, 0x20, 0x20, 0x20, 0x72, 0x65, 0x74, 0x75, 0x72,
    0x6e, 0x20, 0x65, 0x0a, 0x50, 0x4b, 0x01, 0x02, 0x14, 0x03, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x21, 0x00, 0x97, 0x99, 0x62, 0x30, 0x20, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00,
    0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa4, 0x81, 0x00, 0x00,
    0x00, 0x00, 0x61, 0x70, 0x70, 0x2e, 0x70, 0x79, 0x50, 0x4b, 0x05, 0x06, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x34, 0x00, 0x00, 0x00, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00,
};
const size_t rel_code_zip_len = sizeof rel_code_zip;

void rel_default_request(fcb_function *fn, fcb_launch_request *req)
{
    memset(fn, 0, sizeof *fn);
    fn->size = sizeof *fn;
    fn->function_name = "rel-fn";
    fn->function_arn = "arn:aws:lambda:us-east-1:123456789012:function:rel-fn";
    fn->runtime = "python3.12";
    fn->handler = "app.handler";
    fn->package_type = FCB_PACKAGE_ZIP;
    memset(req, 0, sizeof *req);
    req->size = sizeof *req;
    req->function = fn;
    req->code.data = rel_code_zip;
    req->code.size = rel_code_zip_len;
    req->deploy_id = "0123456789abcdef";
    req->deadline_ms = 15000;
}

void rel_session_open(rel_session *s, const fcb_host_services *svc, const char *plugin_path,
                      const char *internal_token)
{
    char why[LOADER_WHY_MAX] = "";
    s->plugin = NULL;
    s->backend = NULL;
    cr_assert_eq(loader_load(plugin_path, svc, &s->plugin, why), 0, "%s", why);
    fcb_open_params params = {sizeof params, internal_token};
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(s->plugin->ops->open(svc, &params, &s->backend, &err), FCB_OK, "%s", err.message);
}

void rel_session_close(rel_session *s)
{
    if (s->plugin != NULL && s->backend != NULL)
        s->plugin->ops->close(s->backend);
    loader_unload(s->plugin);
    s->plugin = NULL;
    s->backend = NULL;
}

size_t rel_reap_once(const fcb_host_services *svc, const char *plugin_path,
                     const char *internal_token)
{
    rel_session session;
    rel_session_open(&session, svc, plugin_path, internal_token);
    fcb_error err = FCB_ERROR_INIT;
    size_t reaped = 0;
    cr_assert_eq(session.plugin->ops->reap_stale(session.backend, &reaped, &err), FCB_OK, "%s",
                 err.message);
    rel_session_close(&session);
    return reaped;
}
