/*
 * k8s_cancel: turns the host's polled cancel token (fcb_cancel) and close()
 * into one atomic stop flag that the client's transfers watch
 * (kube_request_spec.stop, http_run): a small thread polls both every
 * K8S_CANCEL_POLL_MS while a long request (logs follow, invoke) runs.
 * One canceller per call, on the caller's stack; not shared.
 */
#ifndef FCB_K8S_CANCEL_H
#define FCB_K8S_CANCEL_H

#include "inflight.h"

#include <fakecloud/backend_plugin.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef struct k8s_canceller {
    fcb_cancel cancel;    /* the host's token (cancelled may be NULL) */
    const inflight *ops;  /* close() raises stop too; NULL: not watched */
    atomic_bool stop;     /* raised once the token fired or close() started */
    atomic_bool by_close; /* stop was raised by close(), not the host */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    bool started;
    pthread_t thread;
} k8s_canceller;

/*
 * Start watching CANCEL and (OPS non-NULL) close(). No thread when there
 * is nothing to watch; stop is raised at once when the token already fired.
 * FCB_ERR_NO_MEMORY / FCB_ERR_INTERNAL when the thread cannot start (WHAT
 * names the operation in the message). On FCB_OK end with k8s_canceller_stop.
 */
int k8s_canceller_start(k8s_canceller *c, fcb_cancel cancel, const inflight *ops, const char *what,
                        fcb_error *err);

/* Stop polling and join the thread (no-op when none was started). */
void k8s_canceller_stop(k8s_canceller *c);

#endif
