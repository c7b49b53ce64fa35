/*
 * names: sanitisers for Kubernetes/Docker names and label values.
 *
 * Every function works on bytes, never on locale-dependent ctype
 * classifications, so the result does not depend on the process locale and
 * non-ASCII (UTF-8) bytes are always replaced.
 */
#include "names.h"

#include <string.h>

static bool names_is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool names_is_lower_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool names_is_label_char(unsigned char c)
{
    return names_is_alnum(c) || c == '.' || c == '_' || c == '-';
}

static size_t names_clamp(size_t max_len)
{
    return max_len > NAMES_LABEL_MAX ? NAMES_LABEL_MAX : max_len;
}

size_t names_label_value(const char *in, size_t max_len, char *out)
{
    size_t limit = names_clamp(max_len);
    size_t len = 0;

    if (in != NULL) {
        for (size_t i = 0; in[i] != '\0' && len < limit; i++) {
            unsigned char c = (unsigned char)in[i];
            /* One '-' per character: UTF-8 continuation bytes add nothing. */
            if ((c & 0xc0) == 0x80)
                continue;
            if (c >= 'A' && c <= 'Z')
                c = (unsigned char)(c - 'A' + 'a');
            out[len++] = names_is_lower_alnum(c) ? (char)c : '-';
        }
    }
    while (len > 0 && out[len - 1] == '-')
        len--;
    size_t start = 0;
    while (start < len && out[start] == '-')
        start++;
    if (start > 0)
        memmove(out, out + start, len - start);
    len -= start;
    out[len] = '\0';
    return len;
}

size_t names_dns_label(const char *in, size_t max_len, char *out)
{
    size_t limit = names_clamp(max_len);
    size_t len = 0;

    if (limit == 0)
        limit = 1;
    if (in != NULL) {
        for (size_t i = 0; in[i] != '\0' && len < limit; i++) {
            unsigned char c = (unsigned char)in[i];
            if (c >= 'A' && c <= 'Z')
                c = (unsigned char)(c - 'A' + 'a');
            if (!names_is_lower_alnum(c))
                c = '-';
            /* Collapse runs of '-' and never start with one. */
            if (c == '-' && (len == 0 || out[len - 1] == '-'))
                continue;
            out[len++] = (char)c;
        }
    }
    while (len > 0 && out[len - 1] == '-')
        len--;
    if (len == 0)
        out[len++] = 'x';
    out[len] = '\0';
    return len;
}

bool names_is_dns_label(const char *s)
{
    if (s == NULL)
        return false;
    size_t len = strlen(s);
    if (len == 0 || len > NAMES_LABEL_MAX)
        return false;
    if (!names_is_lower_alnum((unsigned char)s[0]) ||
        !names_is_lower_alnum((unsigned char)s[len - 1]))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!names_is_lower_alnum(c) && c != '-')
            return false;
    }
    return true;
}

bool names_is_label_value(const char *s)
{
    if (s == NULL)
        return false;
    size_t len = strlen(s);
    if (len == 0)
        return true;
    if (len > NAMES_LABEL_MAX)
        return false;
    if (!names_is_alnum((unsigned char)s[0]) || !names_is_alnum((unsigned char)s[len - 1]))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!names_is_label_char((unsigned char)s[i]))
            return false;
    }
    return true;
}

bool names_is_env_name(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return false;
    unsigned char first = (unsigned char)s[0];
    if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z') || first == '-' ||
          first == '.' || first == '_'))
        return false;
    for (size_t i = 1; s[i] != '\0'; i++) {
        if (!names_is_label_char((unsigned char)s[i]))
            return false;
    }
    return true;
}

const char *names_account_from_arn(const char *arn, char *out, size_t out_size)
{
    static const char fallback[] = "000000000000";
    const char *field = arn;
    size_t field_len = 0;

    if (out == NULL || out_size == 0)
        return out;
    /* Find the 5th ':'-separated field (index 4). */
    for (int i = 0; field != NULL && i < 4; i++) {
        field = strchr(field, ':');
        if (field != NULL)
            field++;
    }
    if (field != NULL) {
        const char *end = strchr(field, ':');
        field_len = end != NULL ? (size_t)(end - field) : strlen(field);
    }
    bool ok = field != NULL && field_len == 12 && out_size > 12;
    for (size_t i = 0; ok && i < field_len; i++) {
        if (field[i] < '0' || field[i] > '9')
            ok = false;
    }
    const char *src = ok ? field : fallback;
    size_t n = ok ? field_len : sizeof(fallback) - 1;
    if (n >= out_size)
        n = out_size - 1;
    memcpy(out, src, n);
    out[n] = '\0';
    return out;
}
