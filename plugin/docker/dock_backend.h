/*
 * dock_backend: the docker backend's operations (fcb_backend_ops).
 *
 * Lambda runtimes as containers over the Docker Engine API: open() connects
 * and negotiates the API version; launch() resolves and pulls the image,
 * converts code and layer zips into one tar, creates the container,
 * copies the tar in, starts it and waits until its Runtime Interface
 * Emulator answers HTTP on the published port; terminate() force-removes;
 * reap_stale() removes containers of dead backend instances (lease absent
 * or silent, dock_lease.h, docs/leases.md); close() cancels in-flight
 * calls, waits for them and releases the lease. Contracts, threads and
 * ownership are those of backend_plugin.h; configuration keys are listed
 * in docs/docker.md.
 */
#ifndef FCB_DOCK_BACKEND_H
#define FCB_DOCK_BACKEND_H

#include <fakecloud/backend_plugin.h>

#include <stddef.h>

#define DOCK_PLUGIN_NAME "docker"

int dock_backend_open(const fcb_host_services *host, const fcb_open_params *params,
                      fcb_backend **out, fcb_error *err);
void dock_backend_close(fcb_backend *backend);
int dock_backend_launch(fcb_backend *backend, const fcb_launch_request *request, fcb_instance *out,
                        fcb_error *err);
int dock_backend_terminate(fcb_backend *backend, const char *handle, fcb_error *err);
int dock_backend_reap_stale(fcb_backend *backend, size_t *reaped, fcb_error *err);
int dock_backend_prepull(fcb_backend *backend, const char *image, fcb_error *err);

/* The fakecloud-instance label value of this backend instance (for tests). */
const char *dock_backend_instance_id(const fcb_backend *backend);

#endif
