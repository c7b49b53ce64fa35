/*
 * The RBAC Role in docs/examples/rbac.yaml lists exactly the verbs the
 * plugin used against kubesim during the integration tests (recorded by
 * k8s_itest into K8S_RBAC_DIR): nothing missing (a real cluster would answer
 * 403), nothing superfluous (least privilege). Runs after the integration
 * tests (meson priority); run those first when running this alone.
 */
#include "k8s_overlay.h"

#include <criterion/criterion.h>
#include <dirent.h>
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

static void read_role(verb_set *role)
{
    FILE *f = fopen(K8S_RBAC_YAML, "r");
    cr_assert_not_null(f, "cannot open %s", K8S_RBAC_YAML);
    static char text[65536];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    char *second = strstr(text, "\n---");
    if (second != NULL)
        *second = '\0'; /* the Role is the first document */
    json_object *doc = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(k8s_overlay_parse(text, strlen(text), &doc, &err), FCB_OK, "%s", err.message);
    cr_assert_str_eq(json_object_get_string(json_object_object_get(doc, "kind")), "Role");
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
    json_object_put(doc);
}

Test(k8s_rbac, role_lists_exactly_the_verbs_the_plugin_used)
{
    verb_set role = {0};
    verb_set used = {0};
    read_role(&role);
    cr_assert_gt(role.n, 0);
    DIR *dir = opendir(K8S_RBAC_DIR);
    cr_assert_not_null(dir, "%s missing: run the k8s integration tests first", K8S_RBAC_DIR);
    size_t files = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 6, ".verbs") != 0)
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
            cr_expect(set_has(&role, line), "%s used \"%s\", which rbac.yaml does not grant",
                      e->d_name, line);
            set_add(&used, line);
        }
        fclose(f);
        files++;
    }
    closedir(dir);
    cr_assert_gt(files, 5, "only %zu recorded test runs: run the k8s integration tests first",
                 files);
    for (size_t i = 0; i < role.n; i++)
        cr_expect(set_has(&used, role.items[i]),
                  "rbac.yaml grants \"%s\" but no integration test used it", role.items[i]);
    cr_assert_eq(used.n, role.n);
}
