/* Unit tests of plugin/common/jsonx: the streaming member-array counter. */
#include "jsonx.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool count_of(const char *text, size_t *n)
{
    return jsonx_count_member_array(text, strlen(text), "items", n);
}

Test(jsonx_count_member_array, counts_the_items_of_a_list)
{
    size_t n = 99;
    cr_assert(
        count_of("{\"kind\":\"PodList\",\"items\":[{\"a\":[1,2,{\"b\":\"]}\"}]},{},3,\"x\"]}", &n));
    cr_assert_eq(n, 4);
    cr_assert(count_of("{ \"items\" : [ ] , \"metadata\" : {} }", &n));
    cr_assert_eq(n, 0);
}

Test(jsonx_count_member_array, ignores_lookalikes_in_strings_and_nested_objects)
{
    size_t n = 99;
    /* "items" as a value, inside a nested object, inside an escaped string. */
    cr_assert(count_of("{\"kind\":\"items\",\"metadata\":{\"items\":[1,2,3]},"
                       "\"note\":\"\\\"items\\\":[1,2]\",\"items\":[7]}",
                       &n));
    cr_assert_eq(n, 1);
}

Test(jsonx_count_member_array, refuses_what_is_not_a_balanced_object_with_the_key)
{
    size_t n = 99;
    cr_assert_not(count_of("[1,2]", &n));
    cr_assert_eq(n, 0);
    cr_assert_not(count_of("{\"items\":[1,2]", &n), "unbalanced");
    cr_assert_not(count_of("{\"items\":\"[1,2]\"}", &n), "a string, not an array");
    cr_assert_not(count_of("{\"metadata\":{}}", &n), "no items");
    cr_assert_not(count_of("{\"items\":[\"unterminated]}", &n));
    cr_assert_not(count_of("", &n));
}

/* Random documents: the counter must agree with json-c's parse. */
static json_object *random_value(unsigned *seed, int depth)
{
    int kind = rand_r(seed) % (depth > 3 ? 4 : 6);
    switch (kind) {
    case 0: return json_object_new_int(rand_r(seed) % 100000 - 500);
    case 1: return json_object_new_boolean(rand_r(seed) % 2);
    case 2: return NULL; /* null */
    case 3: {
        static const char *const pieces[] = {"a", "\"", "\\", "[",     "]",  "{",
                                             "}", ",",  ":",  "items", "\n", "é"};
        char s[64] = "";
        int len = rand_r(seed) % 8;
        for (int i = 0; i < len; i++)
            strcat(s, pieces[rand_r(seed) % 12]);
        return json_object_new_string(s);
    }
    case 4: {
        json_object *a = json_object_new_array();
        int len = rand_r(seed) % 5;
        for (int i = 0; i < len; i++)
            json_object_array_add(a, random_value(seed, depth + 1));
        return a;
    }
    default: {
        json_object *o = json_object_new_object();
        int len = rand_r(seed) % 5;
        for (int i = 0; i < len; i++) {
            char key[16];
            snprintf(key, sizeof key, i == 0 ? "items" : "k%d", i);
            json_object_object_add(o, key, random_value(seed, depth + 1));
        }
        return o;
    }
    }
}

Test(jsonx_count_member_array, agrees_with_json_c_on_2000_random_lists)
{
    unsigned seed = 12345;
    for (int round = 0; round < 2000; round++) {
        json_object *doc = json_object_new_object();
        json_object_object_add(doc, "kind", json_object_new_string("List"));
        json_object *items = json_object_new_array();
        int len = rand_r(&seed) % 20;
        for (int i = 0; i < len; i++)
            json_object_array_add(items, random_value(&seed, 1));
        json_object_object_add(doc, "metadata", random_value(&seed, 1));
        json_object_object_add(doc, "items", items);
        const char *text = json_object_to_json_string_ext(doc, round % 2 ? JSON_C_TO_STRING_PLAIN
                                                                         : JSON_C_TO_STRING_PRETTY);
        size_t n = 0;
        cr_assert(jsonx_count_member_array(text, strlen(text), "items", &n), "round %d: %s", round,
                  text);
        cr_assert_eq(n, (size_t)len, "round %d: counted %zu, json-c %d: %s", round, n, len, text);
        json_object_put(doc);
    }
}
