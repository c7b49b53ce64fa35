/* fuzz_common: input splitting helpers shared by the fuzz targets. */
#include "fuzz_common.h"

#include <string.h>

char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

size_t fuzz_split(const uint8_t *data, size_t size, char **parts, size_t max_parts)
{
    size_t n = 0;
    size_t start = 0;
    for (size_t i = 0; i < size && n + 1 < max_parts; i++) {
        if (data[i] == 0) {
            parts[n++] = fuzz_strndup(data + start, i - start);
            start = i + 1;
        }
    }
    parts[n++] = fuzz_strndup(data + start, size - start);
    return n;
}

void fuzz_parts_free(char **parts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(parts[i]);
}

size_t fuzz_next_chunk(uint32_t *state, size_t remaining)
{
    if (*state == 0)
        return remaining;
    *state = *state * 1103515245u + 12345u;
    size_t want = 1 + (*state >> 8) % 64;
    return want < remaining ? want : remaining;
}
