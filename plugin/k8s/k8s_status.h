/*
 * k8s_status: what a launch waits for, read from a Pod object.
 *
 * Pure: turns a Pod's status into "still starting", "running at podIP" or
 * "failed, here is the Kubernetes reason and which container to show logs
 * of", so the lifecycle can fail fast instead of waiting for a deadline.
 * Thread-safe.
 */
#ifndef FCB_K8S_STATUS_H
#define FCB_K8S_STATUS_H

#include <json-c/json.h>

#include <stdbool.h>

typedef enum k8s_pod_progress {
    K8S_POD_STARTING = 0, /* keep waiting */
    K8S_POD_RUNNING = 1,  /* phase Running with a podIP */
    K8S_POD_FAILED = 2,   /* will not start: reason/message say why */
} k8s_pod_progress;

typedef struct k8s_pod_state {
    k8s_pod_progress progress;
    char phase[32];     /* status.phase ("" when absent) */
    char pod_ip[64];    /* status.podIP when set */
    char reason[64];    /* e.g. "ErrImagePull", "Unschedulable", "Init:Error", "Failed" */
    char message[400];  /* Kubernetes' message, may be empty */
    char container[64]; /* container whose logs explain the failure, "" = none */
} k8s_pod_state;

/*
 * Evaluate POD (a Pod object from a list, watch event or GET). Fail-fast
 * reasons: a container waiting with ErrImagePull, ImagePullBackOff,
 * InvalidImageName, CreateContainerConfigError, CreateContainerError,
 * RunContainerError or CrashLoopBackOff; PodScheduled=False with reason
 * Unschedulable; an init container terminated with a non-zero exit
 * ("Init:Error"); the main container terminated; phase Failed or Succeeded.
 */
void k8s_pod_state_read(json_object *pod, k8s_pod_state *out);

#endif
