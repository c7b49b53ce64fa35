/*
 * k8s_pod_test: the Pod builder input the k8s_pod unit tests start from
 * (header-only): namespace "lambdas", a fixed instance, token Secret,
 * 32-hex nonce (also the log stream id), launch time and credentials Secret.
 */
#ifndef K8S_POD_TEST_H
#define K8S_POD_TEST_H

#include "k8s_pod.h"

#define K8S_TEST_NONCE       "feedf00d0000000000000000000000a1"
#define K8S_TEST_NOW         1796313600 /* 2026-12-03T16:00:00Z */
#define K8S_TEST_CREDENTIALS "fakecloud-lambda-my-func-x-credentials"

static inline k8s_pod_input k8s_test_input(const k8s_config *cfg, const char *pod_name,
                                           const fcb_launch_request *req)
{
    return (k8s_pod_input){.config = cfg,
                           .namespace_name = "lambdas",
                           .instance_id = "0123456789abcdef",
                           .token_secret = "fakecloud-lambda-token-0123456789abcdef",
                           .pod_name = pod_name,
                           .nonce = K8S_TEST_NONCE,
                           .request = req,
                           .now_unix_s = K8S_TEST_NOW,
                           .credentials_secret = K8S_TEST_CREDENTIALS};
}

#endif
