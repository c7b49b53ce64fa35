/* base64: strict decoder, encoder over either alphabet. */
#include "base64.h"

#include "svc.h"

#include <stdint.h>
#include <string.h>

static const char alphabet_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char alphabet_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int value_of(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int base64_decode(const fcb_host_services *host, const char *text, char **out, size_t *out_len)
{
    size_t n = strlen(text);
    unsigned char *buf = svc_alloc(host, n / 4 * 3 + 4);
    if (buf == NULL)
        return FCB_ERR_NO_MEMORY;
    uint32_t acc = 0;
    size_t bits = 0, len = 0, pad = 0, symbols = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = value_of(c);
        if (v < 0 || pad > 0) /* data after padding is invalid too */
            goto invalid;
        symbols++;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[len++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (symbols % 4 == 1 || pad > 2 || (pad > 0 && (symbols + pad) % 4 != 0))
        goto invalid;
    buf[len] = '\0';
    *out = (char *)buf;
    *out_len = len;
    return FCB_OK;
invalid:
    svc_free(host, buf);
    return FCB_ERR_INVALID_ARGUMENT;
}

static char *base64_encode_with(const fcb_host_services *host, const char *alphabet,
                                const void *data, size_t len)
{
    const unsigned char *in = data;
    if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
        return NULL;
    char *out = svc_alloc(host, (len + 2) / 3 * 4 + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t chunk = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            chunk |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            chunk |= in[i + 2];
        out[o++] = alphabet[(chunk >> 18) & 63];
        out[o++] = alphabet[(chunk >> 12) & 63];
        out[o++] = i + 1 < len ? alphabet[(chunk >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? alphabet[chunk & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

char *base64_encode(const fcb_host_services *host, const void *data, size_t len)
{
    return base64_encode_with(host, alphabet_std, data, len);
}

char *base64_encode_url(const fcb_host_services *host, const void *data, size_t len)
{
    return base64_encode_with(host, alphabet_url, data, len);
}
