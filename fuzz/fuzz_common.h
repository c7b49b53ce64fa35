/*
 * fuzz_common: what every fuzz target shares.
 *
 * A fuzz target is a plain function `int fuzz_<target>(const uint8_t *, size_t)`
 * that feeds one input to the code under test and checks its properties. The
 * same function is called by libFuzzer (fuzz_main.c, clang, -Dfuzzers=true)
 * and by the regression test (tests/reliability/test_fuzz_regressions.c,
 * any compiler), which replays fuzz/regressions/<target>/ and
 * fuzz/corpus/<target>/. A violated property aborts with a message on stderr,
 * which both callers report as a crash.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_REQUIRE(cond, ...)                                                                  \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "fuzz property violated at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                        \
            fputc('\n', stderr);                                                                 \
            abort();                                                                             \
        }                                                                                        \
    } while (0)

/* NUL-terminated copy of size bytes (embedded NULs kept); free() it. Aborts on OOM. */
char *fuzz_strndup(const uint8_t *data, size_t size);

/*
 * Split an input into at most `max_parts` parts at each occurrence of the
 * byte 0x00 (the last part takes the rest). Each part is a NUL-terminated
 * malloc'd copy written to parts[i]; returns the count (>= 1). Free with
 * fuzz_parts_free.
 */
size_t fuzz_split(const uint8_t *data, size_t size, char **parts, size_t max_parts);
void fuzz_parts_free(char **parts, size_t n);

/*
 * Size of the next piece when feeding `remaining` bytes in chunks: all of it
 * when *state is 0 (one piece), else 1..64 bytes from a small LCG advanced in
 * *state (seed it from the input, odd). Split-independence targets use it.
 */
size_t fuzz_next_chunk(uint32_t *state, size_t remaining);

#endif
