/*
 * Unload safety: load, use (open, launch, terminate, close), unload and
 * reload a plugin 100 times in one process. Afterwards no thread of the
 * plugin is left (/proc/self/task), no descriptor is left, the mock host
 * holds no byte, and the RSS after iteration 100 is within a small bound of
 * the RSS after iteration 10 (both printed).
 */
#include "rel_unload.h"

#include <loader.h>

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>

#ifdef REL_TEST_PLUGIN
Test(unload, test_plugin_reloads_100_times_without_leaking_threads_or_memory, .timeout = 120)
{
    fcb_function fn;
    fcb_launch_request req;
    rel_default_request(&fn, &req);
    rel_target t = {.name = "test", .plugin_path = REL_TEST_PLUGIN, .request = &req};
    rel_unload_cycle(&t);
}
#endif
