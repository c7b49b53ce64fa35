/*
 * dock_arch: Lambda's architecture names against Docker's (dock_arch.h).
 */
#include "dock_arch.h"

#include "svc.h"

#include <string.h>

int dock_arch_of_function(const char *architecture, const char **go, fcb_error *err)
{
    const char *want = architecture != NULL && architecture[0] != '\0' ? architecture : "x86_64";
    if (strcmp(want, "x86_64") == 0)
        *go = "amd64";
    else if (strcmp(want, "arm64") == 0)
        *go = "arm64";
    else
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "Architectures: '%.64s' is not a Lambda architecture (x86_64 or arm64)",
                       want);
    return FCB_OK;
}

const char *dock_arch_lambda_name(const char *go)
{
    return strcmp(go, "amd64") == 0 ? "x86_64" : go;
}

/* Go's name for an architecture an engine or image may report in uname's terms. */
static const char *dock_arch_go_name(const char *name)
{
    if (strcmp(name, "x86_64") == 0)
        return "amd64";
    if (strcmp(name, "aarch64") == 0)
        return "arm64";
    return name;
}

bool dock_arch_same(const char *a, const char *b)
{
    return a[0] != '\0' && b[0] != '\0' && strcmp(dock_arch_go_name(a), dock_arch_go_name(b)) == 0;
}

int dock_arch_check_image(const char *want, const char *image, const char *os, const char *arch,
                          const char *what, fcb_error *err)
{
    if (dock_arch_same(want, arch) && (os[0] == '\0' || strcmp(os, "linux") == 0))
        return FCB_OK;
    return err_set(err, FCB_ERR_UNSUPPORTED,
                   "Architectures: the function needs %s (linux/%s) but image '%.300s' is "
                   "%s/%s%s",
                   dock_arch_lambda_name(want), want, image, os[0] != '\0' ? os : "?",
                   arch[0] != '\0' ? arch : "(no architecture in its config)", what);
}
