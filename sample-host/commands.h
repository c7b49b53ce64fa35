/*
 * commands: the sample host's commands. Each runs one command on a prepared
 * run (options parsed and checked, host services, signal thread, --json
 * document) and returns the host's exit status; failures are reported
 * (stderr, --json) by the command itself. main.c dispatches and releases.
 */
#ifndef FCB_HOST_COMMANDS_H
#define FCB_HOST_COMMANDS_H

#include "run.h"

/* commands_admin.c */
int cmd_backends(run *r);
int cmd_terminate(run *r);
int cmd_reap(run *r);
int cmd_prepull(run *r);

/* commands_launch.c */
int cmd_launch(run *r);
int cmd_invoke(run *r);
/* --role-credentials FILE into r->creds; HOST_EXIT_OK when not given. */
int run_read_credentials(run *r);

/* commands_instance.c */
int cmd_logs(run *r);
int cmd_status(run *r);

#endif
