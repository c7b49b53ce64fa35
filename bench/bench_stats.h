/*
 * bench_stats: clocks and sample series for the benchmarks.
 *
 * bench_now_ns() reads CLOCK_MONOTONIC, the same clock Python's
 * time.monotonic() uses on Linux, so instants reported by kubesim
 * (rie_ready_monotonic) and taken here compare directly.
 * A bench_series is a growable array of doubles with exact (sorted, nearest
 * rank) percentiles. Not thread-safe: one series per thread or a lock.
 */
#ifndef BENCH_STATS_H
#define BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t bench_now_ns(void);
/* CLOCK_MONOTONIC in seconds (as Python's time.monotonic()). */
double bench_now_s(void);
/* Sleep for ms milliseconds (restarts after signals; bounded by ms). */
void bench_sleep_ms(unsigned ms);

/*
 * A UTC RFC 3339 timestamp as dockerd writes it ("2026-11-30T14:40:01.123456789Z",
 * 0-9 fraction digits) in nanoseconds since the epoch (CLOCK_REALTIME's
 * scale), or -1 when it is not in that form.
 */
int64_t bench_rfc3339_ns(const char *text);

typedef struct bench_series {
    double *values;
    size_t n;
    size_t cap;
} bench_series;

#define BENCH_SERIES_INIT \
    {                     \
        NULL, 0, 0        \
    }

/* Append one value; returns 0, or -1 when out of memory (series unchanged). */
int bench_series_add(bench_series *s, double v);
/*
 * Nearest-rank percentile p in [0,100] of the values (p50 = median, p100 =
 * max). Sorts the series in place. NaN when empty.
 */
double bench_series_percentile(bench_series *s, double p);
double bench_series_mean(const bench_series *s);
void bench_series_free(bench_series *s);

#endif
