/*
 * probe: is a runtime's Runtime Interface Emulator ready to take requests?
 *
 * Two modes, both bounded by one timeout for the whole attempt (resolve,
 * connect, send, read):
 *   PROBE_TCP   a TCP connect is accepted. Enough where nothing but the
 *               runtime listens on the address (a Pod IP).
 *   PROBE_HTTP  a connect, then "GET / HTTP/1.0" answered by a status line
 *               ("HTTP/"). Needed where a proxy accepts connections before
 *               anything listens behind it (docker-proxy on a published
 *               port): only a real server sends a status line.
 * One attempt per call; callers loop with a backoff until their deadline.
 * Thread-safe, no state, no allocation through the host.
 */
#ifndef FCB_PLUGIN_PROBE_H
#define FCB_PLUGIN_PROBE_H

#include <stdbool.h>
#include <stdint.h>

typedef enum probe_mode { PROBE_TCP = 0, PROBE_HTTP = 1 } probe_mode;

/*
 * One attempt at HOST (name or numeric address) and PORT within
 * TIMEOUT_MS (0 means a single non-blocking try). True when ready.
 */
bool probe_once(const char *host, unsigned port, probe_mode mode, uint32_t timeout_ms);

/* Backoff between attempts: doubles from PROBE_FIRST_DELAY_MS up to PROBE_MAX_DELAY_MS. */
#define PROBE_FIRST_DELAY_MS 5u
#define PROBE_MAX_DELAY_MS   100u
/* Cap of one attempt, so a silent peer does not eat the whole deadline. */
#define PROBE_MAX_ATTEMPT_MS 1000u

/* Next delay after DELAY_MS (PROBE_FIRST_DELAY_MS for 0). */
uint32_t probe_next_delay(uint32_t delay_ms);

#endif
