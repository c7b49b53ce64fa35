/* Loses one block on purpose: `host valgrind check catches a leak` must fail. */
#include <criterion/criterion.h>

#include <stdlib.h>

Test(valgrind_selfcheck, loses_one_block_in_a_worker)
{
    void *volatile block = malloc(100);
    cr_assert_not_null(block);
    block = NULL;
}
