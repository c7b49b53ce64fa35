/* output: json-c documents printed plain on stdout. */
#include "output.h"

#include <stdio.h>

void output_json_set_str(json_object *o, const char *key, const char *value)
{
    json_object_object_add(o, key, value != NULL ? json_object_new_string(value) : NULL);
}

void output_json_print(json_object *o)
{
    fputs(
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
        stdout);
    fputc('\n', stdout);
}

void output_json_error(int exit_code, const char *code, const char *message)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "ok", json_object_new_boolean(0));
    json_object_object_add(o, "exit_code", json_object_new_int(exit_code));
    json_object *e = json_object_new_object();
    output_json_set_str(e, "code", code);
    output_json_set_str(e, "message", message);
    json_object_object_add(o, "error", e);
    output_json_print(o);
    json_object_put(o);
}
