/* Proves the C test support works: start kubesim, query /version and stats, stop it. */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>

#include "kubesim_ctl.h"

static kubesim *sim;

static void start(void)
{
    const char *args[] = {"--boot-ms", "10", NULL};
    int rc = kubesim_start(args, &sim);
    cr_assert_eq(rc, 0, "kubesim_start: %s", kubesim_last_error());
}

static void stop(void)
{
    kubesim_stop(sim);
    sim = NULL;
}

TestSuite(kubesim_ctl, .init = start, .fini = stop, .timeout = 30);

Test(kubesim_ctl, serves_version_over_client_cert_tls)
{
    struct json_object *v = NULL, *gv = NULL;
    cr_assert_eq(kubesim_get_json(sim, "/version", &v), 200, "%s", kubesim_last_error());
    cr_assert(json_object_object_get_ex(v, "gitVersion", &gv));
    cr_assert(strstr(json_object_get_string(gv), "kubesim") != NULL);
    json_object_put(v);
    cr_assert(strncmp(kubesim_url(sim), "https://127.0.0.1:", 18) == 0);
}

Test(kubesim_ctl, counts_api_requests_but_not_sim_requests)
{
    struct json_object *r = NULL;
    const char *pod = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"c1\"},"
                      "\"spec\":{\"containers\":[{\"name\":\"m\",\"image\":\"x:1\"}]}}";
    cr_assert_eq(kubesim_post_json(sim, "/api/v1/namespaces/default/pods", pod, &r), 201);
    json_object_put(r);
    cr_assert_eq(kubesim_get_json(sim, "/api/v1/namespaces/default/pods", NULL), 200);
    cr_assert_eq(kubesim_stat_count(sim, "create pods"), 1);
    cr_assert_eq(kubesim_stat_count(sim, "list pods"), 1);
    cr_assert_eq(kubesim_stat_count(sim, "watch pods"), 0);
    cr_assert_eq(kubesim_reset_stats(sim), 0);
    cr_assert_eq(kubesim_stat_count(sim, "create pods"), 0);
}

Test(kubesim_ctl, injects_faults_on_demand)
{
    cr_assert_eq(kubesim_set_faults(sim, "{\"error_rate\":1.0}"), 0);
    cr_assert_eq(kubesim_get_json(sim, "/api/v1/namespaces/default/pods", NULL), 500);
    cr_assert_eq(kubesim_set_faults(sim, "{\"error_rate\":0}"), 0);
    cr_assert_eq(kubesim_get_json(sim, "/api/v1/namespaces/default/pods", NULL), 200);
}

Test(kubesim_ctl, rotates_the_token_file)
{
    char tok[128];
    cr_assert_eq(kubesim_read_token(sim, tok, sizeof tok), 0);
    cr_assert(strlen(tok) > 0);
    cr_assert_eq(kubesim_write_token(sim, "rotated-token"), 0);
    cr_assert_eq(kubesim_read_token(sim, tok, sizeof tok), 0);
    cr_assert_str_eq(tok, "rotated-token");
}

Test(kubesim_ctl, stop_terminates_the_process)
{
    pid_t pid = kubesim_pid(sim);
    cr_assert(pid > 0);
    cr_assert_eq(kubesim_stop(sim), 0);
    sim = NULL;
    cr_assert_neq(kill(pid, 0), 0);
}
