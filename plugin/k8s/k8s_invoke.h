/*
 * k8s_invoke: how the backend reaches a runtime (FAKECLOUD_K8S_ENDPOINT)
 * and the 1.1 invoke operation.
 *
 *   pod-ip     readiness is a TCP connect to podIP:8080; the endpoint is
 *              "podIP:8080"; invoke POSTs the event there.
 *   api-proxy  readiness is a GET through the API server's pods/proxy until
 *              the runtime (not the API server) answers; the endpoint is
 *              "<server>/api/v1/namespaces/NS/pods/NAME:8080/proxy" (that
 *              path alone when the server URL does not fit), never
 *              host:port; invoke POSTs through pods/proxy with the
 *              kubeconfig's credentials. For a host outside the cluster.
 *   auto       undecided until the first launch (or invoke): its readiness
 *              goes through pods/proxy, then one TCP connect to the Pod IP
 *              (K8S_AUTO_CONNECT_MS) decides: accepted = pod-ip, else
 *              api-proxy, for the rest of the backend instance's life.
 * Thread-safe.
 */
#ifndef FCB_K8S_INVOKE_H
#define FCB_K8S_INVOKE_H

#include "k8s_internal.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

/* Bound of auto's TCP connect to a Pod IP. */
#define K8S_AUTO_CONNECT_MS 300u

/* The mode launches and invokes use now: the configured one, AUTO until decided. */
k8s_endpoint_mode k8s_endpoint_current(fcb_backend *b);

/*
 * AUTO: decide from one TCP connect to IP:8080 (the runtime already
 * answered through the API server) and remember it; logged once. Returns
 * the decided mode (an earlier decision stands).
 */
k8s_endpoint_mode k8s_endpoint_decide(fcb_backend *b, const char *ip);

/*
 * One readiness attempt of Pod NAME at IP in MODE (POD_IP or API_PROXY)
 * within TIMEOUT_MS: FCB_OK when the runtime answered (any HTTP answer
 * through the proxy; an accepted connect at the Pod IP), FCB_ERR_UNAVAILABLE
 * when not yet (err untouched). Through the proxy, a refusal that waiting
 * cannot cure is returned at once with err saying why: 401/403 (naming the
 * Role fakecloud-lambda-api-proxy), credentials (FCB_ERR_CONFIG), cancel.
 */
int k8s_runtime_probe(fcb_backend *b, k8s_endpoint_mode mode, const char *name, const char *ip,
                      uint32_t timeout_ms, fcb_error *err);

/* Prefix ERR, an API server's 401/403 on pods/proxy, with what to grant. */
void k8s_proxy_refused(fcb_error *err);

/* ENDPOINT (FCB_ENDPOINT_MAX bytes) of Pod NAME at IP in the current mode (see above). */
void k8s_endpoint_format(fcb_backend *b, const char *name, const char *ip, char *endpoint);

/*
 * The shared watch's view of invoke's targets (called from k8s_waiters_on_event
 * with ops' lock held): any event of Pod NAME but "still Running at IP, not
 * terminating" forgets it, so its next invoke GETs it again (and refuses it when it
 * is gone or no longer ours). NAME NULL (a relist ended) forgets every target.
 */
void k8s_invoke_targets_on_event_locked(fcb_backend *b, const char *name, bool deleted,
                                        json_object *object);

/*
 * invoke: POST req->payload to the RIE of our Pod HANDLE (at its IP or
 * through pods/proxy, by the mode) and stream the answer to req->on_body;
 * out gets the runtime's HTTP status, X-Amz-Function-Error and the bytes
 * delivered. Bounded by req->timeout_ms (0: the function's timeout from the
 * Pod's AWS_LAMBDA_FUNCTION_TIMEOUT, else 3 s, plus 10 s): FCB_ERR_TIMEOUT.
 * FCB_ERR_CANCELLED when req->cancel fires or close() is called (polled
 * every 50 ms). FCB_ERR_NOT_FOUND for a Pod that is gone, in another
 * namespace or not ours (never contacted); FCB_ERR_UNAVAILABLE when the
 * runtime cannot be reached. A non-zero on_body stops with FCB_OK.
 */
int k8s_backend_invoke(fcb_backend *b, const char *handle, const fcb_invoke_request *req,
                       fcb_invoke_result *out, fcb_error *err);

#endif
