/*
 * dock_codevol: the ready set, the fill through a helper container, the
 * read-only mounts of a deploy's code volumes.
 */
#include "dock_codevol.h"

#include "dock_containers.h"
#include "dock_volumes.h"
#include "ids.h"
#include "labels.h"
#include "svc.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define DOCK_PLUGIN_NAME "docker"
#define DOCK_CODE_DIRS_N 3

static const struct {
    unsigned bit;
    const char *suffix; /* of the volume name */
    const char *target; /* mount point in the container */
} dock_code_dirs[DOCK_CODE_DIRS_N] = {{DOCK_CODE_TASK, "task", "/var/task"},
                                      {DOCK_CODE_RUNTIME, "runtime", "/var/runtime"},
                                      {DOCK_CODE_OPT, "opt", "/opt"}};

int dock_codevols_init(dock_codevols *c, fcb_error *err)
{
    memset(c, 0, sizeof *c);
    if (pthread_mutex_init(&c->mu, NULL) != 0)
        return err_set(err, FCB_ERR_INTERNAL,
                       "docker backend: cannot create the code volume mutex");
    if (pthread_cond_init(&c->cv, NULL) != 0) {
        pthread_mutex_destroy(&c->mu);
        return err_set(err, FCB_ERR_INTERNAL, "docker backend: cannot create the code volume cv");
    }
    c->ok = true;
    return FCB_OK;
}

void dock_codevols_destroy(dock_codevols *c)
{
    if (!c->ok)
        return;
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    c->ok = false;
}

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* A length-prefixed part, so that no two different inputs concatenate alike. */
static uint64_t fnv_part(uint64_t h, const void *data, size_t n)
{
    uint64_t len = n;
    h = fnv(h, &len, sizeof len);
    return data != NULL ? fnv(h, data, n) : h;
}

uint64_t dock_codevol_key(const char *deploy_id, const char *image, unsigned dirs,
                          const fcb_launch_request *req)
{
    uint64_t h = 14695981039346656037ull;
    h = fnv_part(h, deploy_id, strlen(deploy_id));
    h = fnv_part(h, image, strlen(image));
    h = fnv_part(h, &dirs, sizeof dirs);
    if (dirs & (DOCK_CODE_TASK | DOCK_CODE_RUNTIME))
        h = fnv_part(h, req->code.data, req->code.size);
    for (size_t i = 0; req->layers != NULL && i < req->n_layers; i++)
        h = fnv_part(h, req->layers[i].data, req->layers[i].size);
    return h;
}

/* The entry of KEY or NULL; under mu. */
static dock_codevol_entry *dock_codevol_find(dock_codevols *c, uint64_t key)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].key == key)
            return &c->e[i];
    return NULL;
}

bool dock_codevol_ready(dock_codevols *c, uint64_t key)
{
    pthread_mutex_lock(&c->mu);
    dock_codevol_entry *e = dock_codevol_find(c, key);
    bool ready = e != NULL && e->state == DOCK_CODEVOL_READY;
    pthread_mutex_unlock(&c->mu);
    return ready;
}

static void dock_codevol_wait(dock_codevols *c, uint32_t wait_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += wait_ms / 1000;
    ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&c->cv, &c->mu, &ts);
}

dock_codevol_verdict dock_codevol_acquire(dock_codevols *c, uint64_t key, unsigned dirs,
                                          uint32_t wait_ms)
{
    pthread_mutex_lock(&c->mu);
    dock_codevol_entry *e = dock_codevol_find(c, key);
    if (e != NULL && e->state == DOCK_CODEVOL_FILLING) {
        dock_codevol_wait(c, wait_ms);
        e = dock_codevol_find(c, key);
    }
    dock_codevol_verdict v;
    if (e == NULL && c->n == DOCK_CODEVOL_MAX) {
        v = DOCK_CODEVOL_COPY;
    } else if (e == NULL || e->state == DOCK_CODEVOL_FREE) {
        if (e == NULL) {
            e = &c->e[c->n++];
            *e = (dock_codevol_entry){.key = key, .dirs = dirs};
        }
        e->state = DOCK_CODEVOL_FILLING;
        e->created = true;
        v = DOCK_CODEVOL_FILL;
    } else {
        v = e->state == DOCK_CODEVOL_READY ? DOCK_CODEVOL_MOUNT : DOCK_CODEVOL_WAIT;
    }
    pthread_mutex_unlock(&c->mu);
    return v;
}

void dock_codevol_done(dock_codevols *c, uint64_t key, bool ok)
{
    pthread_mutex_lock(&c->mu);
    dock_codevol_entry *e = dock_codevol_find(c, key);
    if (e != NULL)
        e->state = ok ? DOCK_CODEVOL_READY : DOCK_CODEVOL_FREE;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* The volume name of KEY's directory I. */
static void dock_codevol_name(const char *instance_id, uint64_t key, int i, char out[DOCK_NAME_MAX])
{
    snprintf(out, DOCK_NAME_MAX, DOCK_CODE_PREFIX "%s-%016llx-%s", instance_id,
             (unsigned long long)key, dock_code_dirs[i].suffix);
}

/* Delete KEY's volumes (DIRS), best effort; the first error in ERR when not NULL. */
static int dock_codevol_delete(dock_engine *engine, const char *instance_id, uint64_t key,
                               unsigned dirs, fcb_error *err)
{
    int first = FCB_OK;
    for (int i = 0; i < DOCK_CODE_DIRS_N; i++) {
        if (!(dirs & dock_code_dirs[i].bit))
            continue;
        char name[DOCK_NAME_MAX];
        fcb_error e2 = FCB_ERROR_INIT;
        dock_codevol_name(instance_id, key, i, name);
        int rc = dock_volume_delete(engine, name, 0, false, &e2);
        if (rc != FCB_OK && first == FCB_OK) {
            first = rc;
            if (err != NULL)
                *err = e2;
        }
    }
    return first;
}

/* A fresh, empty volume per directory: leftovers of a failed fill are deleted first. */
static int dock_codevol_create(dock_engine *engine, const dock_codevol_fill_in *in, fcb_error *err)
{
    int rc = dock_codevol_delete(engine, in->instance_id, in->key, in->dirs, err);
    dock_label labels[] = {{LABEL_MANAGED_BY, LABEL_MANAGED_BY_VALUE},
                           {LABEL_INSTANCE, in->instance_id},
                           {DOCK_CODE_LABEL, in->deploy_id}};
    for (int i = 0; rc == FCB_OK && i < DOCK_CODE_DIRS_N; i++) {
        if (!(in->dirs & dock_code_dirs[i].bit))
            continue;
        char name[DOCK_NAME_MAX];
        dock_codevol_name(in->instance_id, in->key, i, name);
        rc = dock_volume_create(engine, name, labels, sizeof labels / sizeof labels[0],
                                in->timeout_ms, true, err);
    }
    return rc;
}

/* {"Type":"volume","Source":...,"Target":...,"ReadOnly":RO} appended to MOUNTS. */
static bool dock_codevol_add_mounts(json_object *mounts, const char *instance_id, uint64_t key,
                                    unsigned dirs, bool ro)
{
    bool ok = true;
    for (int i = 0; ok && i < DOCK_CODE_DIRS_N; i++) {
        if (!(dirs & dock_code_dirs[i].bit))
            continue;
        char name[DOCK_NAME_MAX];
        dock_codevol_name(instance_id, key, i, name);
        json_object *m = json_object_new_object();
        ok = m != NULL && json_object_array_add(mounts, m) == 0;
        if (!ok) {
            json_object_put(m);
            break;
        }
        ok = json_object_object_add(m, "Type", json_object_new_string("volume")) == 0 &&
             json_object_object_add(m, "Source", json_object_new_string(name)) == 0 &&
             json_object_object_add(m, "Target",
                                    json_object_new_string(dock_code_dirs[i].target)) == 0 &&
             json_object_object_add(m, "ReadOnly", json_object_new_boolean(ro)) == 0;
    }
    return ok;
}

/* HostConfig.Mounts of ROOT, created when absent; NULL when out of memory or not an object. */
static json_object *dock_codevol_mounts_of(json_object *root)
{
    json_object *hc = NULL, *mounts = NULL;
    if (!json_object_object_get_ex(root, "HostConfig", &hc)) {
        hc = json_object_new_object();
        if (hc == NULL || json_object_object_add(root, "HostConfig", hc) != 0) {
            json_object_put(hc);
            return NULL;
        }
    }
    if (!json_object_is_type(hc, json_type_object))
        return NULL;
    if (json_object_object_get_ex(hc, "Mounts", &mounts))
        return json_object_is_type(mounts, json_type_array) ? mounts : NULL;
    mounts = json_object_new_array();
    if (mounts == NULL || json_object_object_add(hc, "Mounts", mounts) != 0) {
        json_object_put(mounts);
        return NULL;
    }
    return mounts;
}

int dock_codevol_mount(const fcb_host_services *host, char **body, const char *instance_id,
                       uint64_t key, unsigned dirs, fcb_error *err)
{
    json_object *root = json_tokener_parse(*body);
    json_object *mounts = root != NULL ? dock_codevol_mounts_of(root) : NULL;
    char *out = NULL;
    if (mounts != NULL && dock_codevol_add_mounts(mounts, instance_id, key, dirs, true))
        out = svc_strdup(host, json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
    json_object_put(root);
    if (out == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "docker: out of memory (code volume mounts)");
    svc_free(host, *body);
    *body = out;
    return FCB_OK;
}

/* The helper's create body: the runtime image, never started, the volumes mounted read-write. */
static char *dock_codevol_helper_body(const fcb_host_services *host, const dock_codevol_fill_in *in)
{
    json_object *root = json_object_new_object(), *labels = json_object_new_object();
    json_object *cmd = json_object_new_array();
    char *out = NULL;
    bool ok = root != NULL && labels != NULL && cmd != NULL &&
              json_object_array_add(cmd, json_object_new_string("fakecloud-code-fill")) == 0 &&
              json_object_object_add(labels, LABEL_MANAGED_BY,
                                     json_object_new_string(LABEL_MANAGED_BY_VALUE)) == 0 &&
              json_object_object_add(labels, LABEL_INSTANCE,
                                     json_object_new_string(in->instance_id)) == 0 &&
              json_object_object_add(root, "Image", json_object_new_string(in->image)) == 0;
    ok = ok && json_object_object_add(root, "Cmd", cmd) == 0;
    if (ok)
        cmd = NULL;
    ok = ok && json_object_object_add(root, "Labels", labels) == 0;
    if (ok)
        labels = NULL;
    json_object *mounts = ok ? dock_codevol_mounts_of(root) : NULL;
    if (mounts != NULL &&
        dock_codevol_add_mounts(mounts, in->instance_id, in->key, in->dirs, false))
        out = svc_strdup(host, json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
    json_object_put(cmd);
    json_object_put(labels);
    json_object_put(root);
    return out;
}

/* Create the helper, PUT the tar into it, remove it (also after a failure). */
static int dock_codevol_upload(dock_engine *engine, const dock_codevol_fill_in *in, fcb_error *err)
{
    char suffix[IDS_HEX_MAX], name[DOCK_NAME_MAX], id[DOCK_ID_MAX] = "";
    int rc = ids_random_hex(suffix, 6, "the code fill container name", err);
    if (rc != FCB_OK)
        return rc;
    snprintf(name, sizeof name, "fakecloud-codefill-%016llx-%s", (unsigned long long)in->key,
             suffix);
    char *body = dock_codevol_helper_body(engine->host, in);
    if (body == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "docker: out of memory (code fill container)");
    bool maybe = false;
    rc = dock_container_create(engine, name, in->platform, body, in->timeout_ms, id, &maybe, err);
    svc_free(engine->host, body);
    if (rc == FCB_OK)
        rc = dock_container_archive_put(engine, id, in->tar, in->tar_len, in->timeout_ms,
                                        in->cancel, err);
    if (rc == FCB_OK || maybe || id[0] != '\0') {
        fcb_error e2 = FCB_ERROR_INIT;
        int rm = dock_container_remove(engine, id[0] != '\0' ? id : name, false, &e2);
        if (rm != FCB_OK && rc == FCB_OK) {
            *err = e2;
            rc = rm;
        }
    }
    return rc;
}

int dock_codevol_fill(dock_engine *engine, const dock_codevol_fill_in *in, fcb_error *err)
{
    int rc = dock_codevol_create(engine, in, err);
    if (rc == FCB_OK)
        rc = dock_codevol_upload(engine, in, err);
    if (rc != FCB_OK) {
        dock_codevol_delete(engine, in->instance_id, in->key, in->dirs, NULL);
        err_prefix(err, "code volume of deploy %s", in->deploy_id);
    }
    return rc;
}

void dock_codevols_remove_all(dock_codevols *c, dock_engine *engine, const char *instance_id)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->n;
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < n; i++) { /* after inflight_close: nobody adds entries any more */
        if (!c->e[i].created)
            continue;
        fcb_error e2 = FCB_ERROR_INIT;
        if (dock_codevol_delete(engine, instance_id, c->e[i].key, c->e[i].dirs, &e2) != FCB_OK)
            svc_log(engine->host, FCB_LOG_WARN, DOCK_PLUGIN_NAME,
                    "could not remove a code volume at close (reap_stale removes it later)",
                    "error", e2.message, NULL);
    }
}
