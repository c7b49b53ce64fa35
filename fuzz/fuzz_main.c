/*
 * fuzz_main: the libFuzzer entry point of one target. Compiled once per
 * target with -DFUZZ_ENTRY=fuzz_<target> (see fuzz/meson.build).
 */
#include "fuzz_targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FUZZ_ENTRY(data, size);
    return 0;
}
