/* inflight: a counter, a flag and one monotonic condition under one mutex. */
#include "inflight.h"

#include "clockx.h"
#include "svc.h"

#include <errno.h>

int inflight_init(inflight *t, const char *who, fcb_error *err)
{
    t->count = 0;
    atomic_init(&t->closing, 0);
    if (pthread_mutex_init(&t->mu, NULL) != 0)
        return err_set(err, FCB_ERR_INTERNAL, "%s: pthread_mutex_init failed", who);
    if (clockx_cond_init(&t->cv) != 0) {
        pthread_mutex_destroy(&t->mu);
        return err_set(err, FCB_ERR_INTERNAL, "%s: pthread_cond_init failed", who);
    }
    return FCB_OK;
}

void inflight_destroy(inflight *t)
{
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
}

int inflight_enter(inflight *t, const char *who, fcb_error *err)
{
    int rc = FCB_OK;
    pthread_mutex_lock(&t->mu);
    if (atomic_load(&t->closing))
        rc = err_set(err, FCB_ERR_CANCELLED, "%s is closing", who);
    else
        t->count++;
    pthread_mutex_unlock(&t->mu);
    return rc;
}

void inflight_leave(inflight *t)
{
    pthread_mutex_lock(&t->mu);
    if (t->count > 0)
        t->count--;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

bool inflight_closing(const inflight *t)
{
    return atomic_load(&t->closing) != 0;
}

bool inflight_sleep_ms(inflight *t, uint32_t ms)
{
    uint64_t deadline = clockx_after_ms(ms);
    pthread_mutex_lock(&t->mu);
    /* Wake-ups for other reasons (an operation leaving) just wait again. */
    while (!atomic_load(&t->closing) && inflight_wait(t, &t->cv, deadline) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&t->mu);
    return !atomic_load(&t->closing);
}

int inflight_wait(inflight *t, pthread_cond_t *cond, uint64_t deadline_ms)
{
    if (atomic_load(&t->closing))
        return 0;
    if (clockx_remaining_ms(deadline_ms) == 0)
        return ETIMEDOUT;
    struct timespec until = clockx_timespec(deadline_ms);
    int rc = pthread_cond_timedwait(cond, &t->mu, &until);
    if (rc == ETIMEDOUT || clockx_remaining_ms(deadline_ms) == 0)
        return ETIMEDOUT;
    return 0;
}

void inflight_lock(inflight *t)
{
    pthread_mutex_lock(&t->mu);
}

void inflight_unlock(inflight *t)
{
    pthread_mutex_unlock(&t->mu);
}

void inflight_close(inflight *t, void (*wake)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&t->mu);
    atomic_store(&t->closing, 1);
    pthread_cond_broadcast(&t->cv);
    if (wake != NULL)
        wake(ctx);
    while (t->count > 0) {
        pthread_cond_wait(&t->cv, &t->mu);
        /* An operation may have started waiting on the backend's own condition. */
        if (wake != NULL)
            wake(ctx);
    }
    pthread_mutex_unlock(&t->mu);
}
