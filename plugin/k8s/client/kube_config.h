/*
 * kube_config: where the cluster is and how to authenticate, discovered the
 * way kubectl / client-go / kube-rs do it.
 *
 * Order: KUBECONFIG (':'-separated; files merged by kubectl's rules: the
 * first file to define a cluster/user/context name wins, current-context
 * from the first file that sets it, missing files skipped), else
 * $HOME/.kube/config, else in-cluster (KUBERNETES_SERVICE_HOST/_PORT and the
 * ServiceAccount directory). Every key is read through the host's config
 * getter. Files named by the kubeconfig (CA, client cert/key, tokenFile,
 * exec command) resolve relative to the directory of the kubeconfig file
 * that defined the entry. CA and client cert/key contents are read here, so
 * a missing file fails at load with its name; token files are only checked
 * here and re-read by the client.
 *
 * Every error is FCB_ERR_CONFIG (or FCB_ERR_NO_MEMORY) with a message that
 * names the file, the context/cluster/user and the field. Pure apart from
 * reading files; thread-safe.
 */
#ifndef FCB_KUBE_CONFIG_H
#define FCB_KUBE_CONFIG_H

#include <fakecloud/backend_plugin.h>

#include <stdbool.h>
#include <stddef.h>

/* Default ServiceAccount directory; FAKECLOUD_K8S_SA_DIR overrides (tests). */
#define KUBE_SA_DIR_DEFAULT "/var/run/secrets/kubernetes.io/serviceaccount"

/* An exec credential plugin (users[].user.exec). */
typedef struct kube_exec_config {
    char *api_version; /* client.authentication.k8s.io/v1 or v1beta1 */
    char *command;     /* resolved against the kubeconfig dir if it has a '/' */
    char **args;       /* n_args strings */
    size_t n_args;
    char **env; /* "NAME=value" strings, n_env of them */
    size_t n_env;
    bool provide_cluster_info;
    char *install_hint; /* installHint, shown when the command is missing; or NULL */
} kube_exec_config;

/* The resolved configuration. Every pointer is owned (host allocator). */
typedef struct kube_config {
    char *origin;  /* "kubeconfig /path" or "in-cluster config" (messages) */
    char *context; /* context name; NULL in-cluster */
    char *user;    /* user name; NULL when none */
    char *server;  /* "https://host:port[/prefix]", no trailing '/' */
    char *ca_pem;  /* CA bundle (PEM) or NULL = system roots */
    size_t ca_len;
    bool insecure;         /* insecure-skip-tls-verify */
    char *tls_server_name; /* or NULL */
    char *proxy_url;       /* or NULL */
    char *namespace;       /* context / SA namespace, never NULL ("default") */
    char *token;           /* static bearer token or NULL */
    char *token_file;      /* absolute path re-read periodically, or NULL */
    char *cert_pem;        /* client certificate (PEM) or NULL */
    size_t cert_len;
    char *key_pem; /* client key (PEM) or NULL */
    size_t key_len;
    char *username; /* basic auth, or NULL */
    char *password;
    kube_exec_config *exec; /* or NULL */
} kube_config;

/* Discover and load as described above. *out freed with kube_config_free. */
int kube_config_load(const fcb_host_services *host, kube_config **out, fcb_error *err);

/*
 * Load from an explicit list of kubeconfig files (all must exist), merged in
 * order. CONTEXT NULL = current-context.
 */
int kube_config_from_files(const fcb_host_services *host, const char *const *paths, size_t n_paths,
                           const char *context, kube_config **out, fcb_error *err);

/* In-cluster config from SA_DIR (token, ca.crt, namespace) and the service env keys. */
int kube_config_in_cluster(const fcb_host_services *host, const char *sa_dir, kube_config **out,
                           fcb_error *err);

/* Free (secrets are wiped first). NULL is a no-op. */
void kube_config_free(const fcb_host_services *host, kube_config *cfg);

/*
 * Read a whole file of at most MAX bytes into host memory (NUL-terminated).
 * Only regular files are read: the file is opened non-blocking (a FIFO
 * cannot stall the caller), then a FIFO, device, socket or directory is
 * refused. Errors (FCB_ERR_CONFIG) say "cannot read PATH: reason" / "PATH is
 * not a regular file" / "PATH is larger than N bytes" (PATH as
 * kube_path_shown shows it).
 */
int kube_file_read(const fcb_host_services *host, const char *path, size_t max, char **data,
                   size_t *len, fcb_error *err);

/*
 * Quoting what a kubeconfig says in messages and logs. A quote left open in
 * a kubeconfig makes a name or path run over the following lines (tokens and
 * keys included), so nothing from a kubeconfig is quoted whole:
 * kube_shown copies at most KUBE_SHOWN_MAX bytes of [A-Za-z0-9] and
 * "-._:/@+=~%[]", stops at the first other byte (space, quote, control) and
 * marks a cut with "..."; kube_path_shown does the same for a file path (up
 * to KUBE_LONG_SHOWN_MAX bytes), kube_url_shown for a URL (up to
 * KUBE_LONG_SHOWN_MAX bytes) after replacing its userinfo by "***"
 * ("user:pw@host" becomes "***@host"). Each writes to OUT and returns it. Pure.
 */
#define KUBE_SHOWN_MAX       64
#define KUBE_SHOWN_SIZE      (KUBE_SHOWN_MAX + 4)
#define KUBE_LONG_SHOWN_MAX  160
#define KUBE_LONG_SHOWN_SIZE (KUBE_LONG_SHOWN_MAX + 4)
const char *kube_shown(char out[KUBE_SHOWN_SIZE], const char *text);
const char *kube_path_shown(char out[KUBE_LONG_SHOWN_SIZE], const char *path);
const char *kube_url_shown(char out[KUBE_LONG_SHOWN_SIZE], const char *url);

/* Free a string that held a secret: wipe, then svc_free. */
void kube_secret_free(const fcb_host_services *host, char *secret);

#endif
