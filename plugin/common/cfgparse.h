/*
 * cfgparse: reading a backend's configuration keys, once, from one table.
 *
 * A backend describes every key it reads in one cfg_key table (name,
 * default, doc line, parser, where the value goes); cfg_table_read() fills
 * the backend's config struct from the host's config getter in table order
 * and cfg_table_free() releases what the parsers allocated. The same table
 * is what the docs' key tables are checked against (tests/common/doc_keys.py).
 *
 * The parsers are pure functions of (key, value) and share one error shape,
 * built by cfg_error():
 *     <KEY> is not <what>: <why> (got "<value>")
 * e.g. `FAKECLOUD_DOCKER_READY_TIMEOUT_MS is not a duration in ms from 1 to
 * 3600000: not a number (got "soon")`, always FCB_ERR_CONFIG. Values that
 * are empty count as unset. Thread-safe.
 */
#ifndef FCB_PLUGIN_CFGPARSE_H
#define FCB_PLUGIN_CFGPARSE_H

#include "svc.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Fill ERR with the one configuration error shape; returns FCB_ERR_CONFIG.
 * VALUE NULL (for secrets) prints "(value not shown)" instead of the value.
 */
int cfg_error(fcb_error *err, const char *key, const char *value, const char *what,
              const char *why_fmt, ...) SVC_PRINTF(5, 6);

/* Unsigned decimal integer in MIN..MAX (no sign, no unit, no spaces). */
int cfg_parse_uint(const char *key, const char *value, uint64_t min, uint64_t max, uint64_t *out,
                   fcb_error *err);

/* A duration in whole milliseconds in MIN..MAX ("30s" is refused, naming the unit rule). */
int cfg_parse_ms(const char *key, const char *value, uint32_t min, uint32_t max, uint32_t *out,
                 fcb_error *err);

/* "true" or "false". */
int cfg_parse_bool(const char *key, const char *value, bool *out, fcb_error *err);

/* A parsed URL; fixed buffers, no allocation. */
#define CFG_URL_HOST_MAX 254
typedef struct cfg_url {
    char scheme[16];             /* lower case, e.g. "https" */
    char host[CFG_URL_HOST_MAX]; /* without brackets for IPv6 */
    unsigned port;               /* explicit port, or the scheme's default */
    bool port_explicit;          /* the value named a port */
    bool has_path;               /* a path other than "" or "/" */
    bool has_query;              /* a query or a fragment */
} cfg_url;

/* cfg_parse_url flags. */
#define CFG_URL_HOST_PORT 1u /* "host[:port]" alone is accepted (scheme https) */

/*
 * URL with a host (libcurl's parser, the one the clients use). Whitespace,
 * a missing host, a scheme other than http/https, a bad port or a value
 * over 1024 bytes are "<KEY> is not a valid URL: <why>".
 */
int cfg_parse_url(const char *key, const char *value, unsigned flags, cfg_url *out, fcb_error *err);

/*
 * A map: "k=v,k2=v2" or a JSON object of strings. *OUT is a new json-c
 * object (caller puts it with json_object_put) or NULL when empty. Keys
 * and values are not otherwise checked: callers apply their own rules.
 * At most 256 entries. FCB_ERR_NO_MEMORY when the host allocator fails.
 */
int cfg_parse_map(const fcb_host_services *host, const char *key, const char *value,
                  json_object **out, fcb_error *err);

/* ------------------------------------------------------------ key tables */

typedef struct cfg_key cfg_key;

/*
 * Parse VALUE (never NULL or empty) of KEY into the config struct CFG
 * (usually into the field at key->offset). Allocations go through HOST and
 * are released by key->release.
 */
typedef int (*cfg_parser)(const fcb_host_services *host, const cfg_key *key, const char *value,
                          void *cfg, fcb_error *err);

struct cfg_key {
    const char *name; /* e.g. "FAKECLOUD_DOCKER_READY_TIMEOUT_MS" */
    const char *def;  /* default as text, parsed like a set value; NULL = unset */
    const char *doc;  /* one line: what it does, for docs and --help */
    cfg_parser parse;
    size_t offset;     /* field in the config struct */
    uint64_t min, max; /* for the integer parsers */
    /* Frees what parse allocated in CFG (may be NULL). */
    void (*release)(const fcb_host_services *host, const cfg_key *key, void *cfg);
};

/* The field of KEY in CFG. */
#define CFG_FIELD(cfg, key, type) ((type *)(void *)((char *)(cfg) + (key)->offset))

/* Parsers for a field of the named type at key->offset, bounded by min/max. */
int cfg_key_uint32(const fcb_host_services *host, const cfg_key *key, const char *value, void *cfg,
                   fcb_error *err);
int cfg_key_uint64(const fcb_host_services *host, const cfg_key *key, const char *value, void *cfg,
                   fcb_error *err);
int cfg_key_ms(const fcb_host_services *host, const cfg_key *key, const char *value, void *cfg,
               fcb_error *err);
int cfg_key_bool(const fcb_host_services *host, const cfg_key *key, const char *value, void *cfg,
                 fcb_error *err);
/* A host-allocated copy into a char * field; release with cfg_release_string. */
int cfg_key_string(const fcb_host_services *host, const cfg_key *key, const char *value, void *cfg,
                   fcb_error *err);
void cfg_release_string(const fcb_host_services *host, const cfg_key *key, void *cfg);

/*
 * Read every key of KEYS (N entries) through HOST's config getter into CFG
 * (zeroed by the caller): the set value, else the default, else nothing.
 * Stops at the first error (message from the parser); on failure releases
 * what was read. FCB_OK, FCB_ERR_CONFIG, FCB_ERR_NO_MEMORY.
 */
int cfg_table_read(const fcb_host_services *host, const cfg_key *keys, size_t n, void *cfg,
                   fcb_error *err);
/* Release what the parsers of KEYS allocated in CFG; safe on a partly read CFG. */
void cfg_table_free(const fcb_host_services *host, const cfg_key *keys, size_t n, void *cfg);

#endif
