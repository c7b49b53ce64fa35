/*
 * rel_hostile: a tiny hostile HTTP server for tests, on 127.0.0.1 (TCP) or a
 * unix socket. One thread serves connections one after the other; each
 * connection gets the chosen misbehaviour until the client hangs up, the
 * byte budget is spent, or the server is stopped. Every wait is bounded.
 */
#ifndef REL_HOSTILE_H
#define REL_HOSTILE_H

#include <stddef.h>

typedef enum rel_hostile_mode {
    REL_HOSTILE_HUGE_BODY,       /* 200, Content-Length 100 MiB, JSON-ish bytes forever */
    REL_HOSTILE_HUGE_CHUNKED,    /* 200, chunked, never-ending body */
    REL_HOSTILE_ENDLESS_HEADERS, /* status line, then header lines forever */
    REL_HOSTILE_SILENT,          /* accepts, reads, never answers */
    REL_HOSTILE_GARBAGE,         /* answers with bytes that are not HTTP */
} rel_hostile_mode;

typedef struct rel_hostile rel_hostile;

/* Start on 127.0.0.1:0 (unix_path NULL) or on the unix socket UNIX_PATH. */
rel_hostile *rel_hostile_start(rel_hostile_mode mode, const char *unix_path);
/* Port (TCP) or 0. */
int rel_hostile_port(const rel_hostile *h);
const char *rel_hostile_mode_name(rel_hostile_mode mode);
/* Connections accepted and bytes sent so far. */
size_t rel_hostile_connections(rel_hostile *h);
size_t rel_hostile_bytes_sent(rel_hostile *h);
/* Stop, join, close, unlink the socket; NULL ok. */
void rel_hostile_stop(rel_hostile *h);

#endif
