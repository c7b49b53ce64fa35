/*
 * rel_unload: load, use (open, launch, terminate, close), unload and reload
 * a plugin N times in one process (100, or REL_UNLOAD_ITERATIONS from the
 * environment: valgrind runs fewer); then assert no thread, descriptor,
 * byte or orchestrator object is left and that the RSS after the last cycle
 * is within 1 MiB of the RSS after cycle 10 (both printed).
 */
#ifndef REL_UNLOAD_H
#define REL_UNLOAD_H

#include "rel_common.h"

void rel_unload_cycle(const rel_target *t);

/*
 * One cycle of that loop (cycle number I): load T's plugin on a fresh mock
 * host, open, launch + terminate (or reap_stale, see REL_UNLOAD_LAUNCH_EVERY),
 * close, unload; asserts each step and that the mock host holds no byte.
 */
void rel_unload_use_once(const rel_target *t, unsigned i);

#endif
