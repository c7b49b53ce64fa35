/* Unit tests of k8s_status (Pod state evaluation) and k8s_handle_parse. */
#include "k8s_backend.h"
#include "k8s_status.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static void eval(const char *json, k8s_pod_state *st)
{
    json_object *pod = json_tokener_parse(json);
    cr_assert_not_null(pod, "bad test JSON: %s", json);
    k8s_pod_state_read(pod, st);
    json_object_put(pod);
}

Test(k8s_status, keeps_waiting_while_pending_or_without_an_ip)
{
    k8s_pod_state st;
    eval("{\"status\":{\"phase\":\"Pending\"}}", &st);
    cr_assert_eq(st.progress, K8S_POD_STARTING);
    eval("{\"status\":{\"phase\":\"Running\"}}", &st);
    cr_assert_eq(st.progress, K8S_POD_STARTING);
    eval("{}", &st);
    cr_assert_eq(st.progress, K8S_POD_STARTING);
    eval("{\"status\":{\"phase\":\"Pending\",\"initContainerStatuses\":[{\"name\":\"i\","
         "\"state\":{\"waiting\":{\"reason\":\"PodInitializing\"}}}]}}",
         &st);
    cr_assert_eq(st.progress, K8S_POD_STARTING);
}

Test(k8s_status, is_running_with_phase_running_and_a_pod_ip)
{
    k8s_pod_state st;
    eval("{\"status\":{\"phase\":\"Running\",\"podIP\":\"10.1.2.3\"}}", &st);
    cr_assert_eq(st.progress, K8S_POD_RUNNING);
    cr_assert_str_eq(st.pod_ip, "10.1.2.3");
}

Test(k8s_status, fails_fast_on_image_and_config_reasons)
{
    const char *reasons[] = {"ErrImagePull",         "ImagePullBackOff",
                             "InvalidImageName",     "CreateContainerConfigError",
                             "CreateContainerError", "RunContainerError"};
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        char json[512];
        snprintf(json, sizeof json,
                 "{\"status\":{\"phase\":\"Pending\",\"containerStatuses\":[{\"name\":"
                 "\"fakecloud-lambda\",\"state\":{\"waiting\":{\"reason\":\"%s\",\"message\":"
                 "\"why\"}}}]}}",
                 reasons[i]);
        k8s_pod_state st;
        eval(json, &st);
        cr_assert_eq(st.progress, K8S_POD_FAILED, "%s", reasons[i]);
        cr_assert_str_eq(st.reason, reasons[i]);
        cr_assert_str_eq(st.message, "why");
        cr_assert_str_eq(st.container, "", "no logs exist for %s", reasons[i]);
    }
}

Test(k8s_status, reports_init_errors_with_the_container_for_logs)
{
    k8s_pod_state st;
    eval("{\"status\":{\"phase\":\"Failed\",\"initContainerStatuses\":[{\"name\":"
         "\"fakecloud-init\",\"state\":{\"terminated\":{\"exitCode\":1,\"reason\":\"Error\"}}}]}}",
         &st);
    cr_assert_eq(st.progress, K8S_POD_FAILED);
    cr_assert_str_eq(st.reason, "Init:Error");
    cr_assert_str_eq(st.container, "fakecloud-init");
    cr_assert(strstr(st.message, "exited with code 1") != NULL, "%s", st.message);
}

Test(k8s_status, a_completed_init_container_is_not_a_failure)
{
    k8s_pod_state st;
    eval("{\"status\":{\"phase\":\"Pending\",\"initContainerStatuses\":[{\"name\":"
         "\"fakecloud-init\",\"state\":{\"terminated\":{\"exitCode\":0}}}]}}",
         &st);
    cr_assert_eq(st.progress, K8S_POD_STARTING);
}

Test(k8s_status, reports_a_terminated_runtime_and_crash_loops_with_logs)
{
    k8s_pod_state st;
    eval("{\"status\":{\"phase\":\"Running\",\"podIP\":\"1.2.3.4\",\"containerStatuses\":[{"
         "\"name\":\"fakecloud-lambda\",\"state\":{\"terminated\":{\"exitCode\":3,\"reason\":"
         "\"Error\"}}}]}}",
         &st);
    cr_assert_eq(st.progress, K8S_POD_FAILED);
    cr_assert_str_eq(st.container, "fakecloud-lambda");
    eval("{\"status\":{\"containerStatuses\":[{\"name\":\"fakecloud-lambda\",\"state\":{"
         "\"waiting\":{\"reason\":\"CrashLoopBackOff\"}}}]}}",
         &st);
    cr_assert_str_eq(st.reason, "CrashLoopBackOff");
    cr_assert_str_eq(st.container, "fakecloud-lambda");
}

Test(k8s_status, reports_unschedulable_and_terminal_phases)
{
    k8s_pod_state st;
    eval("{\"status\":{\"phase\":\"Pending\",\"conditions\":[{\"type\":\"PodScheduled\","
         "\"status\":\"False\",\"reason\":\"Unschedulable\",\"message\":\"0/3 nodes\"}]}}",
         &st);
    cr_assert_eq(st.progress, K8S_POD_FAILED);
    cr_assert_str_eq(st.reason, "Unschedulable");
    cr_assert_str_eq(st.message, "0/3 nodes");
    eval("{\"status\":{\"phase\":\"Succeeded\"}}", &st);
    cr_assert_eq(st.progress, K8S_POD_FAILED);
    cr_assert_str_eq(st.reason, "Succeeded");
    eval("{\"status\":{\"phase\":\"Failed\",\"reason\":\"Evicted\",\"message\":\"disk\"}}", &st);
    cr_assert_str_eq(st.reason, "Failed");
    cr_assert(strstr(st.message, "Evicted") != NULL);
}

Test(k8s_status, survives_malformed_status_objects)
{
    k8s_pod_state st;
    eval("{\"status\":{\"phase\":7,\"podIP\":[],\"containerStatuses\":{},"
         "\"initContainerStatuses\":[1,\"x\",{\"state\":null}],\"conditions\":\"no\"}}",
         &st);
    cr_assert_eq(st.progress, K8S_POD_STARTING);
}

Test(k8s_handle, parses_pod_handles)
{
    char ns[64], name[254];
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(k8s_handle_parse("pod/default/fakecloud-lambda-f-0123", ns, name, &err), FCB_OK);
    cr_assert_str_eq(ns, "default");
    cr_assert_str_eq(name, "fakecloud-lambda-f-0123");
}

Test(k8s_handle, refuses_anything_else_naming_the_handle)
{
    const char *bad[] = {NULL,
                         "",
                         "pod",
                         "pod/",
                         "pod/ns",
                         "pod/ns/",
                         "container/ns/x",
                         "pod/NS/x",
                         "pod/ns/X",
                         "pod/ns/a/b",
                         "pod/ns/-x",
                         "pod/ns/x%20y"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char ns[64], name[254];
        fcb_error err = FCB_ERROR_INIT;
        cr_assert_eq(k8s_handle_parse(bad[i], ns, name, &err), FCB_ERR_INVALID_ARGUMENT, "%s",
                     bad[i] != NULL ? bad[i] : "(null)");
        cr_assert(strstr(err.message, "handle") != NULL, "%s", err.message);
    }
}
