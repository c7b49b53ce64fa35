/*
 * yamlx: YAML (and therefore JSON) text to a json-c tree, via libyaml.
 *
 * Kubeconfigs, ExecCredentials and the k8s backend's Pod template overlay
 * are YAML or JSON; the code reads them as json_object trees. Plain scalars are typed the YAML 1.1
 * core way kubectl does for these files (null/~/empty -> null, true/false -> bool, decimal integers
 * -> int, decimal floats -> double, everything else string); quoted scalars are always strings.
 * Aliases are refused; only the first document is read; nesting is bounded (YAMLX_MAX_DEPTH). Pure;
 * thread-safe.
 */
#ifndef FCB_YAMLX_H
#define FCB_YAMLX_H

#include <fakecloud/backend_plugin.h>
#include <json-c/json.h>

#include <stddef.h>

#define YAMLX_MAX_DEPTH 64

/*
 * Parse LEN bytes of DATA. *out gets a new tree (json_object_put to free; an
 * empty document yields an empty object). Errors: FCB_ERR_CONFIG with
 * "NAME: invalid YAML at line L column C: problem", FCB_ERR_NO_MEMORY.
 */
int yamlx_parse(const char *data, size_t len, const char *name, json_object **out, fcb_error *err);

#endif
