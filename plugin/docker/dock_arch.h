/*
 * dock_arch: a function's Architectures against the engine's.
 *
 * The engine says its architecture in /version `Arch` (Go names: amd64,
 * arm64), read once at open. A function whose architecture is the engine's
 * runs as before; any other is refused with FCB_ERR_UNSUPPORTED naming
 * Architectures and the engine's arch before anything is created: the
 * backend never runs the other architecture silently (nor through an
 * emulator it cannot see is installed).
 */
#ifndef FCB_DOCK_ARCH_H
#define FCB_DOCK_ARCH_H

#include "dock_engine.h"

/*
 * FCB_OK when a function of ARCHITECTURE (Lambda's name: "x86_64",
 * "arm64"; NULL or "" = x86_64) runs natively on an engine of ENGINE_ARCH
 * (Go's name). FCB_ERR_INVALID_ARGUMENT for an unknown architecture,
 * FCB_ERR_UNSUPPORTED for another one or an engine that did not say.
 */
int dock_arch_check(const char *architecture, const char *engine_arch, fcb_error *err);

#endif
