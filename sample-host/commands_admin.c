/*
 * commands_admin: the commands around instances: `backends` (what the
 * loader discovers), `terminate`, `reap` and `prepull`.
 */
#include "commands.h"

#include "output.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/*
 * CAPS as a JSON array of capability names (new reference, caller owns) and
 * as "a, b, c" (or "none") in text[size]. Unknown bits show as "bit-N".
 */
static json_object *backend_capabilities(uint64_t caps, char *text, size_t size)
{
    json_object *list = json_object_new_array();
    size_t used = 0;
    text[0] = '\0';
    for (unsigned i = 0; i < 64; i++) {
        uint64_t bit = UINT64_C(1) << i;
        if ((caps & bit) == 0)
            continue;
        char unknown[16];
        const char *name = fcb_capability_name(bit);
        if (name == NULL) {
            snprintf(unknown, sizeof unknown, "bit-%u", i);
            name = unknown;
        }
        json_object_array_add(list, json_object_new_string(name));
        int n = snprintf(text + used, size - used, "%s%s", used > 0 ? ", " : "", name);
        if (n > 0 && (size_t)n < size - used)
            used += (size_t)n;
    }
    if (used == 0)
        snprintf(text, size, "none");
    return list;
}

/* One discovered plugin: a line (or two) of text, and its --json object. */
static json_object *backend_entry(run *r, const loader_candidate *c)
{
    json_object *item = json_object_new_object();
    output_json_set_str(item, "file", c->file);
    output_json_set_str(item, "dir", c->dir);
    if (!c->accepted) {
        output_json_set_str(item, "name", c->name);
        json_object_object_add(item, "accepted", json_object_new_boolean(0));
        output_json_set_str(item, "reason", c->reason);
        if (!r->opt.json)
            printf("%-16s REFUSED  %s\n", c->name, c->reason);
        return item;
    }
    char abi[16];
    snprintf(abi, sizeof abi, "%u.%u", c->abi_major, c->abi_minor);
    output_json_set_str(item, "name", c->name);
    output_json_set_str(item, "version", c->version);
    output_json_set_str(item, "abi", abi);
    output_json_set_str(item, "summary", c->summary);
    json_object_object_add(item, "accepted", json_object_new_boolean(1));
    char caps[256];
    json_object_object_add(item, "capabilities",
                           backend_capabilities(c->capabilities, caps, sizeof caps));
    if (!r->opt.json)
        printf("%-16s %-8s ABI %-5s %s\n%17s%s\n%17scapabilities: %s\n", c->name, c->version, abi,
               c->file, "", c->summary != NULL ? c->summary : "", "", caps);
    return item;
}

int cmd_backends(run *r)
{
    const char *defaults[3];
    run_default_dirs(defaults);
    loader_discovery found;
    char why[LOADER_WHY_MAX];
    if (loader_discover(host_services_config(r->hs, "FAKECLOUD_BACKEND_PATH"), defaults, &found,
                        why) != FCB_OK)
        return run_fail(r, HOST_EXIT_FAILED, FCB_ERR_NO_MEMORY, "%s", why);
    json_object *dirs = json_object_new_array();
    for (size_t i = 0; i < found.n_dirs; i++)
        json_object_array_add(dirs, json_object_new_string(found.dirs[i]));
    json_object *array = json_object_new_array();
    for (size_t i = 0; i < found.n_candidates; i++)
        json_object_array_add(array, backend_entry(r, &found.candidates[i]));
    if (!r->opt.json && found.n_candidates == 0)
        printf("no fakecloud-backend-*.so found (searched FAKECLOUD_BACKEND_PATH, %s, %s)\n",
               FCB_HOST_PLUGIN_BUILD_DIR, FCB_HOST_PLUGIN_INSTALL_DIR);
    json_object_object_add(r->out, "search_dirs", dirs);
    json_object_object_add(r->out, "backends", array);
    loader_discovery_free(&found);
    return HOST_EXIT_OK;
}

int cmd_terminate(run *r)
{
    int rc = run_start_artifacts(r);
    if (rc == HOST_EXIT_OK)
        rc = run_backend_load(r);
    if (rc == HOST_EXIT_OK)
        rc = run_backend_open(r);
    if (rc == HOST_EXIT_OK)
        rc = run_terminate(r, r->opt.handle);
    if (rc == HOST_EXIT_OK) {
        output_json_set_str(r->out, "handle", r->opt.handle);
        json_object_object_add(r->out, "terminated", json_object_new_boolean(1));
        if (!r->opt.json)
            printf("terminated %s\n", r->opt.handle);
    }
    return rc;
}

int cmd_reap(run *r)
{
    int rc = run_start_artifacts(r);
    if (rc == HOST_EXIT_OK)
        rc = run_backend_load(r);
    if (rc == HOST_EXIT_OK)
        rc = run_backend_open(r);
    if (rc != HOST_EXIT_OK)
        return rc;
    size_t reaped = 0;
    fcb_error err = FCB_ERROR_INIT;
    signals_set_phase(&r->sig, "reap was in progress and may not have completed (run it again)");
    int frc = r->plugin->ops->reap_stale(r->backend, &reaped, &err);
    signals_set_phase(&r->sig, NULL);
    if (frc != FCB_OK)
        return run_fail(r, run_exit_for(frc, HOST_EXIT_FAILED), frc, "reap failed: %s (%s)",
                        err.message[0] ? err.message : "no reason given", fcb_status_name(frc));
    output_json_set_str(r->out, "backend", r->plugin->ops->name);
    json_object_object_add(r->out, "reaped", json_object_new_int64((int64_t)reaped));
    if (!r->opt.json)
        printf("reaped %zu\n", reaped);
    return HOST_EXIT_OK;
}

/* An image reference: printable ASCII without spaces, 1..1023 bytes. */
static int check_image_ref(const char *image, char *why, size_t why_size)
{
    size_t n = strlen(image);
    if (n == 0 || n >= 1024) {
        snprintf(why, why_size, "prepull: IMAGE: expected 1 to 1023 bytes, got %zu", n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)image[i];
        if (c <= 0x20 || c >= 0x7f) {
            snprintf(why, why_size,
                     "prepull: IMAGE: byte %zu is not a printable ASCII character (0x%02x): not "
                     "an image reference",
                     i, c);
            return -1;
        }
    }
    return 0;
}

int cmd_prepull(run *r)
{
    const char *image = r->opt.handle;
    char why[HOST_WHY_MAX];
    if (check_image_ref(image, why, sizeof why) != 0)
        return run_fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "%s", why);
    int rc = run_backend_load(r);
    if (rc != HOST_EXIT_OK)
        return rc;
    const fcb_backend_ops *ops = r->plugin->ops;
    if (r->plugin->ops_size < offsetof(fcb_backend_ops, prepull) + sizeof ops->prepull ||
        ops->prepull == NULL)
        return run_fail(r, HOST_EXIT_USAGE, FCB_ERR_UNSUPPORTED,
                        "prepull: backend %s has no prepull operation (it is optional in the ABI)",
                        ops->name);
    rc = run_start_artifacts(r);
    if (rc == HOST_EXIT_OK)
        rc = run_backend_open(r);
    if (rc != HOST_EXIT_OK)
        return rc;
    fcb_error err = FCB_ERROR_INIT;
    signals_set_phase(
        &r->sig,
        "prepull %s was in progress; a prepull object the backend created may be left "
        "(`reap` removes it)",
        image);
    int frc = ops->prepull(r->backend, image, &err);
    signals_set_phase(&r->sig, NULL);
    if (frc != FCB_OK)
        return run_fail(r, run_exit_for(frc, HOST_EXIT_FAILED), frc, "prepull %s failed: %s (%s)",
                        image, err.message[0] ? err.message : "no reason given",
                        fcb_status_name(frc));
    host_log(r->hs, FCB_LOG_INFO, "image prepulled", "image", image, NULL);
    output_json_set_str(r->out, "backend", ops->name);
    output_json_set_str(r->out, "image", image);
    json_object_object_add(r->out, "prepulled", json_object_new_boolean(1));
    if (!r->opt.json)
        printf("prepulled %s\n", image);
    return HOST_EXIT_OK;
}
