/* bench_stats: monotonic clock helpers and nearest-rank percentiles. */
#include "bench_stats.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double bench_now_s(void)
{
    return (double)bench_now_ns() / 1e9;
}

void bench_sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    /* Bounded: each EINTR resumes with the remaining time only. */
    for (int i = 0; i < 1000 && nanosleep(&ts, &ts) != 0 && errno == EINTR; i++)
        ;
}

int64_t bench_rfc3339_ns(const char *text)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int consumed = 0;
    if (text == NULL || sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
                               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    int64_t frac = 0;
    const char *p = text + consumed;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++)
            if (digits++ < 9)
                frac = frac * 10 + (*p - '0');
        for (; digits < 9; digits++)
            frac *= 10;
    }
    if (p[0] != 'Z' || p[1] != '\0')
        return -1; /* dockerd reports UTC */
    return (int64_t)timegm(&tm) * 1000000000 + frac;
}

int bench_series_add(bench_series *s, double v)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        double *nv = realloc(s->values, cap * sizeof(*nv));
        if (nv == NULL)
            return -1;
        s->values = nv;
        s->cap = cap;
    }
    s->values[s->n++] = v;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_series_percentile(bench_series *s, double p)
{
    if (s->n == 0)
        return NAN;
    qsort(s->values, s->n, sizeof(double), cmp_double);
    if (p <= 0)
        return s->values[0];
    if (p >= 100)
        return s->values[s->n - 1];
    /* Nearest rank: the smallest value with at least p% of values <= it. */
    size_t rank = (size_t)ceil(p / 100.0 * (double)s->n);
    if (rank < 1)
        rank = 1;
    return s->values[rank - 1];
}

double bench_series_mean(const bench_series *s)
{
    if (s->n == 0)
        return NAN;
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += s->values[i];
    return sum / (double)s->n;
}

void bench_series_free(bench_series *s)
{
    free(s->values);
    s->values = NULL;
    s->n = s->cap = 0;
}
