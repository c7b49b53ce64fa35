/*
 * rie_report: a tab-separated "Key: value unit" scanner over one bounded line.
 */
#include "rie_report.h"

#include "svc.h"

#include <string.h>

#define PREFIX      "REPORT RequestId: "
#define VALUE_LIMIT 1e12 /* ms or MB: anything larger is not a real report */

typedef struct span {
    const char *p;
    size_t n;
} span;

static bool span_eq(span s, const char *lit)
{
    return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

/* "123" or "1.25": a non-negative decimal without exponent, locale-free. */
static bool parse_decimal(span s, double *out)
{
    double v = 0, scale = 1;
    size_t i = 0, digits = 0;
    for (; i < s.n && s.p[i] >= '0' && s.p[i] <= '9'; i++, digits++)
        v = v * 10 + (s.p[i] - '0');
    if (i < s.n && s.p[i] == '.') {
        size_t frac = 0;
        for (i++; i < s.n && s.p[i] >= '0' && s.p[i] <= '9'; i++, frac++) {
            scale /= 10;
            v += (s.p[i] - '0') * scale;
        }
        if (frac == 0)
            return false;
    }
    if (digits == 0 || i != s.n || v > VALUE_LIMIT)
        return false;
    *out = v;
    return true;
}

/* Split "Key: 1.23 ms" into key and number; unit must match. */
static int field_value(span f, const char *key, const char *unit, double *out, fcb_error *err)
{
    const char *colon = memchr(f.p, ':', f.n);
    span v = {colon + 2, (size_t)(f.p + f.n - (colon + 2))};
    size_t ul = strlen(unit);
    if (v.n < ul + 2 || colon[1] != ' ' || v.p[v.n - ul - 1] != ' ' ||
        memcmp(v.p + v.n - ul, unit, ul) != 0)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "REPORT line: field \"%s\" is not \"<number> %s\"", key, unit);
    v.n -= ul + 1;
    if (!parse_decimal(v, out))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "REPORT line: field \"%s\" has a malformed number \"%.*s\"", key,
                       (int)(v.n < 40 ? v.n : 40), v.p);
    return FCB_OK;
}

static int take_field(span f, rie_report *r, fcb_error *err)
{
    const char *colon = memchr(f.p, ':', f.n);
    if (colon == NULL || colon + 1 >= f.p + f.n)
        return FCB_OK; /* not "Key: value": unknown text, skipped */
    span key = {f.p, (size_t)(colon - f.p)};
    double v = 0;
    int rc = FCB_OK;
    if (span_eq(key, "Duration")) {
        rc = field_value(f, "Duration", "ms", &r->duration_ms, err);
        r->has_duration = rc == FCB_OK;
    } else if (span_eq(key, "Billed Duration")) {
        rc = field_value(f, "Billed Duration", "ms", &r->billed_ms, err);
        r->has_billed = rc == FCB_OK;
    } else if (span_eq(key, "Init Duration")) {
        rc = field_value(f, "Init Duration", "ms", &r->init_ms, err);
        r->has_init = rc == FCB_OK;
    } else if (span_eq(key, "Memory Size")) {
        rc = field_value(f, "Memory Size", "MB", &v, err);
        r->memory_mb = (unsigned)v;
        r->has_memory = rc == FCB_OK;
    } else if (span_eq(key, "Max Memory Used")) {
        rc = field_value(f, "Max Memory Used", "MB", &v, err);
        r->max_memory_mb = (unsigned)v;
        r->has_max_memory = rc == FCB_OK;
    }
    return rc;
}

static int take_id(span *rest, rie_report *out, fcb_error *err)
{
    size_t n = 0;
    while (n < rest->n && rest->p[n] != '\t' && rest->p[n] != ' ')
        n++;
    if (n == 0 || n >= sizeof out->request_id)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "REPORT line: field \"RequestId\" is empty or longer than %zu bytes",
                       sizeof out->request_id - 1);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)rest->p[i] < 0x21 || (unsigned char)rest->p[i] > 0x7e)
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "REPORT line: field \"RequestId\" has a non-printable byte");
    memcpy(out->request_id, rest->p, n);
    out->request_id[n] = '\0';
    rest->p += n;
    rest->n -= n;
    return FCB_OK;
}

int rie_report_parse(const char *line, size_t len, rie_report *out, fcb_error *err)
{
    memset(out, 0, sizeof *out);
    if (line == NULL || len < strlen(PREFIX) || memcmp(line, PREFIX, strlen(PREFIX)) != 0)
        return err_set(err, FCB_ERR_NOT_FOUND, "not a REPORT line");
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    span rest = {line + strlen(PREFIX), len - strlen(PREFIX)};
    int rc = take_id(&rest, out, err);
    while (rc == FCB_OK && rest.n > 0) {
        while (rest.n > 0 && (rest.p[0] == '\t' || rest.p[0] == ' ')) {
            rest.p++;
            rest.n--;
        }
        const char *tab = memchr(rest.p, '\t', rest.n);
        span f = {rest.p, tab != NULL ? (size_t)(tab - rest.p) : rest.n};
        while (f.n > 0 && f.p[f.n - 1] == ' ')
            f.n--;
        rest.p += tab != NULL ? (size_t)(tab - rest.p) : rest.n;
        rest.n = (size_t)(line + len - rest.p);
        if (f.n == 0)
            continue;
        rc = take_field(f, out, err);
    }
    if (rc == FCB_OK && !out->has_duration)
        rc = err_set(err, FCB_ERR_INVALID_ARGUMENT, "REPORT line: field \"Duration\" is missing");
    if (rc != FCB_OK)
        memset(out, 0, sizeof *out);
    return rc;
}
