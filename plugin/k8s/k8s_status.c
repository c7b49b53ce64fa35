/*
 * k8s_status: Pod status evaluation.
 *
 * Order matters: a concrete container reason ("ErrImagePull" with the
 * registry's message) is more useful than the phase it leads to, so
 * container states are examined before the phase.
 */
#include "k8s_status.h"

#include <stdio.h>
#include <string.h>

static const char *status_str(json_object *obj, const char *key)
{
    json_object *v = NULL;
    if (obj == NULL || !json_object_object_get_ex(obj, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static json_object *status_get(json_object *obj, const char *key)
{
    json_object *v = NULL;
    if (obj == NULL || !json_object_object_get_ex(obj, key, &v))
        return NULL;
    return v;
}

static bool status_fail_fast_reason(const char *reason)
{
    static const char *const reasons[] = {"ErrImagePull",
                                          "ImagePullBackOff",
                                          "InvalidImageName",
                                          "CreateContainerConfigError",
                                          "CreateContainerError",
                                          "RunContainerError",
                                          "CrashLoopBackOff",
                                          "ErrImageNeverPull",
                                          NULL};
    for (size_t i = 0; reason != NULL && reasons[i] != NULL; i++) {
        if (strcmp(reason, reasons[i]) == 0)
            return true;
    }
    return false;
}

static void status_fail(k8s_pod_state *out, const char *reason, const char *message,
                        const char *container)
{
    out->progress = K8S_POD_FAILED;
    snprintf(out->reason, sizeof out->reason, "%s", reason != NULL ? reason : "Failed");
    snprintf(out->message, sizeof out->message, "%s", message != NULL ? message : "");
    snprintf(out->container, sizeof out->container, "%s", container != NULL ? container : "");
}

/*
 * Look at one list of container statuses. INIT selects init-container
 * semantics (a zero exit is success). Returns true when it recorded a failure.
 */
static bool status_containers(json_object *list, bool init, k8s_pod_state *out)
{
    if (list == NULL || !json_object_is_type(list, json_type_array))
        return false;
    size_t n = json_object_array_length(list);
    for (size_t i = 0; i < n; i++) {
        json_object *cs = json_object_array_get_idx(list, i);
        const char *name = status_str(cs, "name");
        json_object *state = status_get(cs, "state");
        json_object *waiting = status_get(state, "waiting");
        json_object *terminated = status_get(state, "terminated");
        if (waiting != NULL) {
            const char *reason = status_str(waiting, "reason");
            if (status_fail_fast_reason(reason)) {
                /* A crash loop's useful output is the last run's. */
                bool logs = reason != NULL && strcmp(reason, "CrashLoopBackOff") == 0;
                status_fail(out, reason, status_str(waiting, "message"), logs ? name : NULL);
                return true;
            }
        }
        if (terminated != NULL) {
            json_object *code = status_get(terminated, "exitCode");
            int exit_code = code != NULL ? json_object_get_int(code) : -1;
            if (init && exit_code == 0)
                continue;
            char message[400];
            const char *treason = status_str(terminated, "reason");
            const char *tmessage = status_str(terminated, "message");
            snprintf(message, sizeof message, "container %s exited with code %d%s%s%s%s",
                     name != NULL ? name : "?", exit_code, treason != NULL ? " (" : "",
                     treason != NULL ? treason : "", treason != NULL ? ")" : "",
                     tmessage != NULL ? tmessage : "");
            status_fail(out, init ? "Init:Error" : (treason != NULL ? treason : "Terminated"),
                        message, name);
            return true;
        }
    }
    return false;
}

void k8s_pod_state_read(json_object *pod, k8s_pod_state *out)
{
    memset(out, 0, sizeof *out);
    json_object *status = status_get(pod, "status");
    const char *phase = status_str(status, "phase");
    const char *ip = status_str(status, "podIP");
    snprintf(out->phase, sizeof out->phase, "%s", phase != NULL ? phase : "");
    snprintf(out->pod_ip, sizeof out->pod_ip, "%s", ip != NULL ? ip : "");

    if (status_containers(status_get(status, "initContainerStatuses"), true, out))
        return;
    if (status_containers(status_get(status, "containerStatuses"), false, out))
        return;
    json_object *conditions = status_get(status, "conditions");
    if (conditions != NULL && json_object_is_type(conditions, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(conditions); i++) {
            json_object *c = json_object_array_get_idx(conditions, i);
            const char *type = status_str(c, "type");
            const char *cstatus = status_str(c, "status");
            const char *reason = status_str(c, "reason");
            if (type != NULL && strcmp(type, "PodScheduled") == 0 && cstatus != NULL &&
                strcmp(cstatus, "False") == 0 && reason != NULL &&
                strcmp(reason, "Unschedulable") == 0) {
                status_fail(out, "Unschedulable", status_str(c, "message"), NULL);
                return;
            }
        }
    }
    if (phase != NULL && (strcmp(phase, "Failed") == 0 || strcmp(phase, "Succeeded") == 0)) {
        const char *message = status_str(status, "message");
        const char *reason = status_str(status, "reason");
        char text[400];
        snprintf(text, sizeof text, "pod reached phase %s during startup%s%s%s%s", phase,
                 reason != NULL ? ": " : "", reason != NULL ? reason : "",
                 message != NULL ? ": " : "", message != NULL ? message : "");
        status_fail(out, phase, text, NULL);
        return;
    }
    if (phase != NULL && strcmp(phase, "Running") == 0 && out->pod_ip[0] != '\0')
        out->progress = K8S_POD_RUNNING;
}
