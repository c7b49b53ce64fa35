/*
 * dock_arch: a function's Architectures against images and the engine.
 *
 * Lambda names architectures x86_64 and arm64; Docker (Go) names them
 * amd64 and arm64, and an engine may report uname's x86_64 / aarch64. A
 * launch asks for the function's platform ("linux/arm64") on pull and on
 * create when it is not the engine's own, and checks the platform of the
 * image it ends up with: an image of another architecture than the
 * function's (or one whose config names none) is refused with
 * FCB_ERR_UNSUPPORTED naming Architectures, both architectures and the
 * image, never run. Whether the engine can execute a foreign architecture
 * (binfmt/QEMU on its host) is not visible through the API: if it cannot,
 * the runtime fails at start (exec format error) and the launch fails with
 * it. Pure functions, thread-safe.
 */
#ifndef FCB_DOCK_ARCH_H
#define FCB_DOCK_ARCH_H

#include <fakecloud/backend_plugin.h>

#include <stdbool.h>

#define DOCK_PLATFORM_MAX 32

/*
 * The Go name ("amd64", "arm64") of a function's ARCHITECTURE (Lambda's
 * name; NULL or "" = x86_64) into *GO (static). FCB_ERR_INVALID_ARGUMENT
 * naming Architectures for anything else.
 */
int dock_arch_of_function(const char *architecture, const char **go, fcb_error *err);

/* Lambda's name of Go architecture GO ("amd64" -> "x86_64"); GO itself when unknown. */
const char *dock_arch_lambda_name(const char *go);

/* Whether A and B name the same architecture (Go or uname names); false when either is "". */
bool dock_arch_same(const char *a, const char *b);

/*
 * FCB_OK when the image of platform OS/ARCH (its config's Os, Architecture)
 * runs functions of Go architecture WANT. Otherwise FCB_ERR_UNSUPPORTED:
 * "Architectures: the function needs <want> (linux/<go>) but image 'IMAGE'
 * is <os>/<arch>" and WHAT (e.g. ": refused before it started").
 */
int dock_arch_check_image(const char *want, const char *image, const char *os, const char *arch,
                          const char *what, fcb_error *err);

#endif
