/*
 * dock_backend: the lifecycle of a Lambda runtime as a container.
 *
 * This file is the "what happens when" of the docker backend; the Engine
 * API itself (paths, JSON answers) is dock_containers.c / dock_images.c,
 * the configuration dock_config.c, the shared skeleton plugin/common.
 *
 * Cancellation: every operation enters the in-flight tracker (inflight.h);
 * close() sets `closing`, wakes the readiness loop's sleeps and waits for
 * every operation to leave. Cancellable Engine calls abort through curl's
 * progress callback (the engine polls `closing`). Clean-up after a failure
 * (force-remove of a container we created) is not cancellable: a cancelled
 * launch still leaves nothing. A launch's own token (fcb_launch_request.cancel,
 * ABI 1.1) is checked around every step and in every readiness round, and
 * the image calls and the code copy stop on it within ~100 ms (dock_request
 * stop); the create and the start are not interrupted.
 *
 * Architecture: the function's platform is pulled and created when it is
 * not the engine's, and the image a container was created from is checked
 * before it starts (dock_arch.h); the environment is lambda_env's, with the
 * role credentials (dock_spec.h).
 *
 * Deadline: a request's deadline_ms bounds the whole launch (image pull,
 * create, code copy, start, readiness): each step gets what is left of it,
 * and a step that runs out fails the launch with FCB_ERR_TIMEOUT after
 * removing what was created. deadline_ms 0 keeps each step's own bound
 * (FAKECLOUD_DOCKER_PULL_TIMEOUT_MS, FAKECLOUD_DOCKER_READY_TIMEOUT_MS, the
 * Engine calls' defaults).
 *
 * Readiness: docker-proxy accepts TCP connections on the published port
 * before anything listens in the container, so the probe is PROBE_HTTP (a
 * status line proves a server inside). Between probes the container is
 * inspected, so one that exits during start-up fails the launch at once
 * with its exit code and last log lines.
 */
#include "dock_backend.h"

#include "abi_struct.h"
#include "dock_arch.h"
#include "clockx.h"
#include "dock_codevol.h"
#include "dock_config.h"
#include "dock_containers.h"
#include "dock_hotreload.h"
#include "dock_engine.h"
#include "dock_images.h"
#include "dock_observe.h"
#include "dock_lease.h"
#include "dock_volumes.h"
#include "dock_spec.h"
#include "ids.h"
#include "inflight.h"
#include "labels.h"
#include "lambda_env.h"
#include "probe.h"
#include "runtime.h"
#include "svc.h"
#include "ziptar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DOCK_WHO                "docker backend"
#define DOCK_LOG_TAIL_BYTES     480
#define DOCK_REAP_MAX           10000
#define DOCK_HANDLE_PREFIX      "container/"
#define DOCK_ORPHANS_MAX        32
#define DOCK_CALL_DEFAULT_MS    30000u
#define DOCK_ARCHIVE_DEFAULT_MS 300000u
#define DOCK_READY_MAX_ATTEMPTS 100000u
#define DOCK_READY_FAST_MS       1u  /* readiness probe period while the runtime starts */
#define DOCK_READY_FAST_ATTEMPTS 20u /* ... for this many attempts (~40 ms with inspects) */
#define DOCK_PROBE_CANCEL_MS    300u
#define DOCK_CODE_WAIT_ROUNDS   6000u /* 100 ms each: another launch's code volume fill */

struct fcb_backend {
    const fcb_host_services *host;
    dock_config cfg;
    dock_engine engine;
    inflight ops;
    /*
     * Containers a failed launch could not remove because the engine was
     * unreachable (e.g. dockerd restarting); later operations retry them
     * (reap_stale skips this instance's own label). Under ops' lock.
     */
    char orphans[DOCK_ORPHANS_MAX][DOCK_ID_MAX];
    unsigned n_orphans;

    char instance_id[IDS_HEX_MAX];
    dock_lease lease;        /* ours: created by the first launch, renewed, released by close */
    bool lease_ok;           /* dock_lease_init succeeded */
    pthread_mutex_t reap_mu; /* one reap_stale at a time: it owns `observer` */
    bool reap_mu_ok;
    /*
     * Podman only: one launch at a time from container create to start.
     * Podman picks an ephemeral host port at create by binding port 0 and
     * closing it, but conmon binds it only at start, so two containers
     * created before either started can get the same port: the second
     * start fails with "address already in use" and netavark's DNAT rules
     * for that port break the first (docs/reliability.md F37).
     */
    pthread_mutex_t publish_mu;
    bool publish_mu_ok;
    lease_observer observer; /* other instances' leases as reap_stale saw them */
    char host_alias[256];
    bool host_gateway;
    char publish_ip[64];
    char endpoint_host[256];
    dock_stats stats; /* stats(): dock_observe.c */
    dock_codevols codevols; /* deploys' code volumes (dock_codevol.h) */
};

/* ------------------------------------------------------------------------ */
/* open / close                                                              */
/* ------------------------------------------------------------------------ */

static bool dock_is_loopback(const char *host)
{
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
           strcmp(host, "::1") == 0;
}

/* Where containers publish their port and where we reach it, from the engine's address. */
static void dock_backend_addresses(fcb_backend *b)
{
    const dock_engine *e = &b->engine;
    snprintf(b->host_alias, sizeof b->host_alias, "%s",
             b->cfg.host_alias != NULL
                 ? b->cfg.host_alias
                 : (e->podman ? DOCK_HOST_ALIAS_PODMAN : DOCK_HOST_ALIAS_DOCKER));
    /* Podman resolves host.containers.internal itself; Docker needs host-gateway. */
    b->host_gateway = !e->podman;
    bool remote = e->address.transport == DOCK_TCP && !dock_is_loopback(e->address.host);
    snprintf(b->publish_ip, sizeof b->publish_ip, "%s", remote ? "0.0.0.0" : "127.0.0.1");
    snprintf(b->endpoint_host, sizeof b->endpoint_host, "%s",
             remote ? e->address.host : "127.0.0.1");
}

static void dock_backend_free(fcb_backend *b)
{
    const fcb_host_services *host = b->host;
    if (b->lease_ok)
        dock_lease_destroy(&b->lease);
    if (b->reap_mu_ok)
        pthread_mutex_destroy(&b->reap_mu);
    if (b->publish_mu_ok)
        pthread_mutex_destroy(&b->publish_mu);
    dock_codevols_destroy(&b->codevols);
    dock_engine_release(&b->engine);
    dock_config_free(host, &b->cfg);
    inflight_destroy(&b->ops);
    svc_free(host, b);
}

/* The lease holder and the reaper's state (nothing is created on the engine yet). */
static int dock_backend_lease_init(fcb_backend *b, fcb_error *err)
{
    if (pthread_mutex_init(&b->reap_mu, NULL) != 0)
        return err_set(err, FCB_ERR_INTERNAL, "docker backend: cannot create the reap mutex");
    b->reap_mu_ok = true;
    if (pthread_mutex_init(&b->publish_mu, NULL) != 0)
        return err_set(err, FCB_ERR_INTERNAL, "docker backend: cannot create the publish mutex");
    b->publish_mu_ok = true;
    int rc = dock_codevols_init(&b->codevols, err);
    if (rc != FCB_OK)
        return rc;
    lease_observer_init(&b->observer);
    rc = dock_lease_init(&b->lease, b->host, &b->engine, &b->ops, b->instance_id,
                         b->cfg.lease_seconds, err);
    b->lease_ok = rc == FCB_OK;
    return rc;
}

int dock_backend_open(const fcb_host_services *host, const fcb_open_params *params,
                      fcb_backend **out, fcb_error *err)
{
    (void)params; /* the docker backend has no artifact server to authenticate to */
    *out = NULL;
    fcb_backend *b = svc_calloc(host, 1, sizeof *b);
    if (b == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "docker: out of memory");
    b->host = host;
    int rc = inflight_init(&b->ops, DOCK_WHO, err);
    if (rc != FCB_OK) {
        svc_free(host, b);
        return rc;
    }
    rc = ids_random_hex(b->instance_id, 8, "the docker backend instance id", err);
    if (rc == FCB_OK)
        rc = dock_config_read(host, &b->cfg, err);
    if (rc == FCB_OK) {
        rc = dock_engine_connect(&b->engine, host, &b->cfg, &b->ops.closing, err);
        if (rc != FCB_OK)
            err_prefix(err, "docker backend");
    }
    if (rc == FCB_OK)
        rc = dock_backend_lease_init(b, err);
    if (rc != FCB_OK) {
        dock_backend_free(b);
        return rc;
    }
    dock_backend_addresses(b);
    const dock_engine *e = &b->engine;
    svc_log(host, FCB_LOG_INFO, DOCK_PLUGIN_NAME, "docker backend opened", "engine",
            e->address.transport == DOCK_UNIX ? e->address.path : e->base_url, "api_version",
            e->api_version, "server_version", e->server_version, "podman",
            e->podman ? "true" : "false", "instance", b->instance_id, "code_volumes",
            e->podman ? "off (Podman: the code is copied into each container)" : "on", NULL);
    *out = b;
    return FCB_OK;
}

void dock_backend_close(fcb_backend *b)
{
    if (b == NULL)
        return;
    /* Bounded by the in-flight calls' own timeouts; they see `closing` promptly. */
    inflight_close(&b->ops, dock_lease_wake, &b->lease);
    /* After every operation ended: no launch can create a container any more. */
    dock_codevols_remove_all(&b->codevols, &b->engine, b->instance_id);
    dock_lease_release(&b->lease);
    dock_backend_free(b);
}

const char *dock_backend_instance_id(const fcb_backend *b)
{
    return b->instance_id;
}

dock_engine *dock_backend_engine(fcb_backend *b)
{
    return &b->engine;
}

inflight *dock_backend_inflight(fcb_backend *b)
{
    return &b->ops;
}

dock_stats *dock_backend_stats(fcb_backend *b)
{
    return &b->stats;
}

const char *dock_backend_endpoint_host(const fcb_backend *b)
{
    return b->endpoint_host;
}

/* ------------------------------------------------------------------------ */
/* Containers a failed launch left                                           */
/* ------------------------------------------------------------------------ */

/* Remember ID for dock_orphans_retry; false when the list is full or ID too long. */
static bool dock_orphan_add(fcb_backend *b, const char *id)
{
    bool added = false;
    inflight_lock(&b->ops);
    if (b->n_orphans < DOCK_ORPHANS_MAX && strlen(id) < DOCK_ID_MAX) {
        snprintf(b->orphans[b->n_orphans++], DOCK_ID_MAX, "%s", id);
        added = true;
    }
    inflight_unlock(&b->ops);
    return added;
}

/*
 * Best-effort removal after a failed launch; keeps the launch's error. When
 * the engine cannot be reached (or memory runs out twice), the container is
 * remembered and removed by a later operation of this backend.
 */
static void dock_container_discard(fcb_backend *b, const char *id, const char *name)
{
    fcb_error e2 = FCB_ERROR_INIT;
    int rc = dock_container_remove(&b->engine, id, false, &e2);
    if (rc == FCB_ERR_NO_MEMORY) /* often transient: try once more before leaving it behind */
        rc = dock_container_remove(&b->engine, id, false, &e2);
    if (rc == FCB_OK)
        return;
    bool later = (rc == FCB_ERR_UNAVAILABLE || rc == FCB_ERR_TIMEOUT || rc == FCB_ERR_NO_MEMORY) &&
                 dock_orphan_add(b, id);
    svc_log(b->host, FCB_LOG_WARN, DOCK_PLUGIN_NAME,
            later ? "could not remove container after a failed launch; will retry"
                  : "could not remove container after a failed launch",
            "container", name, "error", e2.message, NULL);
}

/* Remove the containers failed launches left (dock_container_discard); keep what still fails. */
static void dock_orphans_retry(fcb_backend *b)
{
    char ids[DOCK_ORPHANS_MAX][DOCK_ID_MAX];
    inflight_lock(&b->ops);
    unsigned n = b->n_orphans;
    memcpy(ids, b->orphans, sizeof ids[0] * n);
    b->n_orphans = 0;
    inflight_unlock(&b->ops);
    for (unsigned i = 0; i < n; i++) {
        fcb_error e2 = FCB_ERROR_INIT;
        int rc = dock_container_remove(&b->engine, ids[i], true, &e2);
        if (rc == FCB_OK)
            svc_log(b->host, FCB_LOG_INFO, DOCK_PLUGIN_NAME,
                    "removed container left by a failed launch", "container", ids[i], NULL);
        else if (rc != FCB_ERR_UNAVAILABLE && rc != FCB_ERR_TIMEOUT && rc != FCB_ERR_CANCELLED &&
                 rc != FCB_ERR_NO_MEMORY)
            svc_log(b->host, FCB_LOG_WARN, DOCK_PLUGIN_NAME,
                    "could not remove container left by a failed launch", "container", ids[i],
                    "error", e2.message, NULL);
        else if (!dock_orphan_add(b, ids[i]))
            svc_log(b->host, FCB_LOG_WARN, DOCK_PLUGIN_NAME,
                    "giving up on a container left by a failed launch", "container", ids[i], NULL);
    }
}

/* Enter an operation and retry what failed launches left; FCB_ERR_CANCELLED when closing. */
static int dock_op_begin(fcb_backend *b, fcb_error *err)
{
    int rc = inflight_enter(&b->ops, DOCK_WHO, err);
    if (rc == FCB_OK)
        dock_orphans_retry(b);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Images                                                                    */
/* ------------------------------------------------------------------------ */

/* What a pull or launch wants of its image. */
typedef struct dock_want {
    const char *arch;         /* Go name the function needs; NULL = any (prepull) */
    const char *platform;     /* "linux/<arch>" when that is not the engine's own, else NULL */
    const fcb_cancel *cancel; /* the launch's token, may be NULL */
} dock_want;

/* Pull IMAGE (PLATFORM NULL = the engine's own) within TIMEOUT_MS and the pull bound, logged. */
static int dock_image_pull_logged(fcb_backend *b, const char *image, const char *field,
                                  const char *platform, uint32_t timeout_ms,
                                  const fcb_cancel *cancel, fcb_error *err)
{
    svc_log(b->host, FCB_LOG_INFO, DOCK_PLUGIN_NAME, "pulling image", "image", image, "platform",
            platform != NULL ? platform : "(engine's)", NULL);
    uint64_t t0 = clockx_now_ms();
    uint32_t pull_ms = b->cfg.pull_timeout_ms;
    if (timeout_ms != 0 && timeout_ms < pull_ms)
        pull_ms = timeout_ms;
    int rc = dock_image_pull(&b->engine, image, field, b->cfg.registry_auth, platform, pull_ms,
                             cancel, err);
    if (rc != FCB_OK)
        return rc;
    char ms[32];
    snprintf(ms, sizeof ms, "%llu", (unsigned long long)(clockx_now_ms() - t0));
    svc_log(b->host, FCB_LOG_INFO, DOCK_PLUGIN_NAME, "pulled image", "image", image, "ms", ms,
            NULL);
    return FCB_OK;
}

/* A pull for the platform WANT->arch failed with RC over a local image of platform WAS. */
static int dock_image_variant_failed(const dock_want *want, const char *image, const char *was,
                                     int rc, fcb_error *err)
{
    if (rc != FCB_ERR_START_FAILED && rc != FCB_ERR_UNAVAILABLE && rc != FCB_ERR_BACKEND)
        return rc; /* cancelled, timed out, out of memory: said as such */
    err_prefix(err,
               "Architectures: the function needs %s (linux/%s) but image '%.300s' is %s here, "
               "and pulling its linux/%s variant failed",
               dock_arch_lambda_name(want->arch), want->arch, image, was, want->arch);
    err->code = FCB_ERR_UNSUPPORTED;
    return FCB_ERR_UNSUPPORTED;
}

/*
 * Make IMAGE present locally, of WANT's architecture: pulled when absent
 * (for WANT->platform), pulled for the function's platform when the local
 * image is of another one, checked again after a pull. FIELD names it in
 * errors. Each Engine call is bounded by TIMEOUT_MS (0 = its default) and
 * the pull also by FAKECLOUD_DOCKER_PULL_TIMEOUT_MS.
 */
static int dock_image_ensure(fcb_backend *b, const char *image, const char *field,
                             uint32_t timeout_ms, const dock_want *want, fcb_error *err)
{
    dock_image_info info;
    fcb_error mismatch = FCB_ERROR_INIT;
    int rc = dock_image_inspect(&b->engine, image, field, timeout_ms, want->cancel, &info, err);
    if (rc != FCB_OK)
        return rc;
    if (info.present &&
        (want->arch == NULL || dock_arch_check_image(want->arch, image, info.os, info.architecture,
                                                     "", &mismatch) == FCB_OK))
        return FCB_OK;
    char platform[DOCK_PLATFORM_MAX], was[48];
    snprintf(platform, sizeof platform, "linux/%s", want->arch != NULL ? want->arch : "");
    snprintf(was, sizeof was, "%s/%s", info.os[0] != '\0' ? info.os : "?",
             info.architecture[0] != '\0' ? info.architecture : "?");
    rc = dock_image_pull_logged(b, image, field, info.present ? platform : want->platform,
                                timeout_ms, want->cancel, err);
    if (rc != FCB_OK)
        return info.present ? dock_image_variant_failed(want, image, was, rc, err) : rc;
    if (want->arch == NULL)
        return FCB_OK;
    rc = dock_image_inspect(&b->engine, image, field, timeout_ms, want->cancel, &info, err);
    if (rc == FCB_OK && !info.present)
        rc = err_set(err, FCB_ERR_BACKEND, "%s '%.300s': not present after a successful pull",
                     field, image);
    if (rc == FCB_OK)
        rc = dock_arch_check_image(want->arch, image, info.os, info.architecture, " after the pull",
                                   err);
    return rc;
}

int dock_backend_prepull(fcb_backend *b, const char *image, fcb_error *err)
{
    if (b == NULL || image == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "prepull: image is required");
    int rc = dock_op_begin(b, err);
    if (rc != FCB_OK)
        return rc;
    char translated[RUNTIME_IMAGE_MAX];
    if (strlen(image) >= RUNTIME_IMAGE_MAX - 16) {
        rc = err_set(err, FCB_ERR_INVALID_ARGUMENT, "prepull: image reference too long");
    } else {
        runtime_translate_ecr(image, b->cfg.ecr_host, b->cfg.ecr_port, translated);
        dock_want any = {.arch = NULL};
        rc = dock_image_ensure(b, translated, "image", 0, &any, err);
    }
    inflight_leave(&b->ops);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* terminate / reap_stale                                                    */
/* ------------------------------------------------------------------------ */

bool dock_backend_handle_id(const char *handle, const char **id)
{
    size_t plen = sizeof DOCK_HANDLE_PREFIX - 1;
    if (handle == NULL || strncmp(handle, DOCK_HANDLE_PREFIX, plen) != 0)
        return false;
    const char *p = handle + plen;
    size_t n = strlen(p);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    *id = p;
    return true;
}

int dock_backend_terminate(fcb_backend *b, const char *handle, fcb_error *err)
{
    const char *id = NULL;
    if (b == NULL || !dock_backend_handle_id(handle, &id))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "handle: '%.200s' is not a docker handle (container/<id>)",
                       handle != NULL ? handle : "(null)");
    int rc = dock_op_begin(b, err);
    if (rc != FCB_OK)
        return rc;
    /* Only containers carrying our managed-by label; removed by the id inspect answered. */
    bool gone = false;
    char full_id[DOCK_ID_MAX];
    rc = dock_container_owned(&b->engine, id, &gone, full_id, err);
    if (rc == FCB_OK && !gone) {
        rc = dock_container_remove(&b->engine, full_id, true, err);
        if (rc == FCB_OK) {
            atomic_fetch_add(&b->stats.terminations, 1);
            svc_log(b->host, FCB_LOG_INFO, DOCK_PLUGIN_NAME, "container removed", "handle", handle,
                    NULL);
        }
    }
    inflight_leave(&b->ops);
    return rc;
}

/*
 * reap_stale (docs/leases.md, "The reap rule"): list our managed containers,
 * then the lease volumes (objects before leases), let lease_decide name the
 * dead instances, and remove their lease volumes, then their containers.
 */
#define DOCK_REAP_INSTANCES_MAX 256
#define DOCK_REAP_VOLUMES_MAX   4096
#define DOCK_REAP_DEAD_MAX      64

/* One listed object (container or lease volume) and the instance it belongs to. */
typedef struct dock_reap_obj {
    char id[DOCK_ID_MAX];
    unsigned owner; /* index into dock_reap.names */
} dock_reap_obj;

typedef struct dock_reap_list {
    dock_reap_obj *v;
    size_t n, cap;
} dock_reap_list;

typedef struct dock_reap {
    fcb_backend *b;
    char names[DOCK_REAP_INSTANCES_MAX][LEASE_ID_MAX]; /* instance ids seen */
    unsigned n_names;
    lease_instance inst[DOCK_REAP_INSTANCES_MAX]; /* instances with containers */
    size_t n_inst;
    dock_reap_list containers, volumes, codevols;
    /* per name: its newest lease volume */
    unsigned long long seq[DOCK_REAP_INSTANCES_MAX];
    lease_record rec[DOCK_REAP_INSTANCES_MAX];
    char version[DOCK_REAP_INSTANCES_MAX][DOCK_NAME_MAX];
    bool has_lease[DOCK_REAP_INSTANCES_MAX];
    fcb_error *err;
} dock_reap;

/* Index of instance NAME (added when new); -1 when the table is full or NAME unusable. */
static int dock_reap_name(dock_reap *r, const char *name)
{
    if (name == NULL || name[0] == '\0' || strlen(name) >= LEASE_ID_MAX)
        return -1;
    for (unsigned i = 0; i < r->n_names; i++)
        if (strcmp(r->names[i], name) == 0)
            return (int)i;
    if (r->n_names == DOCK_REAP_INSTANCES_MAX)
        return -1;
    snprintf(r->names[r->n_names], LEASE_ID_MAX, "%s", name);
    return (int)r->n_names++;
}

static int dock_reap_push(dock_reap *r, dock_reap_list *list, const char *id, unsigned owner)
{
    if (list->n == list->cap) {
        size_t cap = list->cap != 0 ? list->cap * 2 : 64;
        dock_reap_obj *v = svc_realloc(r->b->host, list->v, cap * sizeof *v);
        if (v == NULL)
            return err_set(r->err, FCB_ERR_NO_MEMORY, "reap_stale: out of memory");
        list->v = v;
        list->cap = cap;
    }
    snprintf(list->v[list->n].id, DOCK_ID_MAX, "%s", id);
    list->v[list->n++].owner = owner;
    return FCB_OK;
}

/* One managed container of another instance: summarise it (Created rounded up: never older). */
static int dock_reap_container(void *ctx, const char *id, const char *instance, int64_t created_s)
{
    dock_reap *r = ctx;
    if (strcmp(instance, r->b->instance_id) == 0)
        return FCB_OK;
    int owner = dock_reap_name(r, instance);
    if (owner < 0) /* no instance label (never ours to judge) or too many instances this round */
        return FCB_OK;
    int64_t created_us =
        created_s == DOCK_CREATED_UNKNOWN ? LEASE_TIME_NONE : (created_s + 1) * 1000000 - 1;
    if (!lease_instances_add(r->inst, &r->n_inst, DOCK_REAP_INSTANCES_MAX, r->names[owner],
                             created_us))
        return FCB_OK;
    return dock_reap_push(r, &r->containers, id, (unsigned)owner);
}

/* One lease volume: remember it, and keep the newest per instance as its lease record. */
static int dock_reap_volume(void *ctx, const dock_volume_info *v)
{
    dock_reap *r = ctx;
    const char *owner = dock_volume_label(v, LABEL_MANAGED_BY);
    const char *seq_text = dock_volume_label(v, DOCK_LEASE_SEQ_LABEL);
    const char *secs = dock_volume_label(v, DOCK_LEASE_SECONDS);
    int who = dock_reap_name(r, dock_volume_label(v, DOCK_LEASE_LABEL));
    if (owner == NULL || strcmp(owner, LABEL_MANAGED_BY_VALUE) != 0 || who < 0 ||
        r->volumes.n >= DOCK_REAP_VOLUMES_MAX || strlen(v->name) >= DOCK_NAME_MAX)
        return FCB_OK;
    int rc = dock_reap_push(r, &r->volumes, v->name, (unsigned)who);
    unsigned long long seq = seq_text != NULL ? strtoull(seq_text, NULL, 10) : 0;
    if (rc != FCB_OK || (r->has_lease[who] && seq <= r->seq[who]))
        return rc;
    fcb_error e2 = FCB_ERROR_INIT;
    int64_t created = LEASE_TIME_NONE;
    if (lease_timestamp_parse("CreatedAt", v->created_at, &created, &e2) != FCB_OK)
        created = LEASE_TIME_NONE;
    long d = secs != NULL ? strtol(secs, NULL, 10) : 0;
    r->has_lease[who] = true;
    r->seq[who] = seq;
    snprintf(r->version[who], DOCK_NAME_MAX, "%s", v->name);
    r->rec[who] = (lease_record){.instance = r->names[who],
                                 .holder = r->names[who],
                                 .version = r->version[who],
                                 .renew_us = created,
                                 .acquire_us = LEASE_TIME_NONE,
                                 .created_us = created,
                                 .duration_s = d > 0 && d <= LEASE_SECONDS_MAX ? (int32_t)d : 0};
    return FCB_OK;
}

/* One code volume (dock_codevol.h) of another instance: reaped with its containers. */
static int dock_reap_codevol(void *ctx, const dock_volume_info *v)
{
    dock_reap *r = ctx;
    const char *owner = dock_volume_label(v, LABEL_MANAGED_BY);
    const char *instance = dock_volume_label(v, LABEL_INSTANCE);
    if (owner == NULL || strcmp(owner, LABEL_MANAGED_BY_VALUE) != 0 || instance == NULL ||
        strcmp(instance, r->b->instance_id) == 0 || strlen(v->name) >= DOCK_NAME_MAX ||
        r->codevols.n >= DOCK_REAP_VOLUMES_MAX)
        return FCB_OK;
    int who = dock_reap_name(r, instance);
    if (who < 0)
        return FCB_OK;
    fcb_error e2 = FCB_ERROR_INIT;
    int64_t created = LEASE_TIME_NONE;
    if (lease_timestamp_parse("CreatedAt", v->created_at, &created, &e2) != FCB_OK)
        created = LEASE_TIME_NONE;
    if (!lease_instances_add(r->inst, &r->n_inst, DOCK_REAP_INSTANCES_MAX, r->names[who], created))
        return FCB_OK;
    return dock_reap_push(r, &r->codevols, v->name, (unsigned)who);
}

/* Delete the volumes of LIST that belong to instance OWNER. */
static int dock_reap_volumes_of(dock_reap *r, const dock_reap_list *list, unsigned owner)
{
    for (size_t i = 0; i < list->n; i++) {
        if (list->v[i].owner != owner)
            continue;
        int rc = dock_volume_delete(&r->b->engine, list->v[i].id, 0, true, r->err);
        if (rc != FCB_OK)
            return rc;
    }
    return FCB_OK;
}

/* Remove the lease volumes, then the containers, then the code volumes of instance OWNER. */
static int dock_reap_instance(dock_reap *r, unsigned owner, size_t *count)
{
    fcb_backend *b = r->b;
    int rc = dock_reap_volumes_of(r, &r->volumes, owner);
    for (size_t i = 0; rc == FCB_OK && i < r->containers.n; i++) {
        if (r->containers.v[i].owner != owner)
            continue;
        rc = dock_container_remove(&b->engine, r->containers.v[i].id, true, r->err);
        if (rc == FCB_OK)
            (*count)++;
    }
    return rc == FCB_OK ? dock_reap_volumes_of(r, &r->codevols, owner) : rc;
}

/* Decide (under reap_mu: the observer is shared across calls) and remove the dead. */
static int dock_reap_decide(dock_reap *r, int64_t date_us, size_t *count)
{
    fcb_backend *b = r->b;
    lease_record leases[DOCK_REAP_INSTANCES_MAX];
    size_t n_leases = 0;
    for (unsigned i = 0; i < r->n_names; i++)
        if (r->has_lease[i])
            leases[n_leases++] = r->rec[i];
    lease_clock now = lease_clock_now();
    if (date_us != LEASE_TIME_NONE)
        now.wall_us = date_us;
    lease_verdict dead[DOCK_REAP_DEAD_MAX];
    size_t n_dead = lease_decide(&b->observer, b->instance_id, leases, n_leases, r->inst, r->n_inst,
                                 b->cfg.lease_seconds, now, dead, DOCK_REAP_DEAD_MAX);
    for (size_t i = 0; i < n_dead; i++) {
        int owner = dock_reap_name(r, dead[i].instance);
        if (owner < 0)
            continue;
        svc_log(b->host, FCB_LOG_INFO, DOCK_PLUGIN_NAME, "reaping a dead backend instance",
                "instance", dead[i].instance, "lease", lease_state_name(dead[i].state), NULL);
        int rc = dock_reap_instance(r, (unsigned)owner, count);
        if (rc != FCB_OK)
            return rc;
    }
    return FCB_OK;
}

static int dock_reap_run(dock_reap *r, size_t *count)
{
    fcb_backend *b = r->b;
    int rc = dock_container_list_managed(&b->engine, DOCK_REAP_MAX, dock_reap_container, r, r->err);
    int64_t date_us = LEASE_TIME_NONE;
    if (rc == FCB_OK)
        rc = dock_volume_list(&b->engine, DOCK_LEASE_LABEL, DOCK_REAP_VOLUMES_MAX, dock_reap_volume,
                              r, &date_us, 0, true, r->err);
    if (rc == FCB_OK)
        rc = dock_volume_list(&b->engine, DOCK_CODE_LABEL, DOCK_REAP_VOLUMES_MAX, dock_reap_codevol,
                              r, NULL, 0, true, r->err);
    if (rc != FCB_OK)
        return rc;
    pthread_mutex_lock(&b->reap_mu);
    rc = dock_reap_decide(r, date_us, count);
    pthread_mutex_unlock(&b->reap_mu);
    return rc;
}

int dock_backend_reap_stale(fcb_backend *b, size_t *reaped, fcb_error *err)
{
    if (reaped != NULL)
        *reaped = 0;
    if (b == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "reap_stale: backend is NULL");
    int rc = dock_op_begin(b, err);
    if (rc != FCB_OK)
        return rc;
    size_t count = 0;
    dock_reap *r = svc_calloc(b->host, 1, sizeof *r);
    if (r == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "reap_stale: out of memory");
    } else {
        r->b = b;
        r->err = err;
        rc = dock_reap_run(r, &count);
        svc_free(b->host, r->containers.v);
        svc_free(b->host, r->volumes.v);
        svc_free(b->host, r->codevols.v);
        svc_free(b->host, r);
    }
    if (count > 0) {
        char num[32];
        snprintf(num, sizeof num, "%zu", count);
        svc_log(b->host, FCB_LOG_INFO, DOCK_PLUGIN_NAME, "reaped stale containers", "count", num,
                NULL);
    }
    if (reaped != NULL)
        *reaped = count;
    inflight_leave(&b->ops);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* launch                                                                    */
/* ------------------------------------------------------------------------ */

/* One launch in progress: what it has resolved and created so far. */
typedef struct dock_launch {
    fcb_backend *b;
    const fcb_launch_request *req;
    const fcb_function *fn;
    uint64_t t0;       /* clockx ms at the start */
    uint64_t deadline; /* t0 + deadline_ms; unused when deadline_ms is 0 */
    char image[RUNTIME_IMAGE_MAX];
    char *tar; /* code and layers, NULL when there is nothing to copy */
    size_t tar_len;
    char *body; /* POST /containers/create body */
    char name[DOCK_NAME_MAX];
    char id[DOCK_ID_MAX]; /* set once the container exists */
    unsigned port;        /* published RIE port once ready */
    dock_fail_reason reason; /* stats: the step that failed */
    uint64_t t_started;
    const fcb_cancel *cancel;         /* the request's token, NULL when the host gave none */
    const char *arch;                 /* Go name of the function's architecture */
    bool foreign;                     /* not the engine's own architecture */
    char platform[DOCK_PLATFORM_MAX]; /* "linux/<arch>" */
    fcb_credentials creds;            /* the request's, read by size; valid when has_creds */
    bool has_creds;
    char log_stream_id[IDS_HEX_MAX];
    char *code_dir;     /* hot reload (request.code_dir, resolved); NULL = place the code */
    unsigned code_dirs; /* DOCK_CODE_* the tar fills; 0 = no code to place */
    uint64_t code_key;  /* dock_codevol_key */
    bool code_mount;    /* mount the deploy's code volumes instead of copying */
} dock_launch;

/* Whether the host fired the launch's cancel token. */
static bool dock_launch_token_fired(const dock_launch *l)
{
    return l->cancel != NULL && l->cancel->cancelled(l->cancel->ctx) != 0;
}

/* FCB_ERR_CANCELLED naming WHEN ("before the image pull") once the host fired the token. */
static int dock_launch_check_cancel(const dock_launch *l, const char *when, fcb_error *err)
{
    if (!dock_launch_token_fired(l))
        return FCB_OK;
    return err_set(err, FCB_ERR_CANCELLED, "launch of %s: cancelled by the host %s",
                   l->fn->function_name, when);
}

/*
 * The bound of the next step: what is left of the launch deadline, capped
 * by STEP_MS (the step's own bound; 0 = Engine default). FCB_ERR_TIMEOUT
 * naming STEP when the deadline already passed.
 */
static int dock_launch_budget(const dock_launch *l, uint32_t step_ms, const char *step,
                              uint32_t *timeout_ms, fcb_error *err)
{
    *timeout_ms = step_ms;
    if (l->req->deadline_ms == 0)
        return FCB_OK;
    uint32_t left = clockx_remaining_ms(l->deadline);
    if (left == 0)
        return err_set(err, FCB_ERR_TIMEOUT,
                       "launch of %s: the deadline of %u ms (deadline_ms) passed before %s",
                       l->fn->function_name, (unsigned)l->req->deadline_ms, step);
    uint32_t cap = step_ms != 0 ? step_ms : DOCK_CALL_DEFAULT_MS;
    *timeout_ms = left < cap ? left : cap;
    return FCB_OK;
}

/* A step failed with RC: say so when the launch deadline ran out or the host cancelled. */
static int dock_launch_step_failed(const dock_launch *l, int rc, const char *step, fcb_error *err)
{
    if (rc == FCB_ERR_TIMEOUT && l->req->deadline_ms != 0 && clockx_remaining_ms(l->deadline) == 0)
        err_prefix(err, "launch of %s: the deadline of %u ms (deadline_ms) passed during %s",
                   l->fn->function_name, (unsigned)l->req->deadline_ms, step);
    if (rc == FCB_ERR_CANCELLED && dock_launch_token_fired(l))
        err_set(err, FCB_ERR_CANCELLED, "launch of %s: cancelled by the host during %s",
                l->fn->function_name, step);
    return rc;
}

/* Tar of code (and layers) for a Zip function; l->tar NULL when nothing to copy. */
static int dock_launch_build_tar(dock_launch *l, fcb_error *err)
{
    const fcb_launch_request *req = l->req;
    const fcb_function *fn = l->fn;
    ziptar *t = NULL;
    ziptar_limits limits = ziptar_limits_default();
    limits.max_total_bytes = l->b->cfg.max_code_bytes;
    bool code = fn->package_type == FCB_PACKAGE_ZIP && l->code_dir == NULL;
    if (!code && req->n_layers == 0)
        return FCB_OK;
    if (req->n_layers > 0 && req->layers == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "Layers: %zu layers but no array",
                       req->n_layers);
    int rc = ziptar_new(l->b->host, &limits, &t, err);
    if (rc != FCB_OK)
        return rc;
    if (code) {
        rc = ziptar_add_zip(t, req->code.data, req->code.size, "var/task", "code", err);
        if (rc == FCB_OK && runtime_is_provided(fn->runtime))
            rc = ziptar_add_zip(t, req->code.data, req->code.size, "var/runtime", "code", err);
    }
    for (size_t i = 0; rc == FCB_OK && i < req->n_layers; i++) {
        char what[32];
        snprintf(what, sizeof what, "layer %zu", i + 1);
        rc = ziptar_add_zip(t, req->layers[i].data, req->layers[i].size, "opt", what, err);
    }
    if (rc == FCB_OK)
        rc = ziptar_finish(t, &l->tar, &l->tar_len, err);
    ziptar_free(t);
    return rc;
}

/*
 * Which directories the code fills and the deploy key; the tar is built
 * unless the deploy's code volumes are ready (docs/docker.md, "Code volumes").
 */
static int dock_launch_code_plan(dock_launch *l, fcb_error *err)
{
    const fcb_function *fn = l->fn;
    if (fn->package_type == FCB_PACKAGE_ZIP && l->code_dir == NULL) /* hot reload: bound */
        l->code_dirs = DOCK_CODE_TASK | (runtime_is_provided(fn->runtime) ? DOCK_CODE_RUNTIME : 0);
    if (l->req->n_layers > 0)
        l->code_dirs |= DOCK_CODE_OPT;
    /* Podman extracts an archive into the rootfs beneath a volume's mount point: copy there. */
    if (l->code_dirs != 0 && !l->b->engine.podman &&
        (l->req->n_layers == 0 || l->req->layers != NULL)) {
        l->code_key = dock_codevol_key(l->req->deploy_id, l->image, l->code_dirs, l->req);
        l->code_mount = dock_codevol_ready(&l->b->codevols, l->code_key);
    }
    return l->code_mount ? FCB_OK : dock_launch_build_tar(l, err);
}

/* The request's role credentials (since 1.1), read by their size; both keys required. */
static int dock_launch_credentials(dock_launch *l, fcb_error *err)
{
    if (l->req->credentials == NULL)
        return FCB_OK;
    int rc = ABI_STRUCT_READ(&l->creds, l->req->credentials, secret_access_key,
                             "launch: request.credentials", err);
    if (rc != FCB_OK)
        return rc;
    if (l->creds.access_key_id == NULL || l->creds.access_key_id[0] == '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "credentials.access_key_id: required");
    if (l->creds.secret_access_key == NULL || l->creds.secret_access_key[0] == '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "credentials.secret_access_key: required");
    l->has_creds = true;
    return FCB_OK;
}

/* The function's architecture, and whether the engine runs it natively. */
static int dock_launch_platform(dock_launch *l, fcb_error *err)
{
    int rc = dock_arch_of_function(l->fn->architecture, &l->arch, err);
    if (rc != FCB_OK)
        return rc;
    l->foreign = !dock_arch_same(l->arch, l->b->engine.arch);
    snprintf(l->platform, sizeof l->platform, "linux/%s", l->arch);
    return FCB_OK;
}

/* Everything that can be refused without the engine, checked before anything is created. */
static int dock_launch_prepare(dock_launch *l, fcb_error *err)
{
    fcb_backend *b = l->b;
    const fcb_function *fn = l->fn;
    if (fn->function_name == NULL || fn->function_name[0] == '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "FunctionName is required");
    if (l->req->deploy_id == NULL || l->req->deploy_id[0] == '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "deploy_id is required");
    int rc = dock_launch_platform(l, err);
    if (rc == FCB_OK)
        rc = dock_launch_credentials(l, err);
    if (rc == FCB_OK && l->req->code_dir != NULL) {
        const dock_address *a = &b->engine.address;
        bool remote = a->transport == DOCK_TCP && !dock_is_loopback(a->host);
        rc = dock_hotreload_check_launch(b->host, b->cfg.hot_reload_roots, fn, l->req->code_dir,
                                         remote ? a->host : NULL, &l->code_dir, err);
    }
    if (rc == FCB_OK)
        rc = runtime_function_image(fn, b->cfg.ecr_host, b->cfg.ecr_port, l->image, err);
    if (rc == FCB_OK)
        rc =
            ids_random_hex(l->log_stream_id, LAMBDA_ENV_INSTANCE_HEX / 2, "the log stream id", err);
    dock_limits limits;
    if (rc == FCB_OK)
        rc = dock_spec_limits(fn, &limits, err);
    if (rc == FCB_OK)
        rc = dock_launch_code_plan(l, err);
    if (rc != FCB_OK)
        return rc;
    dock_spec_input in = {.function = fn,
                          .image = l->image,
                          .instance_id = b->instance_id,
                          .host_alias = b->host_alias,
                          .host_gateway = b->host_gateway,
                          .network = b->cfg.network,
                          .publish_ip = b->publish_ip,
                          .log_stream_id = l->log_stream_id,
                          .now_unix_s = (int64_t)time(NULL),
                          .aws_endpoint_url = l->req->aws_endpoint_url,
                          .credentials = l->has_creds ? &l->creds : NULL,
                          .code_dir = l->code_dir};
    return dock_spec_create_body(b->host, &in, &l->body, err);
}

static int dock_launch_image(dock_launch *l, fcb_error *err)
{
    uint32_t timeout = 0;
    int rc = dock_launch_budget(l, 0, "the image pull", &timeout, err);
    if (rc != FCB_OK)
        return rc;
    const char *field = l->fn->package_type == FCB_PACKAGE_ZIP ? "runtime image" : "ImageUri";
    dock_want want = {
        .arch = l->arch, .platform = l->foreign ? l->platform : NULL, .cancel = l->cancel};
    rc = dock_image_ensure(l->b, l->image, field, timeout, &want, err);
    return dock_launch_step_failed(l, rc, "the image pull", err);
}

/* Create the container; when the outcome is unknown, remove it by name so nothing is left. */
static int dock_launch_create(dock_launch *l, fcb_error *err)
{
    char suffix[IDS_HEX_MAX];
    uint32_t timeout = 0;
    int rc = dock_launch_budget(l, 0, "the container create", &timeout, err);
    if (rc == FCB_OK)
        rc = ids_random_hex(suffix, 6, "the container name", err);
    if (rc != FCB_OK)
        return rc;
    dock_spec_container_name(l->fn->function_name, suffix, l->name);
    bool maybe_created = false;
    /* platform= on create needs API 1.41; older engines are covered by the check after it. */
    const char *platform =
        l->foreign && dock_spec_api_at_least(l->b->engine.api_version, 1, 41) ? l->platform : NULL;
    rc = dock_container_create(&l->b->engine, l->name, platform, l->body, timeout, l->id,
                               &maybe_created, err);
    if (rc != FCB_OK && maybe_created)
        dock_container_discard(l->b, l->name, l->name);
    if (rc != FCB_OK && platform != NULL)
        err_prefix(err, "Architectures: the function needs %s (%s)", dock_arch_lambda_name(l->arch),
                   l->platform);
    return dock_launch_step_failed(l, rc, "the container create", err);
}

/*
 * The image the engine created the container from is of the function's
 * platform: a tag can name another image than the one checked before the
 * create (retagged meanwhile, or an engine that ignores platform=).
 */
static int dock_launch_check_platform(dock_launch *l, fcb_error *err)
{
    dock_container_life life;
    dock_image_info info;
    int rc = dock_container_life_get(&l->b->engine, l->id, &life, err);
    if (rc == FCB_OK && life.image[0] == '\0')
        rc = err_set(err, FCB_ERR_BACKEND, "inspect container: no Image in the answer");
    if (rc == FCB_OK)
        rc = dock_image_inspect(&l->b->engine, life.image, "image", 0, l->cancel, &info, err);
    if (rc == FCB_OK && !info.present)
        rc = err_set(err, FCB_ERR_BACKEND, "image %.80s vanished", life.image);
    if (rc != FCB_OK)
        return err_prefix(err, "container %s: checking its platform", l->name);
    char what[DOCK_NAME_MAX + 128];
    snprintf(what, sizeof what,
             ": the engine created container %s from %.19s; refused before it started", l->name,
             life.image);
    return dock_arch_check_image(l->arch, l->image, info.os, info.architecture, what, err);
}

/* Fill the deploy's code volumes (ours to do: dock_codevol_acquire said FILL). */
static int dock_launch_code_fill(dock_launch *l, uint32_t timeout, fcb_error *err)
{
    const char *platform =
        l->foreign && dock_spec_api_at_least(l->b->engine.api_version, 1, 41) ? l->platform : NULL;
    dock_codevol_fill_in in = {.instance_id = l->b->instance_id,
                               .deploy_id = l->req->deploy_id,
                               .key = l->code_key,
                               .dirs = l->code_dirs,
                               .image = l->image,
                               .platform = platform,
                               .tar = l->tar,
                               .tar_len = l->tar_len,
                               .timeout_ms = timeout,
                               .cancel = l->cancel};
    int rc = dock_codevol_fill(&l->b->engine, &in, err);
    dock_codevol_done(&l->b->codevols, l->code_key, rc == FCB_OK);
    if (rc == FCB_OK) {
        atomic_fetch_add(&l->b->stats.code_uploads, 1);
        atomic_fetch_add(&l->b->stats.code_volume_fills, 1);
    }
    return rc;
}

/*
 * The deploy's code volumes, filled once (single flight) and mounted
 * read-only; the tar is then not copied. Beyond DOCK_CODEVOL_MAX deploys the
 * per-container copy stays (logged). A failed fill fails the launch.
 */
static int dock_launch_code_volume(dock_launch *l, fcb_error *err)
{
    fcb_backend *b = l->b;
    if (l->code_dirs == 0 || l->code_key == 0)
        return FCB_OK;
    uint32_t timeout = 0;
    int rc = FCB_OK;
    for (unsigned round = 0; !l->code_mount && rc == FCB_OK; round++) {
        rc = dock_launch_budget(l, DOCK_ARCHIVE_DEFAULT_MS, "the code volume", &timeout, err);
        if (rc == FCB_OK && inflight_closing(&b->ops))
            rc = err_set(err, FCB_ERR_CANCELLED, "launch of %s: backend closed",
                         l->fn->function_name);
        if (rc == FCB_OK && round >= DOCK_CODE_WAIT_ROUNDS)
            rc = err_set(err, FCB_ERR_TIMEOUT,
                         "launch of %s: the code volume of deploy %s was not filled within %u s",
                         l->fn->function_name, l->req->deploy_id, DOCK_CODE_WAIT_ROUNDS / 10);
        if (rc == FCB_OK)
            rc = dock_launch_check_cancel(l, "while the code volume was filled", err);
        if (rc != FCB_OK)
            break;
        dock_codevol_verdict v = dock_codevol_acquire(&b->codevols, l->code_key, l->code_dirs, 100);
        if (v == DOCK_CODEVOL_COPY) {
            svc_log(b->host, FCB_LOG_WARN, DOCK_PLUGIN_NAME,
                    "code volume table full; copying the code into the container", "deploy",
                    l->req->deploy_id, NULL);
            return FCB_OK;
        }
        if (v == DOCK_CODEVOL_FILL && (rc = dock_launch_code_fill(l, timeout, err)) != FCB_OK)
            return dock_launch_step_failed(l, rc, "the code volume fill", err);
        l->code_mount = v == DOCK_CODEVOL_FILL || v == DOCK_CODEVOL_MOUNT;
    }
    if (rc != FCB_OK)
        return rc;
    svc_free(b->host, l->tar);
    l->tar = NULL;
    return dock_codevol_mount(b->host, &l->body, b->instance_id, l->code_key, l->code_dirs, err);
}

static int dock_launch_copy_code(dock_launch *l, fcb_error *err)
{
    if (l->tar == NULL)
        return FCB_OK;
    uint32_t timeout = 0;
    int rc = dock_launch_budget(l, DOCK_ARCHIVE_DEFAULT_MS, "the code copy", &timeout, err);
    if (rc == FCB_OK)
        rc = dock_container_archive_put(&l->b->engine, l->id, l->tar, l->tar_len, timeout,
                                        l->cancel, err);
    if (rc != FCB_OK) {
        err_prefix(err, "container %s", l->name);
        return dock_launch_step_failed(l, rc, "the code copy", err);
    }
    atomic_fetch_add(&l->b->stats.code_uploads, 1);
    svc_free(l->b->host, l->tar);
    l->tar = NULL;
    return FCB_OK;
}

static int dock_launch_start(dock_launch *l, fcb_error *err)
{
    uint32_t timeout = 0;
    int rc = dock_launch_budget(l, 0, "the container start", &timeout, err);
    if (rc == FCB_OK)
        rc = dock_container_start(&l->b->engine, l->id, timeout, err);
    if (rc != FCB_OK) {
        err_prefix(err, "container %s", l->name);
        return dock_launch_step_failed(l, rc, "the container start", err);
    }
    l->t_started = clockx_now_ms();
    return FCB_OK;
}

/* The container stopped during start-up: its exit code, error and last log lines. */
static int dock_launch_exited(const dock_launch *l, const dock_container_state *st, fcb_error *err)
{
    char logs[DOCK_LOG_TAIL_BYTES + 64];
    dock_container_logs_tail(&l->b->engine, l->id, DOCK_LOG_TAIL_BYTES, logs, sizeof logs);
    return err_set(err, FCB_ERR_START_FAILED,
                   "container %s %s with exit code %ld during start-up%s%s; last log lines: %s",
                   l->name, st->status[0] != '\0' ? st->status : "stopped", st->exit_code,
                   st->error[0] != '\0' ? ": " : "", st->error, logs[0] != '\0' ? logs : "(none)");
}

static int dock_launch_not_ready(const dock_launch *l, const dock_container_state *st,
                                 uint32_t timeout_ms, fcb_error *err)
{
    char logs[DOCK_LOG_TAIL_BYTES + 64], port[16] = "(unpublished)";
    dock_container_logs_tail(&l->b->engine, l->id, DOCK_LOG_TAIL_BYTES, logs, sizeof logs);
    if (st->host_port != 0)
        snprintf(port, sizeof port, "%u", st->host_port);
    return err_set(err, FCB_ERR_TIMEOUT,
                   "container %s: runtime did not answer HTTP on port %s within %u ms (%s); "
                   "last log lines: %s",
                   l->name, port, (unsigned)timeout_ms,
                   l->req->deadline_ms != 0 ? "the launch's deadline_ms"
                                            : "FAKECLOUD_DOCKER_READY_TIMEOUT_MS",
                   logs[0] != '\0' ? logs : "(none)");
}

/* Inspect and probe until the RIE answers HTTP, the container stops, close() or the deadline. */
static int dock_launch_wait_ready(dock_launch *l, fcb_error *err)
{
    fcb_backend *b = l->b;
    uint32_t budget = l->req->deadline_ms != 0 ? l->req->deadline_ms : b->cfg.ready_timeout_ms;
    uint64_t deadline = l->req->deadline_ms != 0 ? l->deadline : clockx_after_ms(budget);
    uint32_t delay = DOCK_READY_FAST_MS;
    dock_container_state st;
    /* With a cancel token, a silent peer must not hold a probe past the ~0.5 s promise. */
    uint32_t cap = l->cancel != NULL ? DOCK_PROBE_CANCEL_MS : PROBE_MAX_ATTEMPT_MS;
    for (unsigned attempt = 0; attempt < DOCK_READY_MAX_ATTEMPTS; attempt++) {
        if (inflight_closing(&b->ops))
            break;
        int rc = dock_launch_check_cancel(l, "during the readiness wait", err);
        if (rc == FCB_OK)
            rc = dock_container_inspect(&b->engine, l->id, &st, err);
        if (rc != FCB_OK)
            return rc == FCB_ERR_CANCELLED ? rc : err_prefix(err, "container %s", l->name);
        if (!st.running && strcmp(st.status, "created") != 0)
            return dock_launch_exited(l, &st, err);
        uint32_t left = clockx_remaining_ms(deadline);
        if (st.running && st.host_port != 0 &&
            probe_once(b->endpoint_host, st.host_port, PROBE_HTTP, left < cap ? left : cap)) {
            l->port = st.host_port;
            return FCB_OK;
        }
        left = clockx_remaining_ms(deadline);
        if (left == 0)
            return dock_launch_not_ready(l, &st, budget, err);
        rc = dock_launch_check_cancel(l, "during the readiness wait", err);
        if (rc != FCB_OK)
            return rc;
        if (!inflight_sleep_ms(&b->ops, delay < left ? delay : left))
            break;
        /* A runtime listens a few ms after its start: probe every DOCK_READY_FAST_MS
         * for the first attempts (the cold start's last step), then back off. */
        delay = attempt + 1 < DOCK_READY_FAST_ATTEMPTS ? DOCK_READY_FAST_MS
                                                       : probe_next_delay(delay);
    }
    if (inflight_closing(&b->ops))
        return err_set(err, FCB_ERR_CANCELLED, "container %s: backend closed during start-up",
                       l->name);
    return err_set(err, FCB_ERR_TIMEOUT, "container %s: readiness probe gave up", l->name);
}

static void dock_launch_publish(const dock_launch *l, fcb_instance *out)
{
    snprintf(out->endpoint, sizeof out->endpoint, "%s:%u", l->b->endpoint_host, l->port);
    snprintf(out->handle, sizeof out->handle, DOCK_HANDLE_PREFIX "%s", l->id);
    char ms[32], start_ms[32];
    snprintf(ms, sizeof ms, "%llu", (unsigned long long)(clockx_now_ms() - l->t0));
    snprintf(start_ms, sizeof start_ms, "%llu", (unsigned long long)(l->t_started - l->t0));
    svc_log(l->b->host, FCB_LOG_INFO, DOCK_PLUGIN_NAME, "container ready", "function",
            l->fn->function_name, "container", l->name, "endpoint", out->endpoint, "ms", ms,
            "until_started_ms", start_ms, NULL);
}

/*
 * Run STEP (named NAME in messages) as launch phase PHASE: its time goes to
 * stats, its failure to REASON; the host's cancel token is checked before
 * and after it (the create itself is not cancellable).
 */
static int dock_launch_phase(dock_launch *l, int (*step)(dock_launch *, fcb_error *),
                             dock_phase phase, dock_fail_reason reason, const char *name,
                             fcb_error *err)
{
    char when[64];
    snprintf(when, sizeof when, "before %s", name);
    int rc = dock_launch_check_cancel(l, when, err);
    if (rc == FCB_OK) {
        uint64_t t0 = clockx_now_ms();
        rc = step(l, err);
        dock_stats_phase(&l->b->stats, phase, clockx_now_ms() - t0);
    }
    snprintf(when, sizeof when, "during %s", name);
    if (rc == FCB_OK)
        rc = dock_launch_check_cancel(l, when, err);
    if (rc != FCB_OK)
        l->reason = reason;
    return rc;
}

/*
 * Create, check the platform of the image it was created from, copy the
 * code, start; on Podman one launch at a time (see publish_mu).
 */
static int dock_launch_create_to_start(dock_launch *l, fcb_error *err)
{
    bool serial = l->b->engine.podman;
    if (serial)
        pthread_mutex_lock(&l->b->publish_mu);
    int rc = dock_launch_phase(l, dock_launch_create, DOCK_PHASE_CREATE, DOCK_FAIL_CREATE,
                               "the container create", err);
    if (rc == FCB_OK && (rc = dock_launch_check_platform(l, err)) != FCB_OK)
        l->reason = DOCK_FAIL_IMAGE;
    if (rc == FCB_OK)
        rc = dock_launch_phase(l, dock_launch_copy_code, DOCK_PHASE_COPY, DOCK_FAIL_COPY,
                               "the code copy", err);
    if (rc == FCB_OK)
        rc = dock_launch_phase(l, dock_launch_start, DOCK_PHASE_START, DOCK_FAIL_START,
                               "the container start", err);
    if (serial)
        pthread_mutex_unlock(&l->b->publish_mu);
    return rc;
}

/* The lifecycle: check, image, create, check its platform, copy code, start, wait until ready. */
static int dock_launch_run(dock_launch *l, fcb_instance *out, fcb_error *err)
{
    l->reason = DOCK_FAIL_INVALID;
    int rc = dock_launch_prepare(l, err);
    if (rc == FCB_OK)
        rc = dock_launch_phase(l, dock_launch_image, DOCK_PHASE_PULL, DOCK_FAIL_IMAGE,
                               "the image pull", err);
    if (rc == FCB_OK) /* a live lease before the container exists (docs/leases.md) */
        rc = dock_lease_ensure(&l->b->lease, err);
    if (rc == FCB_OK) /* outside publish_mu: a fill must not serialise Podman launches */
        rc = dock_launch_phase(l, dock_launch_code_volume, DOCK_PHASE_COPY, DOCK_FAIL_COPY,
                               "the code volume", err);
    if (rc != FCB_OK)
        return rc;
    rc = dock_launch_create_to_start(l, err);
    if (rc != FCB_OK && l->id[0] == '\0')
        return rc; /* nothing of ours exists (a create of unknown outcome was discarded) */
    if (rc == FCB_OK)
        rc = dock_launch_phase(l, dock_launch_wait_ready, DOCK_PHASE_READY, DOCK_FAIL_READY,
                               "the readiness wait", err);
    if (rc != FCB_OK) {
        dock_container_discard(l->b, l->id, l->name);
        return rc;
    }
    dock_launch_publish(l, out);
    return FCB_OK;
}

int dock_backend_launch(fcb_backend *b, const fcb_launch_request *request, fcb_instance *out,
                        fcb_error *err)
{
    fcb_launch_request req;
    fcb_function fn;
    if (b == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "launch: backend is required");
    int rc = ABI_STRUCT_READ(&req, request, deploy_id, "launch: request", err);
    if (rc == FCB_OK)
        rc = ABI_STRUCT_READ(&fn, req.function, package_type, "launch: request.function", err);
    if (rc == FCB_OK)
        rc = ABI_STRUCT_CHECK_OUT(out, handle, "launch: out", err);
    if (rc == FCB_OK)
        rc = dock_op_begin(b, err);
    if (rc != FCB_OK)
        return rc;
    dock_launch l = {.b = b,
                     .req = &req,
                     .fn = &fn,
                     .t0 = clockx_now_ms(),
                     .cancel = req.cancel.cancelled != NULL ? &req.cancel : NULL};
    l.deadline = l.t0 + req.deadline_ms;
    rc = dock_launch_run(&l, out, err);
    if (rc != FCB_OK && inflight_closing(&b->ops) && rc != FCB_ERR_INVALID_ARGUMENT)
        err->code = FCB_ERR_CANCELLED, rc = FCB_ERR_CANCELLED;
    if (rc == FCB_OK)
        atomic_fetch_add(&b->stats.launches, 1);
    else
        atomic_fetch_add(
            &b->stats.failures[rc == FCB_ERR_CANCELLED ? DOCK_FAIL_CANCELLED : l.reason], 1);
    svc_free(b->host, l.tar);
    svc_free(b->host, l.body);
    svc_free(b->host, l.code_dir);
    inflight_leave(&b->ops);
    return rc;
}
