/*
 * engine_http: what the docker integration tests ask an engine or a function
 * directly (libcurl, outside the plugin): HTTP calls, the Engine API on a unix
 * socket, containers by label, one invocation. Plain malloc; Criterion asserts.
 */
#ifndef ENGINE_HTTP_H
#define ENGINE_HTTP_H

#include <stddef.h>

/* METHOD URL [BODY] (over UNIX_PATH when not NULL); the HTTP status, 0 when none;
 * the body in *out (malloc'd, may be NULL) when out is not NULL. 20 s bound. */
long engine_http(const char *method, const char *url, const char *unix_path, const char *body,
                 char **out);

/* METHOD PATH on the Engine API at the unix socket SOCKET_PATH. */
long engine_http_api(const char *socket_path, const char *method, const char *path,
                     const char *body, char **out);

/* Containers (any state) carrying label KEY=VALUE, asked on SOCKET_PATH (asserts 200). */
size_t engine_http_count_containers(const char *socket_path, const char *label);

/* Create (not start) a container of the crash test image named NAME with LABELS (a JSON
 * object) on SOCKET_PATH (asserts 201); its id (malloc'd). */
char *engine_http_create_container(const char *socket_path, const char *name, const char *labels);

/* POST EVENT to the RIE at ENDPOINT (host:port): the body (malloc'd); asserts 200. */
char *engine_http_invoke(const char *endpoint, const char *event);

/*
 * A "registry" on loopback that completes TCP handshakes (the kernel does,
 * into the backlog) and never answers: a pull from it cannot finish. Its
 * port in *PORT; the caller closes the returned socket.
 */
int engine_http_stalled_registry(unsigned *port);

#endif
