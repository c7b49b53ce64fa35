/*
 * k8s_overlay: the Pod template overlay (FAKECLOUD_K8S_POD_TEMPLATE).
 *
 * An operator-supplied partial Pod (JSON or YAML, inline or from a file)
 * merged into every generated Pod for what no configuration key covers
 * (affinity, topology spread, priority class, extra volumes, sidecars).
 * Merge semantics are JSON merge-patch (RFC 7396) except that lists whose
 * elements are all objects with a string "name" (containers, volumes, env,
 * ports, ...) are merged element by element by name, new names appended.
 * Templates that would change what the backend relies on are refused when
 * loaded, so a bad template fails open(), never a launch.
 * Pure functions (file reading aside), thread-safe.
 */
#ifndef FCB_K8S_OVERLAY_H
#define FCB_K8S_OVERLAY_H

#include <fakecloud/backend_plugin.h>
#include <json-c/json.h>

/* Largest template accepted (file or inline), bytes. */
#define K8S_OVERLAY_MAX_BYTES (1024 * 1024)

/*
 * Parse VALUE (the configuration value of KEY): inline JSON/YAML text when
 * it starts with '{' or contains a newline or ": ", otherwise a file path.
 * Validates the result (k8s_overlay_check). On success *out is a new
 * json_object the caller releases with json_object_put. Errors are
 * FCB_ERR_CONFIG naming KEY, the file and the field.
 */
int k8s_overlay_load(const fcb_host_services *host, const char *key, const char *value,
                     json_object **out, fcb_error *err);

/* Parse JSON or YAML TEXT (LEN bytes) into a json_object (caller puts). */
int k8s_overlay_parse(const char *text, size_t len, json_object **out, fcb_error *err);

/*
 * Refuse what would change what the backend relies on: metadata.name,
 * generateName and namespace, labels/annotations with the "fakecloud-"
 * prefix, spec.restartPolicy, and the image, command, args, volumeMounts
 * (init container: also env/envFrom) of the containers "fakecloud-init" and
 * "fakecloud-lambda", and volumes named like ours. FCB_ERR_CONFIG naming the
 * field ("spec.containers[fakecloud-lambda].image").
 */
int k8s_overlay_check(const json_object *overlay, fcb_error *err);

/*
 * Merge OVERLAY into TARGET in place (see above). OVERLAY is only read.
 * Returns FCB_OK or FCB_ERR_NO_MEMORY.
 */
int k8s_overlay_merge(json_object *target, const json_object *overlay, fcb_error *err);

#endif
