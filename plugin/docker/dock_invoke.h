/*
 * dock_invoke: the docker backend's invoke op (ABI 1.1): one event POSTed
 * to the Runtime Interface Emulator of an instance, the answer streamed to
 * the host.
 *
 * One inspect of the container (ours by the managed-by label, running, its
 * published RIE port and AWS_LAMBDA_FUNCTION_TIMEOUT), then
 * POST http://<endpoint host>:<port>/2015-03-31/functions/function/invocations
 * with libcurl on its multi interface, polled every <= 100 ms: the host's
 * cancel token and close() end it within ~100 ms (FCB_ERR_CANCELLED), and
 * it is bounded by the request's timeout_ms (0 = the function's timeout +
 * 5 s; FCB_ERR_TIMEOUT). The status, X-Amz-Function-Error and the number
 * of bytes on_body accepted go to the caller's fcb_invoke_result.
 * Thread-safe; enters the backend's in-flight tracker.
 */
#ifndef FCB_DOCK_INVOKE_H
#define FCB_DOCK_INVOKE_H

#include <fakecloud/backend_plugin.h>

int dock_backend_invoke(fcb_backend *b, const char *handle, const fcb_invoke_request *req,
                        fcb_invoke_result *out, fcb_error *err);

#endif
