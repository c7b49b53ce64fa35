/*
 * lease: time text, the observer table and the reap decision as plain
 * arithmetic over caller-supplied times; the schedule as a tiny state machine.
 * Dates are converted with days-from-civil arithmetic (no timegm, no TZ).
 */
#include "lease.h"

#include "svc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define US_PER_S   INT64_C(1000000)
#define US_PER_DAY (INT64_C(86400) * US_PER_S)

/* ------------------------------------------------------------ calendar */

/* Days since 1970-01-01 of the proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

void lease_microtime_format(int64_t wall_us, char out[LEASE_MICROTIME_SIZE])
{
    const int64_t lo = days_from_civil(1, 1, 1) * US_PER_DAY;
    const int64_t hi = days_from_civil(10000, 1, 1) * US_PER_DAY - 1;
    if (wall_us < lo)
        wall_us = lo;
    if (wall_us > hi)
        wall_us = hi;
    int64_t days =
        wall_us >= 0 ? wall_us / US_PER_DAY : -((-wall_us + US_PER_DAY - 1) / US_PER_DAY);
    int64_t rest = wall_us - days * US_PER_DAY;
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    int64_t secs = rest / US_PER_S;
    snprintf(out, LEASE_MICROTIME_SIZE, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", y, m, d,
             (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60), (int)(rest % US_PER_S));
}

/* ------------------------------------------------------------ parsing */

/* N digits at *p (advanced); -1 when absent. */
static int take_digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return v;
}

static bool take_char(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

/* Fraction ".d..." with MIN..MAX digits (none allowed when MIN is 0) in µs. */
static int take_fraction(const char **p, int min, int max, int64_t *us)
{
    *us = 0;
    if (**p != '.')
        return min == 0 ? 0 : -1;
    (*p)++;
    int n = 0;
    while ((*p)[n] >= '0' && (*p)[n] <= '9' && n < max) {
        if (n < 6)
            *us = *us * 10 + ((*p)[n] - '0');
        n++;
    }
    if (n < (min > 0 ? min : 1) || ((*p)[n] >= '0' && (*p)[n] <= '9'))
        return -1;
    for (int i = n; i < 6; i++)
        *us *= 10;
    *p += n;
    return 0;
}

/* "Z", "+hh:mm" or "-hh:mm" in seconds east of UTC; false when malformed. */
static bool take_offset(const char **p, int64_t *offset_s)
{
    *offset_s = 0;
    if (take_char(p, 'Z'))
        return true;
    char sign = **p;
    if (sign != '+' && sign != '-')
        return false;
    (*p)++;
    int hh = take_digits(p, 2);
    if (hh < 0 || !take_char(p, ':'))
        return false;
    int mm = take_digits(p, 2);
    if (mm < 0 || hh > 23 || mm > 59)
        return false;
    *offset_s = (sign == '+' ? 1 : -1) * (int64_t)(hh * 3600 + mm * 60);
    return true;
}

static int parse_rfc3339(const char *field, const char *text, int frac_min, int frac_max,
                         const char *form, int64_t *wall_us, fcb_error *err)
{
    const char *p = text;
    if (text == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "%s: missing (want %s)", field, form);
    int y = take_digits(&p, 4);
    int mo = y >= 0 && take_char(&p, '-') ? take_digits(&p, 2) : -1;
    int d = mo >= 0 && take_char(&p, '-') ? take_digits(&p, 2) : -1;
    int h = d >= 0 && take_char(&p, 'T') ? take_digits(&p, 2) : -1;
    int mi = h >= 0 && take_char(&p, ':') ? take_digits(&p, 2) : -1;
    int s = mi >= 0 && take_char(&p, ':') ? take_digits(&p, 2) : -1;
    int64_t frac = 0, offset = 0;
    if (s < 0 || take_fraction(&p, frac_min, frac_max, &frac) != 0 || !take_offset(&p, &offset) ||
        *p != '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "%s: \"%.64s\" is not a time of the form %s",
                       field, text, form);
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        s > 59)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "%s: \"%.64s\" has a date or time field out of range", field, text);
    *wall_us =
        (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset) * US_PER_S + frac;
    return FCB_OK;
}

int lease_microtime_parse(const char *field, const char *text, int64_t *wall_us, fcb_error *err)
{
    return parse_rfc3339(field, text, 6, 6, "2006-01-02T15:04:05.000000Z", wall_us, err);
}

int lease_timestamp_parse(const char *field, const char *text, int64_t *wall_us, fcb_error *err)
{
    return parse_rfc3339(field, text, 0, 9, "2006-01-02T15:04:05Z (RFC 3339)", wall_us, err);
}

int lease_seconds_parse(const char *key, const char *value, int32_t *seconds, fcb_error *err)
{
    if (value == NULL || value[0] == '\0') {
        *seconds = LEASE_SECONDS_DEFAULT;
        return FCB_OK;
    }
    char *end = NULL;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || value[0] == ' ' || value[0] == '+' ||
        v < LEASE_SECONDS_MIN || v > LEASE_SECONDS_MAX)
        return err_set(err, FCB_ERR_CONFIG,
                       "%s: \"%.32s\" is not a lease duration: want whole seconds from %d to %d",
                       key, value, LEASE_SECONDS_MIN, LEASE_SECONDS_MAX);
    *seconds = (int32_t)v;
    return FCB_OK;
}

lease_clock lease_clock_now(void)
{
    struct timespec m, w;
    clock_gettime(CLOCK_MONOTONIC, &m);
    clock_gettime(CLOCK_REALTIME, &w);
    return (lease_clock){.mono_us = (int64_t)m.tv_sec * US_PER_S + m.tv_nsec / 1000,
                         .wall_us = (int64_t)w.tv_sec * US_PER_S + w.tv_nsec / 1000};
}

/* ------------------------------------------------------------ observer */

bool lease_instances_add(lease_instance *arr, size_t *n, size_t cap, const char *instance,
                         int64_t created_us)
{
    if (instance == NULL || instance[0] == '\0')
        return false;
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(arr[i].instance, instance) != 0)
            continue;
        if (arr[i].newest_created_us != LEASE_TIME_NONE &&
            (created_us == LEASE_TIME_NONE || created_us > arr[i].newest_created_us))
            arr[i].newest_created_us = created_us;
        return true;
    }
    if (*n >= cap)
        return false;
    arr[*n] = (lease_instance){.instance = instance, .newest_created_us = created_us};
    (*n)++;
    return true;
}

void lease_observer_init(lease_observer *obs)
{
    memset(obs, 0, sizeof *obs);
}

static bool id_fits(const char *s, size_t max)
{
    return s != NULL && s[0] != '\0' && strlen(s) < max;
}

static lease_seen *observer_find(const lease_observer *obs, const char *instance)
{
    for (size_t i = 0; i < obs->count; i++)
        if (strcmp(obs->seen[i].instance, instance) == 0)
            return (lease_seen *)&obs->seen[i];
    return NULL;
}

static bool record_listed(const lease_record *leases, size_t n, const char *instance)
{
    for (size_t i = 0; i < n; i++)
        if (leases[i].instance != NULL && strcmp(leases[i].instance, instance) == 0)
            return true;
    return false;
}

/* The lease that stands for INSTANCE: the first one it holds, else the last listed. */
static const lease_record *lease_for(const lease_record *leases, size_t n, const char *instance)
{
    const lease_record *found = NULL;
    for (size_t i = 0; i < n; i++) {
        if (leases[i].instance == NULL || strcmp(leases[i].instance, instance) != 0)
            continue;
        if (leases[i].holder != NULL && strcmp(leases[i].holder, instance) == 0)
            return &leases[i]; /* a held lease wins over a released duplicate */
        found = &leases[i];
    }
    return found;
}

/* The version text of a record: its version, else its renew time in decimal. */
static void record_version(const lease_record *l, char out[LEASE_VERSION_MAX])
{
    if (l->version != NULL && l->version[0] != '\0')
        snprintf(out, LEASE_VERSION_MAX, "v%s", l->version);
    else
        snprintf(out, LEASE_VERSION_MAX, "t%lld", (long long)l->renew_us);
}

/* renewTime moved to the server's clock by the holder's offset at creation, when known. */
static int64_t server_renew_time(const lease_record *l)
{
    if (l->renew_us == LEASE_TIME_NONE || l->acquire_us == LEASE_TIME_NONE ||
        l->created_us == LEASE_TIME_NONE)
        return l->renew_us;
    return l->renew_us - (l->acquire_us - l->created_us);
}

void lease_observe(lease_observer *obs, const lease_record *leases, size_t n, int64_t now_mono_us)
{
    size_t kept = 0;
    for (size_t i = 0; i < obs->count; i++) /* forget leases no longer listed */
        if (record_listed(leases, n, obs->seen[i].instance))
            obs->seen[kept++] = obs->seen[i];
    obs->count = kept;
    for (size_t i = 0; i < n; i++) {
        const lease_record *l = &leases[i];
        char version[LEASE_VERSION_MAX];
        if (!id_fits(l->instance, LEASE_ID_MAX) || lease_for(leases, n, l->instance) != l)
            continue; /* duplicates of an instance: only the lease that stands for it */
        record_version(l, version);
        lease_seen *e = observer_find(obs, l->instance);
        if (e == NULL) {
            if (obs->count >= LEASE_OBSERVED_MAX)
                continue;
            e = &obs->seen[obs->count++];
            memset(e, 0, sizeof *e);
            snprintf(e->instance, sizeof e->instance, "%s", l->instance);
        } else if (strcmp(e->version, version) == 0) {
            continue;
        } else {
            e->renewed = true;
        }
        snprintf(e->version, sizeof e->version, "%s", version);
        e->renew_us = server_renew_time(l);
        e->since_mono_us = now_mono_us;
    }
}

const char *lease_state_name(lease_state s)
{
    switch (s) {
    case LEASE_ALIVE: return "alive";
    case LEASE_EXPIRED: return "expired";
    case LEASE_RELEASED: return "released";
    case LEASE_ABSENT: return "absent";
    }
    return "unknown";
}

static int64_t duration_us(int32_t lease_s, int32_t default_s)
{
    return (int64_t)(lease_s > 0 ? lease_s : default_s) * US_PER_S;
}

lease_state lease_state_of(const lease_observer *obs, const lease_record *lease,
                           int32_t default_seconds, lease_clock now)
{
    if (lease->holder == NULL || lease->holder[0] == '\0' || lease->instance == NULL ||
        strcmp(lease->holder, lease->instance) != 0)
        return LEASE_RELEASED;
    if (!id_fits(lease->instance, LEASE_ID_MAX))
        return LEASE_ALIVE;
    const lease_seen *e = observer_find(obs, lease->instance);
    if (e == NULL)
        return LEASE_ALIVE; /* untracked (observer full): never reaped */
    int64_t d = duration_us(lease->duration_s, default_seconds);
    if (now.mono_us - e->since_mono_us >= d)
        return LEASE_EXPIRED;
    if (!e->renewed && e->renew_us != LEASE_TIME_NONE) {
        int64_t renew = e->renew_us < now.wall_us ? e->renew_us : now.wall_us;
        if (now.wall_us - renew >= 2 * d + LEASE_SKEW_TOLERANCE_S * US_PER_S)
            return LEASE_EXPIRED;
    }
    return LEASE_ALIVE;
}

/* ------------------------------------------------------------ decision */

static bool old_enough(int64_t created_us, int64_t d_us, lease_clock now)
{
    return created_us != LEASE_TIME_NONE && now.wall_us - created_us >= d_us;
}

static bool is_self(const char *self_id, const char *instance)
{
    return self_id != NULL && strcmp(self_id, instance) == 0;
}

size_t lease_decide(lease_observer *obs, const char *self_id, const lease_record *leases,
                    size_t n_leases, const lease_instance *instances, size_t n_instances,
                    int32_t default_seconds, lease_clock now, lease_verdict *dead, size_t dead_cap)
{
    size_t n = 0;
    lease_observe(obs, leases, n_leases, now.mono_us);
    for (size_t i = 0; i < n_instances && n < dead_cap; i++) {
        const lease_instance *in = &instances[i];
        if (in->instance == NULL || is_self(self_id, in->instance))
            continue;
        const lease_record *l = lease_for(leases, n_leases, in->instance);
        lease_state st = l != NULL ? lease_state_of(obs, l, default_seconds, now) : LEASE_ABSENT;
        int64_t d = duration_us(l != NULL ? l->duration_s : 0, default_seconds);
        if (st == LEASE_ALIVE || !old_enough(in->newest_created_us, d, now))
            continue;
        dead[n++] =
            (lease_verdict){.instance = in->instance, .state = st, .lease = l, .has_objects = true};
    }
    for (size_t i = 0; i < n_leases && n < dead_cap; i++) {
        const lease_record *l = &leases[i];
        bool has_objects = false;
        if (l->instance == NULL || l->instance[0] == '\0' || is_self(self_id, l->instance) ||
            lease_for(leases, n_leases, l->instance) != l)
            continue;
        for (size_t j = 0; j < n_instances && !has_objects; j++)
            has_objects =
                instances[j].instance != NULL && strcmp(instances[j].instance, l->instance) == 0;
        if (has_objects)
            continue; /* decided above */
        lease_state st = lease_state_of(obs, l, default_seconds, now);
        int64_t d = duration_us(l->duration_s, default_seconds);
        if (st != LEASE_ALIVE && old_enough(l->created_us, d, now))
            dead[n++] = (lease_verdict){.instance = l->instance, .state = st, .lease = l};
    }
    return n;
}

/* ------------------------------------------------------------ renewal */

static uint64_t next_random(uint64_t *state)
{
    /* splitmix64: any seed (0 included) gives a full-period sequence */
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* One period minus a jitter in [0, period/10]. */
static int64_t jittered_period(lease_schedule *s)
{
    int64_t span = s->period_us / 10;
    int64_t j = span > 0 ? (int64_t)(next_random(&s->rng) % (uint64_t)(span + 1)) : 0;
    return s->period_us - j;
}

int lease_schedule_init(lease_schedule *s, int32_t seconds, int64_t acquired_mono_us, uint64_t seed,
                        fcb_error *err)
{
    if (seconds < LEASE_SECONDS_MIN || seconds > LEASE_SECONDS_MAX)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "lease duration %d s is outside %d..%d seconds", (int)seconds,
                       LEASE_SECONDS_MIN, LEASE_SECONDS_MAX);
    memset(s, 0, sizeof *s);
    s->duration_us = (int64_t)seconds * US_PER_S;
    s->period_us = s->duration_us / 3;
    s->rng = seed;
    s->last_ok_us = acquired_mono_us;
    s->next_us = acquired_mono_us + jittered_period(s);
    return FCB_OK;
}

int64_t lease_schedule_next(const lease_schedule *s)
{
    return s->next_us;
}

void lease_schedule_done(lease_schedule *s, int64_t started_mono_us, bool ok)
{
    if (ok && started_mono_us > s->last_ok_us)
        s->last_ok_us = started_mono_us;
    s->next_us = started_mono_us + jittered_period(s);
}

bool lease_schedule_held(const lease_schedule *s, int64_t now_mono_us)
{
    return now_mono_us - s->last_ok_us < s->duration_us;
}

int64_t lease_schedule_lost_at(const lease_schedule *s)
{
    return s->last_ok_us + s->duration_us;
}

int lease_http_date_parse(const char *text, int64_t *wall_us, fcb_error *err)
{
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char wday[4], mon[4], zone[4];
    int d = 0, y = 0, h = 0, mi = 0, s = 0, used = 0, m = 0;
    if (text == NULL ||
        sscanf(text, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d %3s%n", wday, &d, mon, &y, &h, &mi,
               &s, zone, &used) != 8 ||
        text[used] != '\0' || strcmp(zone, "GMT") != 0)
        goto bad;
    while (m < 12 && strcmp(months[m], mon) != 0)
        m++;
    if (m == 12 || y < 1 || d < 1 || d > days_in_month(y, m + 1) || h > 23 || mi > 59 || s > 60)
        goto bad;
    *wall_us =
        (days_from_civil(y, m + 1, d) * 86400 + h * 3600 + mi * 60 + (s > 59 ? 59 : s)) * US_PER_S;
    return FCB_OK;
bad:
    return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                   "Date: \"%.64s\" is not an HTTP date (Sun, 06 Nov 1994 08:49:37 GMT)",
                   text != NULL ? text : "(null)");
}
