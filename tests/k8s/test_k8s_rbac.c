/*
 * The RBAC Roles in docs/examples/rbac.yaml list exactly the verbs the
 * plugin used against kubesim during the integration tests (recorded by
 * k8s_itest into K8S_RBAC_DIR): nothing missing (a real cluster would answer
 * 403), nothing superfluous (least privilege), for each endpoint mode: the
 * Role fakecloud-lambda for pod-ip (the default), plus the Role
 * fakecloud-lambda-api-proxy (pods/proxy) for api-proxy and auto. Runs after
 * the integration tests (meson priority); run those first when running this
 * alone.
 */
#include "k8s_overlay.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VERBS 64

typedef struct verb_set {
    char items[MAX_VERBS][64];
    size_t n;
} verb_set;

static void set_add(verb_set *s, const char *v)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->items[i], v) == 0)
            return;
    }
    cr_assert_lt(s->n, MAX_VERBS);
    snprintf(s->items[s->n++], sizeof s->items[0], "%s", v);
}

static bool set_has(const verb_set *s, const char *v)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->items[i], v) == 0)
            return true;
    }
    return false;
}

/* Every "verb resource" pair of the rules of Role DOC into ROLE. */
static void add_rules(json_object *doc, verb_set *role)
{
    json_object *rules = json_object_object_get(doc, "rules");
    for (size_t i = 0; i < json_object_array_length(rules); i++) {
        json_object *rule = json_object_array_get_idx(rules, i);
        json_object *resources = json_object_object_get(rule, "resources");
        json_object *verbs = json_object_object_get(rule, "verbs");
        for (size_t r = 0; r < json_object_array_length(resources); r++) {
            for (size_t v = 0; v < json_object_array_length(verbs); v++) {
                char key[64];
                snprintf(key, sizeof key, "%s %s",
                         json_object_get_string(json_object_array_get_idx(verbs, v)),
                         json_object_get_string(json_object_array_get_idx(resources, r)));
                set_add(role, key);
            }
        }
    }
}

/* The rules of the Role named NAME in rbac.yaml (any document) into ROLE. */
static void read_role(const char *name, verb_set *role)
{
    FILE *f = fopen(K8S_RBAC_YAML, "r");
    cr_assert_not_null(f, "cannot open %s", K8S_RBAC_YAML);
    static char text[65536];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    bool found = false;
    for (char *doc = text, *next = NULL; doc != NULL; doc = next) {
        next = strstr(doc, "\n---");
        if (next != NULL) {
            *next = '\0';
            next += 4;
        }
        json_object *obj = NULL;
        fcb_error err = FCB_ERROR_INIT;
        cr_assert_eq(k8s_overlay_parse(doc, strlen(doc), &obj, &err), FCB_OK, "%s", err.message);
        const char *kind = json_object_get_string(json_object_object_get(obj, "kind"));
        json_object *meta = json_object_object_get(obj, "metadata");
        const char *doc_name = json_object_get_string(json_object_object_get(meta, "name"));
        if (kind != NULL && strcmp(kind, "Role") == 0 && doc_name != NULL &&
            strcmp(doc_name, name) == 0) {
            add_rules(obj, role);
            found = true;
        }
        json_object_put(obj);
    }
    cr_assert(found, "rbac.yaml has no Role %s", name);
}

/*
 * Every verb of the recorded runs whose file name ends in SUFFIX (and, for
 * ".verbs", not ".proxy.verbs") must be in ALLOWED; USED gets them all.
 * Returns the number of files read.
 */
static size_t read_used(const char *suffix, const verb_set *allowed, verb_set *used)
{
    DIR *dir = opendir(K8S_RBAC_DIR);
    cr_assert_not_null(dir, "%s missing: run the k8s integration tests first", K8S_RBAC_DIR);
    size_t files = 0, sl = strlen(suffix);
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < sl || strcmp(e->d_name + n - sl, suffix) != 0 ||
            (strcmp(suffix, ".verbs") == 0 && n >= 12 &&
             strcmp(e->d_name + n - 12, ".proxy.verbs") == 0))
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", K8S_RBAC_DIR, e->d_name);
        FILE *f = fopen(path, "r");
        cr_assert_not_null(f);
        char line[128];
        while (fgets(line, sizeof line, f) != NULL) {
            line[strcspn(line, "\n")] = '\0';
            if (line[0] == '\0')
                continue;
            cr_expect(set_has(allowed, line), "%s used \"%s\", which its Role does not grant",
                      e->d_name, line);
            set_add(used, line);
        }
        fclose(f);
        files++;
    }
    closedir(dir);
    return files;
}

Test(k8s_rbac, role_lists_exactly_the_verbs_the_plugin_used)
{
    verb_set role = {0};
    verb_set used = {0};
    read_role("fakecloud-lambda", &role);
    cr_assert_gt(role.n, 0);
    size_t files = read_used(".verbs", &role, &used);
    cr_assert_gt(files, 5, "only %zu recorded test runs: run the k8s integration tests first",
                 files);
    for (size_t i = 0; i < role.n; i++)
        cr_expect(set_has(&used, role.items[i]),
                  "rbac.yaml grants \"%s\" but no integration test used it", role.items[i]);
    cr_assert_eq(used.n, role.n);
}

/*
 * FAKECLOUD_K8S_ENDPOINT=api-proxy or auto: the base Role plus exactly the
 * second Role (pods/proxy get, create), which pod-ip mode never needs (the
 * test above refuses any verb outside the base Role in those runs).
 */
Test(k8s_rbac, api_proxy_role_adds_exactly_the_pods_proxy_verbs_its_modes_used)
{
    verb_set base = {0}, proxy = {0}, both = {0}, used = {0};
    read_role("fakecloud-lambda", &base);
    read_role("fakecloud-lambda-api-proxy", &proxy);
    cr_assert_gt(proxy.n, 0);
    for (size_t i = 0; i < proxy.n; i++)
        cr_expect(!set_has(&base, proxy.items[i]), "\"%s\" is in both Roles", proxy.items[i]);
    for (size_t i = 0; i < base.n; i++)
        set_add(&both, base.items[i]);
    for (size_t i = 0; i < proxy.n; i++)
        set_add(&both, proxy.items[i]);
    size_t files = read_used(".proxy.verbs", &both, &used);
    cr_assert_gt(files, 0, "no api-proxy/auto test runs recorded: run the k8s integration tests");
    for (size_t i = 0; i < proxy.n; i++)
        cr_expect(set_has(&used, proxy.items[i]),
                  "the api-proxy Role grants \"%s\" but no api-proxy/auto test used it",
                  proxy.items[i]);
}
