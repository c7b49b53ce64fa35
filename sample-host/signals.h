/*
 * signals: how the sample host is interrupted (SIGINT, SIGTERM, SIGHUP).
 *
 * signals_start blocks the three signals in every thread (call it before
 * any other thread exists) and takes them on a dedicated thread. The first
 * signal sets the interrupted flag, cancels a launch in progress (through
 * the cancel callback given to signals_launch_begin: the host closes the
 * backend, which the ABI lets cancel in-flight launches) and starts a
 * watchdog: unless signals_finish is called within HOST_INTERRUPT_GRACE_MS,
 * the watchdog prints what may be left half-done (the phase) and
 * _exit(130)s. A second signal _exit(130)s at once.
 * All functions are thread-safe once signals_init has returned.
 */
#ifndef FCB_HOST_SIGNALS_H
#define FCB_HOST_SIGNALS_H

#include "host_services.h"

#include <fakecloud/backend_plugin.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* The host exits this long after a signal even when a plugin call cannot be cancelled. */
#define HOST_INTERRUPT_GRACE_MS 500

/* Exit status of an interrupted host (also _exit'ed by the watchdog). */
#define HOST_SIGNALS_EXIT 130

typedef struct host_signals {
    atomic_int interrupted; /* the first signal's number, 0 before */
    host_services *hs;      /* for the log; not owned */
    bool json;              /* the watchdog prints a --json failure document */
    long grace_ms;          /* the watchdog's wait; 0 = HOST_INTERRUPT_GRACE_MS (serve: longer) */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cond;
    bool in_launch;
    int cancel_state; /* 0, 1 = the signal thread is cancelling, 2 = cancelled */
    void (*cancel)(void *arg);
    void *cancel_arg;
    pthread_t watchdog;
    bool watchdog_started;
    bool finished;
    char phase[FCB_HANDLE_MAX + 256];
} host_signals;

/* Initialise S (no thread yet). HS logs the signals; JSON as --json. */
void signals_init(host_signals *s, host_services *hs, bool json);

/*
 * Ignore SIGPIPE, block SIGINT/SIGTERM/SIGHUP (and the internal SIGUSR2) in
 * the calling thread, so in every thread created after, and start the
 * signal thread. Returns 0, or -1 when the thread could not start (signals
 * then stay pending and the host is not interruptible).
 */
int signals_start(host_signals *s);

/* Stop the signal thread (idempotent). Signals stay blocked. */
void signals_stop(host_signals *s);

/* The command is over: stop the watchdog (idempotent). */
void signals_finish(host_signals *s);

/* signals_stop, signals_finish, and release S's lock and condition. */
void signals_destroy(host_signals *s);

/* Whether a signal came. CTX is a host_signals (invoker's cancel callback). */
int signals_interrupted(void *ctx);

/*
 * Say what the host is doing that a signal could leave half-done (NULL:
 * nothing); printed by the watchdog if it has to exit before the call returns.
 */
void signals_set_phase(host_signals *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A launch starts: until signals_launch_end a signal calls CANCEL(ARG) on
 * the signal thread. Returns false (and registers nothing) when a signal
 * came already.
 */
bool signals_launch_begin(host_signals *s, void (*cancel)(void *arg), void *arg);

/*
 * The launch returned: waits for a cancel in progress to finish. Returns
 * true when CANCEL ran (the backend is closed).
 */
bool signals_launch_end(host_signals *s);

#endif
