/*
 * dock_arch: Lambda's architecture names against Docker's (dock_arch.h).
 */
#include "dock_arch.h"

#include <string.h>

/* Docker/Go name of Lambda architecture NAME, or NULL when Lambda has no such one. */
static const char *dock_arch_go_name(const char *name)
{
    if (strcmp(name, "x86_64") == 0)
        return "amd64";
    if (strcmp(name, "arm64") == 0)
        return "arm64";
    return NULL;
}

int dock_arch_check(const char *architecture, const char *engine_arch, fcb_error *err)
{
    const char *want = architecture != NULL && architecture[0] != '\0' ? architecture : "x86_64";
    const char *go = dock_arch_go_name(want);
    if (go == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "Architectures: '%.64s' is not a Lambda architecture (x86_64 or arm64)",
                       want);
    /* uname names an engine may report instead of Go's. */
    const char *have = engine_arch;
    if (strcmp(have, "x86_64") == 0)
        have = "amd64";
    else if (strcmp(have, "aarch64") == 0)
        have = "arm64";
    if (strcmp(go, have) == 0)
        return FCB_OK;
    return err_set(err, FCB_ERR_UNSUPPORTED,
                   "Architectures: the function needs %s (linux/%s) but the Docker engine runs "
                   "'%.32s': the docker backend runs a function only on its own architecture "
                   "(no emulation), use an engine of that architecture",
                   want, go, engine_arch[0] != '\0' ? engine_arch : "(not reported)");
}
