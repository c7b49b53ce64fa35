/*
 * rel_docker: direct Engine API calls for the reliability tests (count,
 * plant and remove containers on the private dockerd named by DOCKER_HOST,
 * unix sockets only). Test code: failures are Criterion assertions.
 */
#ifndef REL_DOCKER_H
#define REL_DOCKER_H

#include "rel_common.h"

/* Socket path from DOCKER_HOST (unix://PATH), or NULL when unset/not unix. */
const char *rel_docker_socket(void);
/* METHOD PATH [BODY]; returns the HTTP status (<0 on transport error), body in *out (free()). */
long rel_docker_request(const char *method, const char *path, const char *body, char **out);
/* Containers labelled fakecloud-managed-by=fakecloud, plus instances holding lease volumes. */
long rel_docker_count_managed(void *ctx);
/* Instances with lease volumes (label fakecloud-lease; 2 volumes of one instance count 1). */
long rel_docker_count_leases(void);
/* All containers, whatever their labels. */
long rel_docker_count_all(void);
/* Create (not start) a container NAME with LABELS_JSON ("{...}" or NULL). Returns its id (static).
 */
const char *rel_docker_create(const char *name, const char *labels_json);
bool rel_docker_exists(const char *name_or_id);
void rel_docker_remove(const char *name_or_id);
/*
 * rel_target.plant_stale: a container of a dead backend instance (no lease),
 * old enough to be reaped: returns once it is older than the lease duration
 * rel_docker_configure sets (a reap removes it only then, docs/leases.md).
 */
void rel_docker_plant_stale(void *ctx);
/*
 * The lease duration rel_docker_configure sets (FAKECLOUD_DOCKER_LEASE_SECONDS):
 * short, so planted stale containers are reapable soon, but long enough for a
 * renewal over TLS under ASan on a loaded machine (D = 1 s lost leases there).
 */
#define REL_DOCKER_LEASE_SECONDS "3"
/* rel_target.configure: DOCKER_HOST from the environment, a short lease duration. */
void rel_docker_configure(void *ctx, mock_host *mh);

#endif
