/*
 * The host side of ABI 1.0, built against the 1.0 header: what a host
 * compiled before 1.1 does with a plugin (descriptor check before any plugin
 * code, then init). Usage: abi10_host PLUGIN.so accept|refuse. Exits 0 when
 * the plugin is accepted (and its init returns an ops table) or refused, as
 * the second argument expects; prints the reason either way.
 */
#include <fakecloud/backend_plugin.h>

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if FCB_ABI_MINOR != 0
#error "abi10_host must be built against the ABI 1.0 header"
#endif

static void *h_alloc(void *ctx, size_t n)
{
    (void)ctx;
    return malloc(n);
}
static void *h_realloc(void *ctx, void *p, size_t n)
{
    (void)ctx;
    return realloc(p, n);
}
static void h_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}
static void h_log(void *ctx, fcb_log_level level, const char *plugin, const char *message,
                  const fcb_log_field *fields, size_t n_fields)
{
    (void)ctx, (void)level, (void)fields, (void)n_fields;
    fprintf(stderr, "log %s: %s\n", plugin, message);
}
static const char *h_config(void *ctx, const char *key)
{
    (void)ctx;
    return getenv(key);
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[2], "accept") != 0 && strcmp(argv[2], "refuse") != 0)) {
        fprintf(stderr, "usage: abi10_host PLUGIN.so accept|refuse\n");
        return 2;
    }
    int want_accept = strcmp(argv[2], "accept") == 0;
    void *dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        fprintf(stderr, "FAIL: dlopen: %s\n", dlerror());
        return 1;
    }
    const fcb_plugin_descriptor *d = dlvsym(dl, FCB_DESCRIPTOR_SYMBOL, FCB_SYMBOL_VERSION);
    const char *why = NULL;
    int rc = fcb_descriptor_check(d, FCB_ABI_MAJOR, FCB_ABI_MINOR, &why);
    int ok;
    if (rc != FCB_OK) {
        printf("refused %s: %s (plugin ABI %u.%u, host ABI %u.%u)\n", argv[1], why,
               d ? (unsigned)d->abi_major : 0u, d ? (unsigned)d->abi_minor : 0u, FCB_ABI_MAJOR,
               FCB_ABI_MINOR);
        /* Refused for the right reason: the minor, not a broken file. */
        ok = !want_accept && strstr(why, "newer ABI minor") != NULL;
    } else {
        void *sym = dlvsym(dl, FCB_INIT_SYMBOL, FCB_SYMBOL_VERSION);
        fcb_plugin_init_fn init = NULL;
        if (sym != NULL)
            memcpy(&init, &sym, sizeof init); /* object pointer -> function pointer (POSIX) */
        fcb_host_services hs = {sizeof hs, FCB_ABI_MAJOR, FCB_ABI_MINOR, NULL, h_alloc, h_realloc,
                                h_free,    NULL,          h_log,         NULL, NULL,    h_config};
        fcb_error err = FCB_ERROR_INIT;
        const fcb_backend_ops *ops = init != NULL ? init(&hs, &err) : NULL;
        printf("accepted %s: %s, ops %s\n", argv[1], d->name, ops ? "returned" : err.message);
        ok = want_accept && ops != NULL;
    }
    dlclose(dl);
    if (!ok)
        fprintf(stderr, "FAIL: wanted the plugin %s\n", want_accept ? "accepted" : "refused");
    return ok ? 0 : 1;
}
