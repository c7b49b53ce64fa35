/*
 * signals: a sigwait thread for SIGINT/SIGTERM/SIGHUP (SIGUSR2 stops it),
 * a cancel callback for the launch in progress, and a watchdog thread that
 * bounds how long the host may take to exit after the first signal.
 */
#include "signals.h"

#include "cli.h"
#include "output.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void interrupt_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGUSR2); /* internal: the host is done, stop waiting */
}

void signals_init(host_signals *s, host_services *hs, bool json)
{
    memset(s, 0, sizeof *s);
    atomic_init(&s->interrupted, 0);
    s->hs = hs;
    s->json = json;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
}

void signals_set_phase(host_signals *s, const char *fmt, ...)
{
    pthread_mutex_lock(&s->lock);
    s->phase[0] = '\0';
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->phase, sizeof s->phase, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&s->lock);
}

/* The watchdog gave up waiting: report and _exit(130) (lock held). */
static void watchdog_exit(host_signals *s)
{
    char message[sizeof s->phase + 128];
    snprintf(message, sizeof message, "interrupted: exiting within %ld ms%s%s",
             s->grace_ms > 0 ? s->grace_ms : (long)HOST_INTERRUPT_GRACE_MS, s->phase[0] ? ": " : "",
             s->phase);
    fprintf(stderr, HOST_PROG ": %s\n", message);
    fflush(stderr);
    if (s->json) {
        output_json_error(HOST_SIGNALS_EXIT, "FCB_ERR_CANCELLED", message);
        fflush(stdout);
    }
    _exit(HOST_SIGNALS_EXIT);
}

static void *watchdog_main(void *arg)
{
    host_signals *s = arg;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long grace = s->grace_ms > 0 ? s->grace_ms : (long)HOST_INTERRUPT_GRACE_MS;
    until.tv_sec += grace / 1000;
    until.tv_nsec += grace % 1000 * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; !s->finished && i < 100000; i++) {
        if (pthread_cond_timedwait(&s->cond, &s->lock, &until) == ETIMEDOUT)
            break;
    }
    if (!s->finished)
        watchdog_exit(s);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void start_watchdog(host_signals *s)
{
    pthread_mutex_lock(&s->lock);
    if (!s->watchdog_started && !s->finished)
        s->watchdog_started = pthread_create(&s->watchdog, NULL, watchdog_main, s) == 0;
    pthread_mutex_unlock(&s->lock);
}

void signals_finish(host_signals *s)
{
    pthread_mutex_lock(&s->lock);
    s->finished = true;
    pthread_cond_broadcast(&s->cond);
    bool join = s->watchdog_started;
    s->watchdog_started = false;
    pthread_mutex_unlock(&s->lock);
    if (join)
        pthread_join(s->watchdog, NULL);
}

/* The first signal: watchdog, then cancel the launch in progress if any. */
static void on_first_signal(host_signals *s, int sig)
{
    start_watchdog(s);
    void (*cancel)(void *) = NULL;
    void *cancel_arg = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->in_launch && s->cancel != NULL && s->cancel_state == 0) {
        cancel = s->cancel;
        cancel_arg = s->cancel_arg;
        s->cancel_state = 1;
    }
    pthread_mutex_unlock(&s->lock);
    host_log(s->hs, FCB_LOG_WARN,
             cancel != NULL ? "interrupted: cancelling the launch" : "interrupted", "signal",
             strsignal(sig), NULL);
    if (cancel != NULL) {
        cancel(cancel_arg);
        pthread_mutex_lock(&s->lock);
        s->cancel_state = 2;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
    }
}

static void *signal_main(void *arg)
{
    host_signals *s = arg;
    sigset_t set;
    interrupt_signals(&set);
    for (unsigned i = 0; i < 1000; i++) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGUSR2)
            break;
        if (atomic_exchange(&s->interrupted, sig) != 0) {
            static const char msg[] = HOST_PROG ": interrupted again: exiting now\n";
            ssize_t ignored = write(2, msg, sizeof msg - 1);
            (void)ignored;
            _exit(HOST_SIGNALS_EXIT);
        }
        on_first_signal(s, sig);
    }
    return NULL;
}

int signals_start(host_signals *s)
{
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    interrupt_signals(&set);
    /* Blocked before any other thread exists, so only signal_main takes them. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    s->thread_started = pthread_create(&s->thread, NULL, signal_main, s) == 0;
    return s->thread_started ? 0 : -1;
}

void signals_stop(host_signals *s)
{
    if (!s->thread_started)
        return;
    pthread_kill(s->thread, SIGUSR2);
    pthread_join(s->thread, NULL);
    s->thread_started = false;
}

void signals_destroy(host_signals *s)
{
    signals_stop(s);
    signals_finish(s);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
}

int signals_interrupted(void *ctx)
{
    host_signals *s = ctx;
    return atomic_load(&s->interrupted) != 0;
}

bool signals_launch_begin(host_signals *s, void (*cancel)(void *arg), void *arg)
{
    pthread_mutex_lock(&s->lock);
    bool started = !signals_interrupted(s);
    s->in_launch = started;
    if (started) {
        s->cancel = cancel;
        s->cancel_arg = arg;
    }
    pthread_mutex_unlock(&s->lock);
    return started;
}

bool signals_launch_end(host_signals *s)
{
    pthread_mutex_lock(&s->lock);
    s->in_launch = false;
    for (unsigned i = 0; s->cancel_state == 1 && i < 1000000; i++)
        pthread_cond_wait(&s->cond, &s->lock);
    bool cancelled = s->cancel_state == 2;
    s->cancel = NULL;
    s->cancel_arg = NULL;
    pthread_mutex_unlock(&s->lock);
    return cancelled;
}
