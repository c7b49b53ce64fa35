/* Prints the docker backend's configuration keys, one a line (for tests/common/doc_keys.py). */
#include "dock_config.h"

#include <stdio.h>

int main(void)
{
    for (size_t i = 0; i < dock_config_n_keys; i++)
        printf("%s\n", dock_config_keys[i].name);
    return 0;
}
