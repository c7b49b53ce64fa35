/* Prints the k8s backend's configuration keys, one a line (for tests/common/doc_keys.py). */
#include "k8s_config.h"

#include <stdio.h>

int main(void)
{
    size_t n = 0;
    const cfg_key *keys = k8s_config_keys(&n);
    for (size_t i = 0; i < n; i++)
        printf("%s\n", keys[i].name);
    return 0;
}
