/* ids: getrandom() into hex; a bounded retry on EINTR and short reads. */
#include "ids.h"

#include "svc.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

/* Tests interpose this to simulate a kernel without getrandom (ENOSYS). */
ssize_t ids_getrandom(void *buf, size_t len, unsigned flags) __attribute__((weak));
ssize_t ids_getrandom(void *buf, size_t len, unsigned flags)
{
    return getrandom(buf, len, flags);
}

int ids_random_hex(char *out, size_t bytes, const char *what, fcb_error *err)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[IDS_BYTES_MAX];
    size_t got = 0;
    int last_errno = 0;

    if (bytes == 0 || bytes > IDS_BYTES_MAX)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "ids: %zu random bytes asked for %s (1..%d)",
                       bytes, what, IDS_BYTES_MAX);
    out[0] = '\0';
    for (int tries = 0; tries < 16 && got < bytes; tries++) {
        ssize_t n = ids_getrandom(raw + got, bytes - got, 0);
        if (n > 0) {
            got += (size_t)n;
        } else if (n < 0 && errno != EINTR) {
            last_errno = errno;
            break;
        }
    }
    if (got < bytes)
        return err_set(err, FCB_ERR_INTERNAL, "no randomness for %s: getrandom failed: %s", what,
                       last_errno != 0 ? strerror(last_errno) : "short read");
    for (size_t i = 0; i < bytes; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * bytes] = '\0';
    return FCB_OK;
}
