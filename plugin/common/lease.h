/*
 * lease: the liveness rule both backends use to tell a live backend instance
 * from a dead one, and the renewal schedule of an instance's own lease.
 *
 * Pure logic: no I/O, no allocation, no clock reads (every "now" is an
 * argument), so every rule is unit-tested with made-up times. A backend only
 * stores and lists lease objects (a coordination.k8s.io/v1 Lease, a Docker
 * marker; see docs/leases.md) and feeds what it read into these functions.
 *
 * Times: wall-clock times are microseconds since the Unix epoch (UTC), as a
 * lease's renewTime; monotonic times are microseconds of CLOCK_MONOTONIC
 * (lease_clock_now reads both). LEASE_TIME_NONE marks an unknown time.
 *
 * THE REAP RULE (lease_decide). An instance X other than ours is dead, and its
 * objects may be removed, when
 *   1. X has no live lease: no lease names X (absent), its holderIdentity is
 *      not X (released or taken), or the lease is expired by rule 2; AND
 *   2. (expiry, observer side, like client-go's leader election) the lease has
 *      not changed (resourceVersion / renewTime) for at least one lease
 *      duration D as measured on OUR monotonic clock since WE first saw its
 *      current version. A holder whose clock is skewed is therefore never
 *      reaped early: its renewTime is not compared with our clock at all. A
 *      renewTime in the future counts as the moment of our observation.
 *      One exception lets a fresh observer (the `reap` command, a restarted
 *      host) reap long-dead instances without waiting D: while we have never
 *      seen the lease change, it is also expired when its renewTime, moved to
 *      the API server's clock and clamped to now, is more than
 *      2*D + LEASE_SKEW_TOLERANCE_S old on our wall clock. The holder's clock
 *      offset is estimated as acquireTime - creationTimestamp (the holder
 *      writes acquireTime into the lease it creates, the server stamps
 *      creationTimestamp at that moment); without both, renewTime is taken
 *      as is. So on a first sighting the server's clock (or, without the
 *      estimate, the holder's) may lag ours by up to D + LEASE_SKEW_TOLERANCE_S;
 *      once we have seen one renewal, no clock matters; AND
 *   3. every object of X is older than one lease duration (its newest object's
 *      creation time, set by the API server / engine, is at least D before our
 *      wall clock). Unknown creation times never qualify. This covers a host
 *      that was just starting when we listed.
 * D is the lease's leaseDurationSeconds, or the caller's default when the
 * lease has none (and for absent leases). Callers must list objects BEFORE
 * leases: an instance creates its lease before any object, so an object seen
 * has a lease in the later listing unless its instance closed or died.
 * Reaping order per dead instance: delete its lease with the listed
 * resourceVersion as a precondition (a Conflict means it renewed meanwhile:
 * skip it), then its objects.
 *
 * THE RENEWAL SCHEDULE (lease_schedule_*). Period P = D/3. After an attempt
 * that started at t, the next starts at t + P minus a jitter of up to P/10,
 * so requests are at least 0.9*P apart (never more than one per period) and a
 * failed renewal is retried in the next period, twice before D runs out. The
 * lease is held while less than D has passed since the START of the last
 * successful renewal (the start, not the answer: the API server wrote the new
 * renewTime after we started, so an observer's clock for it starts no
 * earlier than ours, and we give the lease up no later than any observer
 * reaps it). API faults therefore never end a lease early.
 *
 * Thread safety: none inside; lease_observer and lease_schedule belong to
 * their caller, who serialises access (one reaper at a time per observer).
 */
#ifndef FCB_PLUGIN_LEASE_H
#define FCB_PLUGIN_LEASE_H

#include <fakecloud/backend_plugin.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LEASE_TIME_NONE INT64_MIN
/* FAKECLOUD_K8S_LEASE_SECONDS / FAKECLOUD_DOCKER_LEASE_SECONDS */
#define LEASE_SECONDS_DEFAULT 30
#define LEASE_SECONDS_MIN     1
#define LEASE_SECONDS_MAX     3600
/* How far a holder's clock may lag ours before a fresh observer reaps it. */
#define LEASE_SKEW_TOLERANCE_S 60
/* "2006-01-02T15:04:05.000000Z" plus NUL */
#define LEASE_MICROTIME_SIZE 28
/* Holder/instance ids and versions tracked by the observer (longer: untracked). */
#define LEASE_ID_MAX      64
#define LEASE_VERSION_MAX 64
/* Leases one observer tracks; more live leases are treated as alive. */
#define LEASE_OBSERVED_MAX 256

/* ------------------------------------------------------------ time text */

/*
 * metav1.MicroTime text of WALL_US (UTC, always 6 fraction digits), the form
 * kube-apiserver stores and answers. Years outside 0001..9999 are clamped.
 */
void lease_microtime_format(int64_t wall_us, char out[LEASE_MICROTIME_SIZE]);

/*
 * Parse TEXT as metav1.MicroTime decodes it (Go's time.Parse with
 * "2006-01-02T15:04:05.000000Z07:00": exactly six fraction digits, Z or
 * +hh:mm/-hh:mm). FIELD names it in the error. FCB_OK or
 * FCB_ERR_INVALID_ARGUMENT with err naming FIELD, the text and the problem.
 */
int lease_microtime_parse(const char *field, const char *text, int64_t *wall_us, fcb_error *err);

/*
 * Parse an RFC 3339 timestamp with 0 to 9 fraction digits (creationTimestamp
 * "2006-01-02T15:04:05Z", Docker's Created with nanoseconds) into
 * microseconds (fraction truncated). Errors as lease_microtime_parse.
 */
int lease_timestamp_parse(const char *field, const char *text, int64_t *wall_us, fcb_error *err);

/*
 * Lease duration from configuration KEY's VALUE (NULL or "" = default 30):
 * an integer in [LEASE_SECONDS_MIN, LEASE_SECONDS_MAX]. FCB_ERR_CONFIG with
 * err naming KEY otherwise.
 */
int lease_seconds_parse(const char *key, const char *value, int32_t *seconds, fcb_error *err);

/*
 * "Now" of one observation. wall_us should be the API server's / engine's
 * clock when the listing was answered (its HTTP Date header, lease_http_date_parse),
 * so that every wall time compared is the server's; our CLOCK_REALTIME otherwise.
 */
typedef struct lease_clock {
    int64_t mono_us; /* CLOCK_MONOTONIC */
    int64_t wall_us; /* µs since the epoch */
} lease_clock;

/* Both local clocks now (the only function here that reads a clock). */
lease_clock lease_clock_now(void);

/*
 * An HTTP Date header ("Sun, 06 Nov 1994 08:49:37 GMT", RFC 9110 IMF-fixdate)
 * in µs since the epoch. FCB_ERR_INVALID_ARGUMENT naming "Date" otherwise.
 */
int lease_http_date_parse(const char *text, int64_t *wall_us, fcb_error *err);

/* ------------------------------------------------------------ reap rule */

/* One lease as listed. Strings are borrowed for the duration of a call. */
typedef struct lease_record {
    const char *instance; /* instance the lease is for (its label / name) */
    const char *holder;   /* holderIdentity; NULL or "" = released */
    const char *version;  /* changes on every renewal (resourceVersion); NULL: renew_us is used */
    int64_t renew_us;     /* renewTime, else acquireTime; LEASE_TIME_NONE if neither */
    int64_t acquire_us;   /* acquireTime (holder's clock when it created the lease) or NONE */
    int64_t created_us;   /* creation time (API server / engine clock) or LEASE_TIME_NONE */
    int32_t duration_s;   /* leaseDurationSeconds; <= 0 = absent (caller's default) */
} lease_record;

/* The objects of one instance, summarised (lease_instances_add). */
typedef struct lease_instance {
    const char *instance;      /* borrowed */
    int64_t newest_created_us; /* creation time of its newest object; LEASE_TIME_NONE = unknown */
} lease_instance;

/*
 * Add one object of INSTANCE created at CREATED_US (LEASE_TIME_NONE if
 * unknown) to the summary ARR[*n] (capacity CAP): a new entry, or the
 * instance's entry updated to the newer time (unknown wins: never reaped by
 * age). Returns false, changing nothing, when a new entry does not fit or
 * INSTANCE is NULL/empty. O(*n) per call.
 */
bool lease_instances_add(lease_instance *arr, size_t *n, size_t cap, const char *instance,
                         int64_t created_us);

typedef struct lease_seen {
    char instance[LEASE_ID_MAX];
    char version[LEASE_VERSION_MAX];
    int64_t renew_us;
    int64_t since_mono_us; /* when we first saw this version */
    bool renewed;          /* we have seen it change at least once */
} lease_seen;

/* What one observer has seen of other instances' leases (caller-owned, ~40 KB). */
typedef struct lease_observer {
    lease_seen seen[LEASE_OBSERVED_MAX];
    size_t count;
} lease_observer;

void lease_observer_init(lease_observer *obs);

/*
 * Record one listing of leases made at NOW_MONO_US: a lease not seen before
 * starts its clock now, a changed version (or renew time) restarts it and
 * marks the lease as seen renewing, and leases no longer listed are forgotten.
 * Records with a NULL/empty or over-long instance are ignored.
 */
void lease_observe(lease_observer *obs, const lease_record *leases, size_t n, int64_t now_mono_us);

typedef enum lease_state {
    LEASE_ALIVE = 0,
    LEASE_EXPIRED,  /* not renewed for D as we observed it (or long dead, see rule 2) */
    LEASE_RELEASED, /* holderIdentity empty or not the lease's instance */
    LEASE_ABSENT,   /* no lease for the instance */
} lease_state;

const char *lease_state_name(lease_state s);

/*
 * State of LEASE (already passed to lease_observe) at NOW. A lease the
 * observer does not track (observer full, over-long id) is ALIVE.
 */
lease_state lease_state_of(const lease_observer *obs, const lease_record *lease,
                           int32_t default_seconds, lease_clock now);

typedef struct lease_verdict {
    const char *instance;      /* borrowed from the inputs */
    lease_state state;         /* EXPIRED, RELEASED or ABSENT */
    const lease_record *lease; /* its lease (delete it first), NULL when absent */
    bool has_objects;          /* it has objects to remove */
} lease_verdict;

/*
 * The reap rule (see the top of this file). Observes LEASES at NOW, then
 * writes one verdict per dead instance other than SELF_ID into DEAD (capacity
 * DEAD_CAP; further dead instances are left for the next call): instances
 * with objects (INSTANCES) first, in their order, then leases without
 * objects. Returns the number written.
 */
size_t lease_decide(lease_observer *obs, const char *self_id, const lease_record *leases,
                    size_t n_leases, const lease_instance *instances, size_t n_instances,
                    int32_t default_seconds, lease_clock now, lease_verdict *dead, size_t dead_cap);

/* ------------------------------------------------------------ renewal */

typedef struct lease_schedule {
    int64_t duration_us;
    int64_t period_us;  /* duration / 3 */
    int64_t last_ok_us; /* start of the last successful renewal (monotonic) */
    int64_t next_us;    /* start of the next attempt */
    uint64_t rng;       /* jitter state */
} lease_schedule;

/*
 * Schedule for a lease of SECONDS (LEASE_SECONDS_MIN..MAX) acquired by a
 * request that started at ACQUIRED_MONO_US. SEED (any value, e.g. from
 * getrandom) drives the jitter. FCB_ERR_INVALID_ARGUMENT for a bad duration.
 */
int lease_schedule_init(lease_schedule *s, int32_t seconds, int64_t acquired_mono_us, uint64_t seed,
                        fcb_error *err);

/* Monotonic µs at which the next renewal request should start. */
int64_t lease_schedule_next(const lease_schedule *s);

/*
 * Report the attempt that started at STARTED_MONO_US: OK or not, the next one
 * is one jittered period after its start.
 */
void lease_schedule_done(lease_schedule *s, int64_t started_mono_us, bool ok);

/* Whether the lease is still ours at NOW_MONO_US (less than D since the last success). */
bool lease_schedule_held(const lease_schedule *s, int64_t now_mono_us);

/* Monotonic µs at which the lease is lost if no renewal succeeds before. */
int64_t lease_schedule_lost_at(const lease_schedule *s);

#endif
