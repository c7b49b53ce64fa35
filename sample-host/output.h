/*
 * output: the host's JSON output on stdout (`--json`).
 *
 * Every command prints exactly one JSON object; these helpers build and
 * print it. output_json_error prints a complete failure document on its own
 * (used by the failure path and by the signal watchdog, which must not touch
 * the command's document). Not thread-safe with respect to stdout: callers
 * print one document per process.
 */
#ifndef FCB_HOST_OUTPUT_H
#define FCB_HOST_OUTPUT_H

#include <json-c/json.h>

/* Add KEY = VALUE (a copy; JSON null when VALUE is NULL) to object O. */
void output_json_set_str(json_object *o, const char *key, const char *value);

/* Print O on one line (no slash escaping) and a newline on stdout. */
void output_json_print(json_object *o);

/*
 * Print {"ok": false, "exit_code": EXIT_CODE, "error": {"code": CODE,
 * "message": MESSAGE}} on stdout.
 */
void output_json_error(int exit_code, const char *code, const char *message);

#endif
