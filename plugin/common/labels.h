/*
 * labels: the label keys and values every backend puts on what it creates
 * (containers, Pods, Secrets), and the only ones reap_stale and ownership
 * checks trust. Changing one orphans what older hosts created: these are
 * part of the contract with running orchestrators, not an implementation
 * detail. Header only (constants).
 */
#ifndef FCB_PLUGIN_LABELS_H
#define FCB_PLUGIN_LABELS_H

/* Present on everything a backend creates; reap_stale only ever removes these. */
#define LABEL_MANAGED_BY       "fakecloud-managed-by"
#define LABEL_MANAGED_BY_VALUE "fakecloud"
/* "managed-by=fakecloud", the selector/filter form. */
#define LABEL_MANAGED_BY_SELECTOR LABEL_MANAGED_BY "=" LABEL_MANAGED_BY_VALUE

/* The backend instance (random id, ids.h) that created the object. */
#define LABEL_INSTANCE "fakecloud-instance"
/* The AWS service the object serves, and its value for Lambda. */
#define LABEL_SERVICE       "fakecloud-service"
#define LABEL_SERVICE_VALUE "lambda"
/* The (sanitised) function name. */
#define LABEL_LAMBDA "fakecloud-lambda"
/* The launch request's deploy_id (code version). */
#define LABEL_DEPLOY_ID "fakecloud-deploy-id"
/* Backend-reserved prefix: user-configured labels may not start with it. */
#define LABEL_RESERVED_PREFIX "fakecloud-"

#endif
