/* k8s_cancel: one polling thread per long request, joined before it returns. */
#include "k8s_cancel.h"

#include "clockx.h"
#include "k8s_waiters.h" /* K8S_CANCEL_POLL_MS */
#include "svc.h"

#include <errno.h>
#include <string.h>

/* Whether the token fired or close() started; records which. */
static bool k8s_canceller_fired(k8s_canceller *c)
{
    if (c->ops != NULL && inflight_closing(c->ops)) {
        atomic_store(&c->by_close, true);
        return true;
    }
    return c->cancel.cancelled != NULL && c->cancel.cancelled(c->cancel.ctx) != 0;
}

static void *k8s_canceller_main(void *arg)
{
    k8s_canceller *c = arg;
    pthread_mutex_lock(&c->lock);
    while (!c->done) {
        if (k8s_canceller_fired(c)) {
            atomic_store(&c->stop, true);
            break;
        }
        struct timespec ts = clockx_timespec(clockx_after_ms(K8S_CANCEL_POLL_MS));
        pthread_cond_timedwait(&c->cond, &c->lock, &ts);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int k8s_canceller_start(k8s_canceller *c, fcb_cancel cancel, const inflight *ops, const char *what,
                        fcb_error *err)
{
    c->cancel = cancel;
    c->ops = ops;
    atomic_init(&c->stop, false);
    atomic_init(&c->by_close, false);
    c->done = false;
    c->started = false;
    if (cancel.cancelled == NULL && ops == NULL)
        return FCB_OK;
    if (k8s_canceller_fired(c)) {
        atomic_store(&c->stop, true);
        return FCB_OK;
    }
    if (pthread_mutex_init(&c->lock, NULL) != 0)
        return err_set(err, FCB_ERR_NO_MEMORY, "%s: cannot create a mutex", what);
    int e = clockx_cond_init(&c->cond);
    if (e == 0) {
        e = pthread_create(&c->thread, NULL, k8s_canceller_main, c);
        if (e != 0)
            pthread_cond_destroy(&c->cond);
    }
    if (e != 0) {
        pthread_mutex_destroy(&c->lock);
        return err_set(err, e == ENOMEM || e == EAGAIN ? FCB_ERR_NO_MEMORY : FCB_ERR_INTERNAL,
                       "%s: cannot start the cancel poller: %s", what, strerror(e));
    }
    c->started = true;
    return FCB_OK;
}

void k8s_canceller_stop(k8s_canceller *c)
{
    if (!c->started)
        return;
    pthread_mutex_lock(&c->lock);
    c->done = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    c->started = false;
}
