/*
 * k8s_tags: per-function Pod scheduling and metadata, like upstream fakecloud's
 * K8sPodConfig. Three sources, lowest to highest precedence:
 *
 *   1. global keys   FAKECLOUD_K8S_NODE_SELECTOR|TOLERATIONS|ANNOTATIONS
 *                    (read by k8s_config.c)
 *   2. service keys  FAKECLOUD_LAMBDA_K8S_NODE_SELECTOR|TOLERATIONS|ANNOTATIONS
 *                    (k8s_tags_service_read; same syntax and rules as 1)
 *   3. function tags fakecloud-k8s/node-selector, fakecloud-k8s/tolerations,
 *                    fakecloud-k8s/annotations (k8s_tags_from_function)
 *
 * plus the function's architecture, which always wins on kubernetes.io/arch
 * (arm64 -> arm64, x86_64 -> amd64): a Pod never lands on the other
 * architecture because of a tag.
 *
 * Syntax: the maps take "k=v,k2=v2" (entries trimmed) or a JSON object of
 * strings; tolerations a JSON list of Toleration objects (fields key,
 * operator Exists|Equal, value, effect NoSchedule|PreferNoSchedule|NoExecute,
 * tolerationSeconds integer; the API server's rules, k8s_toleration_check). Keys are [prefix/]name
 * label keys, node-selector values label values, annotation values any string.
 *
 * Merging: maps union per key, the higher level winning a clash; tolerations
 * add up, exact duplicates dropped. Errors are asymmetric on purpose (as
 * upstream): a malformed service key is a configuration error at open, a
 * malformed tag is a warning and is ignored (a bad entry is skipped, the
 * rest of the tag kept), so a tag never makes a function unlaunchable.
 * Function tags may not set annotations starting with "fakecloud-" (the
 * backend's own bookkeeping).
 *
 * Pure apart from json-c objects; thread safety: none needed.
 */
#ifndef FCB_K8S_TAGS_H
#define FCB_K8S_TAGS_H

#include <fakecloud/backend_plugin.h>

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#define K8S_TAG_NODE_SELECTOR "fakecloud-k8s/node-selector"
#define K8S_TAG_TOLERATIONS   "fakecloud-k8s/tolerations"
#define K8S_TAG_ANNOTATIONS   "fakecloud-k8s/annotations"
#define K8S_ARCH_LABEL        "kubernetes.io/arch"

#define K8S_TAGS_WARN_MAX  8
#define K8S_TAGS_WARN_SIZE 256
#define K8S_TAGS_MAP_MAX   256 /* entries of one map */

/* What the Pod builder merges into the Pod: each NULL when empty. Owned (json-c refs). */
typedef struct k8s_pod_extras {
    json_object *node_selector; /* object of strings */
    json_object *tolerations;   /* array of objects */
    json_object *annotations;   /* object of strings */
} k8s_pod_extras;

/* Warnings for the host log (messages never hold tag values longer than 64 bytes). */
typedef struct k8s_tags_warnings {
    char message[K8S_TAGS_WARN_MAX][K8S_TAGS_WARN_SIZE];
    size_t n;       /* kept (<= K8S_TAGS_WARN_MAX) */
    size_t dropped; /* more that did not fit */
} k8s_tags_warnings;

/* One function tag (borrowed strings): the ABI's, fcb_function.tags. */
typedef fcb_tag k8s_tag;

/*
 * Rules of a map. Keys are always [prefix/]name label keys. Function tags
 * (strict false) may not set annotation keys starting "fakecloud-"; the
 * configuration keys may (FAKECLOUD_K8S_ANNOTATIONS allows them today).
 */
typedef enum k8s_tags_map_kind {
    K8S_TAGS_NODE_SELECTOR, /* label values */
    K8S_TAGS_ANNOTATIONS,   /* any value */
    K8S_TAGS_LABELS,        /* label values; keys not fakecloud-* (FAKECLOUD_K8S_LABELS) */
} k8s_tags_map_kind;

/*
 * Parse one map value (`what` names it in messages, e.g. the key or tag).
 * strict: the first problem is FCB_ERR_CONFIG; otherwise each bad entry is a
 * warning in *warn (may be NULL) and is skipped. *out is a new object, or
 * NULL when nothing valid remains. FCB_ERR_NO_MEMORY possible in both modes.
 */
int k8s_tags_parse_map(const char *what, const char *value, k8s_tags_map_kind kind, bool strict,
                       json_object **out, k8s_tags_warnings *warn, fcb_error *err);

/* Same for a tolerations list (a bad element is skipped when not strict). */
int k8s_tags_parse_tolerations(const char *what, const char *value, bool strict, json_object **out,
                               k8s_tags_warnings *warn, fcb_error *err);

/*
 * One toleration T checked like kube-apiserver's ValidateTolerations: known
 * fields of the right types; operator Exists|Equal; effect NoSchedule|
 * PreferNoSchedule|NoExecute; key a label key; an empty key only with
 * Exists; no value with Exists, else a label value; tolerationSeconds only
 * with NoExecute. False with WHY = ".field: problem" (or ": problem").
 */
bool k8s_toleration_check(json_object *t, char *why, size_t size);

/*
 * Read the service level FAKECLOUD_LAMBDA_K8S_* through host->config_get.
 * FCB_ERR_CONFIG naming the key on a malformed value; *out zeroed first and
 * left empty on error.
 */
int k8s_tags_service_read(const fcb_host_services *host, k8s_pod_extras *out, fcb_error *err);

/*
 * The function's level: its tags (other keys ignored; a repeated tag key:
 * the last wins) and its architecture ("arm64", "x86_64", or NULL/"" for
 * "not stated": no arch selector). Never fails on tag content (warnings);
 * FCB_ERR_INVALID_ARGUMENT for an unknown architecture; FCB_ERR_NO_MEMORY.
 * *out zeroed first; on error left empty.
 */
int k8s_tags_from_function(const k8s_tag *tags, size_t n_tags, const char *architecture,
                           k8s_pod_extras *out, k8s_tags_warnings *warn, fcb_error *err);

/*
 * *out = base with higher merged over it (new references; base and higher
 * unchanged). A kubernetes.io/arch set by the function level (from its
 * architecture) always wins and a different lower value is warned about.
 */
int k8s_pod_extras_merge(const k8s_pod_extras *base, const k8s_pod_extras *higher,
                         k8s_pod_extras *out, k8s_tags_warnings *warn, fcb_error *err);

/*
 * The kubernetes.io/arch node label value of a Lambda architecture:
 * "arm64" -> "arm64", "x86_64" -> "amd64"; NULL for anything else.
 * ARCHITECTURE must not be NULL.
 */
const char *k8s_arch_label(const char *architecture);

/* Drop every reference; *e becomes empty. NULL-safe. */
void k8s_pod_extras_clear(k8s_pod_extras *e);

#endif
