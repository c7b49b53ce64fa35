/* Unit tests of plugin/common/lease: time text, the reap rule, the renewal schedule. */
#include "lease.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(x)  ((int64_t)(x)*INT64_C(1000000))
#define MS(x) ((int64_t)(x)*INT64_C(1000))
/* 2026-01-02T03:04:05Z */
#define T0 S(1767323045)

static lease_clock at(int64_t mono_us, int64_t wall_us)
{
    return (lease_clock){.mono_us = mono_us, .wall_us = wall_us};
}

/* ------------------------------------------------------------ time text */

Test(lease_microtime, formats_like_kube_apiserver)
{
    char buf[LEASE_MICROTIME_SIZE];
    lease_microtime_format(0, buf);
    cr_assert_str_eq(buf, "1970-01-01T00:00:00.000000Z");
    lease_microtime_format(T0 + 123456, buf);
    cr_assert_str_eq(buf, "2026-01-02T03:04:05.123456Z");
    lease_microtime_format(S(951782400) + 7, buf); /* leap day 2000 */
    cr_assert_str_eq(buf, "2000-02-29T00:00:00.000007Z");
    lease_microtime_format(-1, buf);
    cr_assert_str_eq(buf, "1969-12-31T23:59:59.999999Z");
}

Test(lease_microtime, parses_what_it_formats_and_offsets)
{
    fcb_error err = {0};
    int64_t t = 0;
    char buf[LEASE_MICROTIME_SIZE];
    for (int64_t v = -S(86400) * 700000; v < S(86400) * 2900000; v += S(86400) * 7919 + 987654) {
        lease_microtime_format(v, buf);
        cr_assert_eq(lease_microtime_parse("spec.renewTime", buf, &t, &err), FCB_OK, "%s", buf);
        cr_assert_eq(t, v, "%s", buf);
    }
    cr_assert_eq(lease_microtime_parse("f", "2026-01-02T05:34:05.123456+02:30", &t, &err), FCB_OK);
    cr_assert_eq(t, T0 + 123456);
    cr_assert_eq(lease_microtime_parse("f", "2026-01-01T23:04:05.000000-04:00", &t, &err), FCB_OK);
    cr_assert_eq(t, T0);
    cr_assert_eq(lease_microtime_parse("f", "2024-02-29T00:00:00.000000Z", &t, &err), FCB_OK);
}

Test(lease_microtime, refuses_what_go_refuses_naming_the_field)
{
    static const char *const bad[] = {
        "2026-01-02T03:04:05Z",         /* no fraction */
        "2026-01-02T03:04:05.12345Z",   /* five digits */
        "2026-01-02T03:04:05.1234567Z", /* seven digits */
        "2026-01-02 03:04:05.000000Z",  /* no T */
        "2026-13-02T03:04:05.000000Z",  /* month */
        "2026-02-29T03:04:05.000000Z",  /* not a leap year */
        "2100-02-29T03:04:05.000000Z",  /* not a leap year either */
        "2026-01-02T24:00:00.000000Z",  /* hour */
        "2026-01-02T03:04:05.000000",   /* no zone */
        "2026-01-02T03:04:05.000000+0200",
        "2026-01-02T03:04:05.000000Zx", /* trailing text */
        "",
        "0000-01-01T00:00:00.000000Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fcb_error err = {0};
        int64_t t = 42;
        cr_assert_eq(lease_microtime_parse("spec.renewTime", bad[i], &t, &err),
                     FCB_ERR_INVALID_ARGUMENT, "%s", bad[i]);
        cr_assert(strstr(err.message, "spec.renewTime: ") == err.message, "%s", err.message);
        cr_assert_eq(t, 42, "untouched on error");
    }
    fcb_error err = {0};
    int64_t t = 0;
    cr_assert_eq(lease_microtime_parse("spec.acquireTime", NULL, &t, &err),
                 FCB_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "spec.acquireTime") != NULL);
}

Test(lease_timestamp, accepts_seconds_and_nanoseconds)
{
    fcb_error err = {0};
    int64_t t = 0;
    cr_assert_eq(
        lease_timestamp_parse("metadata.creationTimestamp", "2026-01-02T03:04:05Z", &t, &err),
        FCB_OK);
    cr_assert_eq(t, T0);
    cr_assert_eq(lease_timestamp_parse("Created", "2026-01-02T03:04:05.123456789Z", &t, &err),
                 FCB_OK);
    cr_assert_eq(t, T0 + 123456, "nanoseconds truncated to microseconds");
    cr_assert_eq(lease_timestamp_parse("Created", "2026-01-02T03:04:05.5+00:00", &t, &err), FCB_OK);
    cr_assert_eq(t, T0 + 500000);
    cr_assert_eq(lease_timestamp_parse("Created", "2026-01-02T03:04:05.Z", &t, &err),
                 FCB_ERR_INVALID_ARGUMENT);
    cr_assert_eq(lease_timestamp_parse("Created", "2026-01-02T03:04:05.1234567890Z", &t, &err),
                 FCB_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "Created: ") == err.message, "%s", err.message);
}

Test(lease_seconds, default_range_and_errors_naming_the_key)
{
    int32_t s = 0;
    fcb_error err = {0};
    cr_assert_eq(lease_seconds_parse("FAKECLOUD_K8S_LEASE_SECONDS", NULL, &s, &err), FCB_OK);
    cr_assert_eq(s, 30);
    cr_assert_eq(lease_seconds_parse("FAKECLOUD_K8S_LEASE_SECONDS", "", &s, &err), FCB_OK);
    cr_assert_eq(s, 30);
    cr_assert_eq(lease_seconds_parse("FAKECLOUD_K8S_LEASE_SECONDS", "1", &s, &err), FCB_OK);
    cr_assert_eq(s, 1);
    cr_assert_eq(lease_seconds_parse("FAKECLOUD_K8S_LEASE_SECONDS", "3600", &s, &err), FCB_OK);
    cr_assert_eq(s, 3600);
    static const char *const bad[] = {
        "0", "-5", "3601", "30s", " 30", "+30", "abc", "1e3", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = 7;
        cr_assert_eq(lease_seconds_parse("FAKECLOUD_K8S_LEASE_SECONDS", bad[i], &s, &err),
                     FCB_ERR_CONFIG, "%s", bad[i]);
        cr_assert_eq(s, 7);
        cr_assert(strstr(err.message, "FAKECLOUD_K8S_LEASE_SECONDS") != NULL, "%s", err.message);
    }
}

/* ------------------------------------------------------------ instances */

Test(lease_instances_add, keeps_the_newest_creation_per_instance)
{
    lease_instance arr[2];
    size_t n = 0;
    cr_assert(lease_instances_add(arr, &n, 2, "a", S(10)));
    cr_assert(lease_instances_add(arr, &n, 2, "b", S(5)));
    cr_assert(lease_instances_add(arr, &n, 2, "a", S(30)));
    cr_assert(lease_instances_add(arr, &n, 2, "a", S(20)));
    cr_assert_eq(n, 2);
    cr_assert_eq(arr[0].newest_created_us, S(30));
    cr_assert_not(lease_instances_add(arr, &n, 2, "c", S(1)), "full");
    cr_assert_not(lease_instances_add(arr, &n, 2, "", S(1)));
    cr_assert_not(lease_instances_add(arr, &n, 2, NULL, S(1)));
    cr_assert(lease_instances_add(arr, &n, 2, "b", LEASE_TIME_NONE));
    cr_assert(lease_instances_add(arr, &n, 2, "b", S(99)));
    cr_assert_eq(arr[1].newest_created_us, LEASE_TIME_NONE, "unknown age sticks: never reaped");
    cr_assert_eq(n, 2);
}

/* ------------------------------------------------------------ lease state */

static lease_observer obs;

static lease_record rec(const char *inst, const char *version, int64_t renew_us, int32_t d)
{
    return (lease_record){.instance = inst,
                          .holder = inst,
                          .version = version,
                          .renew_us = renew_us,
                          .acquire_us = LEASE_TIME_NONE,
                          .created_us = T0 - S(3600),
                          .duration_s = d};
}

static lease_state observe_state(lease_record *l, lease_clock now)
{
    lease_observe(&obs, l, 1, now.mono_us);
    return lease_state_of(&obs, l, 30, now);
}

Test(lease_state, a_lease_expires_after_its_duration_unchanged_on_our_clock)
{
    lease_observer_init(&obs);
    lease_record l = rec("a", "10", T0, 30);
    cr_assert_eq(observe_state(&l, at(S(100), T0)), LEASE_ALIVE);
    cr_assert_eq(observe_state(&l, at(S(129), T0 + S(29))), LEASE_ALIVE);
    cr_assert_eq(observe_state(&l, at(S(130), T0 + S(30))), LEASE_EXPIRED);
    l.version = "11"; /* renewed: the clock restarts at this observation */
    cr_assert_eq(observe_state(&l, at(S(131), T0 + S(31))), LEASE_ALIVE);
    cr_assert_eq(observe_state(&l, at(S(160), T0 + S(60))), LEASE_ALIVE);
    cr_assert_eq(observe_state(&l, at(S(161), T0 + S(61))), LEASE_EXPIRED);
}

Test(lease_state, a_holder_clock_far_behind_ours_is_alive_while_it_renews)
{
    lease_observer_init(&obs);
    /* the holder's clock is an hour behind: its renewTime looks an hour old */
    lease_record l = rec("a", "1", T0 - S(3600), 30);
    lease_observer_init(&obs);
    lease_observe(&obs, &l, 1, S(0)); /* first sighting long ago... */
    l.version = "2";
    l.renew_us = T0 - S(3600) + S(10);
    cr_assert_eq(observe_state(&l, at(S(10), T0 + S(10))), LEASE_ALIVE, "seen renewing");
    l.version = "3";
    l.renew_us += S(10);
    cr_assert_eq(observe_state(&l, at(S(20), T0 + S(20))), LEASE_ALIVE);
    cr_assert_eq(observe_state(&l, at(S(49), T0 + S(49))), LEASE_ALIVE);
    cr_assert_eq(observe_state(&l, at(S(50), T0 + S(50))), LEASE_EXPIRED, "stopped renewing");
}

Test(lease_state, a_fresh_observer_trusts_renew_time_only_beyond_the_skew_tolerance)
{
    int64_t limit = 2 * S(30) + S(LEASE_SKEW_TOLERANCE_S);
    lease_observer_init(&obs);
    lease_record lag = rec("a", "1", T0 - limit + S(1), 30);
    cr_assert_eq(observe_state(&lag, at(S(5), T0)), LEASE_ALIVE,
                 "a holder lagging less than D + tolerance is not reaped on first sight");
    lease_observer_init(&obs);
    lease_record dead = rec("a", "1", T0 - limit, 30);
    cr_assert_eq(observe_state(&dead, at(S(5), T0)), LEASE_EXPIRED,
                 "a lease not renewed for 2D + tolerance is dead without waiting D");
    /* once seen renewing, the renew time no longer matters */
    lease_observer_init(&obs);
    lease_observe(&obs, &dead, 1, S(1));
    dead.version = "2";
    cr_assert_eq(observe_state(&dead, at(S(5), T0)), LEASE_ALIVE);
}

Test(lease_state, a_renew_time_in_the_future_counts_as_now_and_still_expires)
{
    lease_observer_init(&obs);
    lease_record l = rec("a", "1", T0 + S(86400), 30); /* the holder's clock is a day ahead */
    cr_assert_eq(observe_state(&l, at(S(0), T0)), LEASE_ALIVE);
    cr_assert_eq(observe_state(&l, at(S(29), T0 + S(29))), LEASE_ALIVE);
    cr_assert_eq(observe_state(&l, at(S(30), T0 + S(30))), LEASE_EXPIRED,
                 "a renewTime in the future keeps nothing alive beyond D unchanged");
}

Test(lease_state, without_a_version_the_renew_time_is_the_version)
{
    lease_observer_init(&obs);
    lease_record l = rec("a", NULL, T0, 30);
    cr_assert_eq(observe_state(&l, at(S(0), T0)), LEASE_ALIVE);
    l.renew_us = T0 + S(10);
    cr_assert_eq(observe_state(&l, at(S(25), T0 + S(25))), LEASE_ALIVE);
    cr_assert_eq(observe_state(&l, at(S(54), T0 + S(54))), LEASE_ALIVE);
    cr_assert_eq(observe_state(&l, at(S(55), T0 + S(55))), LEASE_EXPIRED);
}

Test(lease_state, released_taken_and_untracked_leases)
{
    lease_observer_init(&obs);
    lease_record l = rec("a", "1", T0, 30);
    l.holder = "";
    cr_assert_eq(observe_state(&l, at(S(0), T0)), LEASE_RELEASED);
    l.holder = NULL;
    cr_assert_eq(observe_state(&l, at(S(0), T0)), LEASE_RELEASED);
    l.holder = "b";
    cr_assert_eq(observe_state(&l, at(S(0), T0)), LEASE_RELEASED);
    /* an id longer than the observer tracks is never reaped */
    char longid[LEASE_ID_MAX + 8];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    lease_record lng = rec(longid, "1", T0 - S(86400), 30);
    cr_assert_eq(observe_state(&lng, at(S(0), T0)), LEASE_ALIVE);
    cr_assert_eq(observe_state(&lng, at(S(1000), T0 + S(1000))), LEASE_ALIVE);
    cr_assert_str_eq(lease_state_name(LEASE_EXPIRED), "expired");
    cr_assert_str_eq(lease_state_name(LEASE_ABSENT), "absent");
}

Test(lease_observe, forgets_unlisted_leases_and_caps_what_it_tracks)
{
    static lease_record many[LEASE_OBSERVED_MAX + 1];
    static char ids[LEASE_OBSERVED_MAX + 1][16];
    lease_observer_init(&obs);
    for (size_t i = 0; i <= LEASE_OBSERVED_MAX; i++) {
        snprintf(ids[i], sizeof ids[i], "i%zu", i);
        many[i] = rec(ids[i], "1", T0 - S(86400), 30);
    }
    lease_observe(&obs, many, LEASE_OBSERVED_MAX + 1, S(0));
    cr_assert_eq(obs.count, LEASE_OBSERVED_MAX);
    lease_clock later = at(S(100), T0 + S(100));
    cr_assert_eq(lease_state_of(&obs, &many[0], 30, later), LEASE_EXPIRED);
    cr_assert_eq(lease_state_of(&obs, &many[LEASE_OBSERVED_MAX], 30, later), LEASE_ALIVE,
                 "untracked: alive");
    lease_observe(&obs, many + 1, 1, S(100));
    cr_assert_eq(obs.count, 1, "unlisted leases forgotten");
    /* a lease that reappears starts over */
    lease_observe(&obs, many, 2, S(100));
    cr_assert_eq(lease_state_of(&obs, &many[0], 30, at(S(101), T0 - S(86400) + S(1))), LEASE_ALIVE);
}

/* ------------------------------------------------------------ decision */

Test(lease_decide, reaps_only_dead_instances_whose_objects_are_old)
{
    lease_observer_init(&obs);
    lease_record leases[] = {
        rec("self", "1", T0 - S(9999), 30),   /* ours: never */
        rec("live", "1", T0, 30),             /* alive */
        rec("gone", "1", T0 - S(9999), 30),   /* expired, old objects */
        rec("young", "1", T0 - S(9999), 30),  /* expired, a young object */
        rec("lonely", "1", T0 - S(9999), 30), /* expired, no objects */
    };
    lease_instance inst[] = {
        {"self", T0 - S(9999)},
        {"live", T0 - S(9999)},
        {"gone", T0 - S(100)},
        {"young", T0 - S(10)},
        {"nolease", T0 - S(31)},
        {"nolease-new", T0 - S(29)},
        {"unknown-age", LEASE_TIME_NONE},
    };
    lease_verdict dead[8];
    size_t n = lease_decide(&obs, "self", leases, 5, inst, 7, 30, at(S(1), T0), dead, 8);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(dead[0].instance, "gone");
    cr_assert_eq(dead[0].state, LEASE_EXPIRED);
    cr_assert_eq(dead[0].lease, &leases[2]);
    cr_assert(dead[0].has_objects);
    cr_assert_str_eq(dead[1].instance, "nolease");
    cr_assert_eq(dead[1].state, LEASE_ABSENT);
    cr_assert_null(dead[1].lease);
    cr_assert_str_eq(dead[2].instance, "lonely");
    cr_assert_eq(dead[2].lease, &leases[4]);
    cr_assert_not(dead[2].has_objects);
    /* the capacity bounds the answer */
    cr_assert_eq(lease_decide(&obs, "self", leases, 5, inst, 7, 30, at(S(2), T0), dead, 1), 1);
    cr_assert_str_eq(dead[0].instance, "gone");
}

Test(lease_decide, a_lease_only_instance_is_reaped_when_the_lease_is_old)
{
    lease_observer_init(&obs);
    lease_record l = rec("x", "1", T0 - S(9999), 30);
    l.holder = ""; /* released */
    l.created_us = T0 - S(10);
    lease_verdict dead[2];
    cr_assert_eq(lease_decide(&obs, "self", &l, 1, NULL, 0, 30, at(S(1), T0), dead, 2), 0,
                 "a lease created 10 s ago is left alone");
    cr_assert_eq(lease_decide(&obs, "self", &l, 1, NULL, 0, 30, at(S(30), T0 + S(20)), dead, 2), 1);
    cr_assert_eq(dead[0].state, LEASE_RELEASED);
}

Test(lease_decide, a_held_lease_wins_over_a_released_duplicate)
{
    lease_observer_init(&obs);
    lease_record ls[] = {rec("a", "1", T0, 30), rec("a", "2", T0, 30)};
    ls[0].holder = "";
    lease_instance in = {"a", T0 - S(9999)};
    lease_verdict dead[2];
    cr_assert_eq(lease_decide(&obs, "self", ls, 2, &in, 1, 30, at(S(1), T0), dead, 2), 0);
}

/* ------------------------------------------------------------ schedule */

Test(lease_schedule, one_request_per_period_with_jitter)
{
    lease_schedule s;
    fcb_error err = {0};
    cr_assert_eq(lease_schedule_init(&s, 30, S(1000), 12345, &err), FCB_OK);
    int64_t prev = S(1000), lo = S(10), hi = 0;
    bool varied = false;
    for (int i = 0; i < 200; i++) {
        int64_t next = lease_schedule_next(&s);
        int64_t gap = next - prev;
        cr_assert(gap >= S(9) && gap <= S(10), "gap %lld", (long long)gap);
        varied |= gap != S(10) && hi != 0 && gap != hi;
        lo = gap < lo ? gap : lo;
        hi = gap > hi ? gap : hi;
        lease_schedule_done(&s, next, i % 3 != 0);
        prev = next;
    }
    cr_assert(varied && hi > lo, "jittered");
}

Test(lease_schedule, faults_never_lose_the_lease_before_its_duration)
{
    lease_schedule s;
    cr_assert_eq(lease_schedule_init(&s, 30, S(0), 7, NULL), FCB_OK);
    int64_t a = lease_schedule_next(&s);
    lease_schedule_done(&s, a, true); /* succeeded at a */
    int64_t b = lease_schedule_next(&s);
    cr_assert(b > a);
    lease_schedule_done(&s, b, false);
    int64_t c = lease_schedule_next(&s);
    cr_assert(c < a + S(30), "the failed renewal is retried before the lease runs out");
    lease_schedule_done(&s, c, false);
    cr_assert(lease_schedule_held(&s, a + S(30) - 1));
    cr_assert_not(lease_schedule_held(&s, a + S(30)));
    cr_assert_eq(lease_schedule_lost_at(&s), a + S(30));
    int64_t d = lease_schedule_next(&s);
    lease_schedule_done(&s, d, true); /* a late success restores it */
    cr_assert(lease_schedule_held(&s, d + S(29)));
    lease_schedule_done(&s, d - S(5), true); /* an older success never moves it back */
    cr_assert_eq(lease_schedule_lost_at(&s), d + S(30));
}

Test(lease_schedule, refuses_durations_out_of_range)
{
    lease_schedule s;
    fcb_error err = {0};
    cr_assert_eq(lease_schedule_init(&s, 0, 0, 0, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "lease duration 0 s") != NULL, "%s", err.message);
    cr_assert_eq(lease_schedule_init(&s, 3601, 0, 0, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_assert_eq(lease_schedule_init(&s, 1, 0, 0, &err), FCB_OK);
    cr_assert_eq(s.period_us, MS(1000) / 3);
}

/* ------------------------------------------------------------ two hosts, simulated */

typedef struct sim_host {
    const char *id;
    lease_schedule sched;
    lease_observer obs;
    int64_t skew_us; /* its wall clock minus the true time */
    int64_t version;
    int64_t renew_us; /* renewTime it last wrote (its own clock) */
    int64_t last_ok_us;
    bool crashed;
    int64_t crash_us;
} sim_host;

/*
 * Two hosts renew their leases through an API that fails 40% of requests;
 * A's clock runs from an hour behind to 10 minutes ahead; each reaps every 1-3 s.
 * Neither ever finds the other dead while it holds its lease; after A
 * crashes, B finds it dead within two lease durations.
 */
static void run_two_hosts(int64_t skew_a, int64_t skew_b, unsigned seed)
{
    static sim_host h[2];
    const int32_t dur = 6;
    memset(h, 0, sizeof h);
    h[0].id = "host-a";
    h[1].id = "host-b";
    h[0].skew_us = skew_a;
    h[1].skew_us = skew_b;
    for (int i = 0; i < 2; i++) {
        lease_observer_init(&h[i].obs);
        cr_assert_eq(lease_schedule_init(&h[i].sched, dur, 0, seed + i, NULL), FCB_OK);
        h[i].version = 1;
        h[i].renew_us = T0 + h[i].skew_us;
    }
    int64_t next_reap[2] = {MS(500), MS(700)};
    int64_t crash_at = S(120);
    bool found_dead = false;
    int lost = 0;
    for (int64_t t = 0; t < S(200); t += MS(50)) {
        if (!h[0].crashed && t >= crash_at) {
            h[0].crashed = true;
            h[0].crash_us = t;
        }
        for (int i = 0; i < 2; i++) {
            sim_host *me = &h[i];
            if (me->crashed || t < lease_schedule_next(&me->sched))
                continue;
            bool ok = rand_r(&seed) % 10 >= 4;
            if (ok) {
                me->version++;
                me->renew_us = T0 + t + me->skew_us;
                me->last_ok_us = t;
            }
            lease_schedule_done(&me->sched, t, ok);
            cr_assert_eq(lease_schedule_held(&me->sched, t), t - me->last_ok_us < S(dur),
                         "%s's lease: held exactly until D after its last success", me->id);
            lost += !lease_schedule_held(&me->sched, t);
        }
        for (int i = 0; i < 2; i++) {
            sim_host *me = &h[i], *other = &h[1 - i];
            if (me->crashed || t < next_reap[i])
                continue;
            next_reap[i] = t + S(1) + (int64_t)(rand_r(&seed) % 2000) * MS(1);
            char v[24];
            snprintf(v, sizeof v, "%lld", (long long)other->version);
            lease_record l = rec(other->id, v, other->renew_us, dur);
            l.acquire_us = T0 + other->skew_us; /* created at true time 0 */
            l.created_us = T0;
            lease_instance in = {other->id, T0 - S(3600)};
            lease_verdict dead[1];
            /* "now" on the server's clock (the Date of the list answer), as the
             * backends pass it; the holders' own clocks are skewed */
            size_t n = lease_decide(&me->obs, me->id, &l, 1, &in, 1, dur, at(t, T0 + t), dead, 1);
            if (n == 0)
                continue;
            cr_assert(other->crashed || !lease_schedule_held(&other->sched, t),
                      "%s reaped live %s at t=%lld ms", me->id, other->id, (long long)(t / 1000));
            if (other->crashed && !found_dead) {
                found_dead = true;
                cr_assert(t - other->crash_us <= 2 * S(dur), "crash found after %lld ms",
                          (long long)((t - other->crash_us) / 1000));
            }
        }
    }
    cr_assert(found_dead, "the crashed host was never found dead");
    cr_assert(lost < 20, "faults lost the lease %d times", lost);
}

Test(lease_simulation, two_hosts_with_faults_and_skew_never_reap_each_other_alive)
{
    static const int64_t skews[] = {0, -S(2), S(2), -S(60), S(600), -S(3600)};
    for (size_t i = 0; i < sizeof skews / sizeof skews[0]; i++)
        for (unsigned seed = 1; seed <= 5; seed++)
            run_two_hosts(skews[i], skews[(i + 1) % 6], seed * 7919 + (unsigned)i);
}

Test(lease_state, a_fresh_observer_corrects_renew_time_by_the_holder_offset)
{
    /* the holder's clock is an hour behind; it created its lease at true T0 - 100 s */
    lease_record l = rec("a", "1", T0 - S(3600) - S(5), 30);
    l.acquire_us = T0 - S(100) - S(3600);
    l.created_us = T0 - S(100);
    lease_observer_init(&obs);
    cr_assert_eq(observe_state(&l, at(S(1), T0)), LEASE_ALIVE,
                 "renewed 5 s ago on the server's clock");
    l.renew_us = T0 - S(3600) - S(200); /* would be 200 s ago: dead */
    l.acquire_us = T0 - S(300) - S(3600);
    l.created_us = T0 - S(300);
    lease_observer_init(&obs);
    cr_assert_eq(observe_state(&l, at(S(1), T0)), LEASE_EXPIRED);
    l.acquire_us = LEASE_TIME_NONE; /* no estimate: the renew time as is (an hour old) */
    lease_observer_init(&obs);
    cr_assert_eq(observe_state(&l, at(S(1), T0)), LEASE_EXPIRED);
}

Test(lease_http_date, parses_imf_fixdate_only)
{
    int64_t t = 0;
    fcb_error err = {0};
    cr_assert_eq(lease_http_date_parse("Fri, 02 Jan 2026 03:04:05 GMT", &t, &err), FCB_OK);
    cr_assert_eq(t, T0);
    cr_assert_eq(lease_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", &t, &err), FCB_OK);
    cr_assert_eq(t, S(784111777));
    static const char *const bad[] = {
        "Fri, 02 Jan 2026 03:04:05 UTC",   "Fri, 02 Foo 2026 03:04:05 GMT",
        "Fri, 30 Feb 2026 03:04:05 GMT",   "Friday, 02-Jan-26 03:04:05 GMT",
        "Fri, 02 Jan 2026 03:04:05 GMT x", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(lease_http_date_parse(bad[i], &t, &err), FCB_ERR_INVALID_ARGUMENT, "%s",
                     bad[i]);
        cr_assert(strstr(err.message, "Date: ") == err.message);
    }
    cr_assert_eq(lease_http_date_parse(NULL, &t, &err), FCB_ERR_INVALID_ARGUMENT);
}

Test(lease_observe, a_released_duplicate_does_not_make_a_silent_lease_look_renewed)
{
    lease_observer_init(&obs);
    lease_record ls[] = {rec("a", "1", T0, 30), rec("a", "9", T0, 30)};
    ls[1].holder = ""; /* a stray released copy with another version */
    lease_observe(&obs, ls, 2, S(0));
    lease_observe(&obs, ls, 2, S(10));
    lease_observe(&obs, ls, 2, S(20));
    cr_assert_eq(lease_state_of(&obs, &ls[0], 30, at(S(30), T0 + S(30))), LEASE_EXPIRED);
}
