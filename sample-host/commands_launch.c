/*
 * commands_launch: `launch` and `invoke`: read the function, its code and
 * layers, serve them, launch one instance; invoke then POSTs the event and
 * terminates the instance.
 */
#include "commands.h"

#include "code_bundle.h"
#include "invoker.h"
#include "lambda_api.h"
#include "output.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest --function or --payload-file the host reads. */
#define FILE_MAX ((size_t)16 * 1024 * 1024)

/* Read PATH ("-" = stdin) up to LIMIT bytes; NUL-terminated, malloc'd. */
static int read_all(const char *path, size_t limit, char **data, size_t *len, char *why,
                    size_t why_size)
{
    *data = NULL;
    *len = 0;
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (f == NULL) {
        snprintf(why, why_size, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    int rc = -1;
    for (size_t rounds = 0; buf != NULL && rounds < limit / 1024 + 2; rounds++) {
        if (n + 1 >= cap) {
            char *p = realloc(buf, cap * 2);
            if (p == NULL)
                break;
            buf = p;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n > limit) {
            snprintf(why, why_size, "%s: larger than %zu bytes", is_stdin ? "<stdin>" : path,
                     limit);
            goto out;
        }
        if (got == 0) {
            if (ferror(f)) {
                snprintf(why, why_size, "%s: read error", is_stdin ? "<stdin>" : path);
                goto out;
            }
            buf[n] = '\0';
            *data = buf;
            *len = n;
            buf = NULL;
            rc = 0;
            goto out;
        }
    }
    snprintf(why, why_size, "%s: out of memory", path);
out:
    free(buf);
    if (!is_stdin)
        fclose(f);
    return rc;
}

/* --role-credentials FILE into r->creds (also for `serve`). */
int run_read_credentials(run *r)
{
    char why[HOST_WHY_MAX];
    const char *file = r->opt.role_credentials;
    if (file == NULL)
        return HOST_EXIT_OK;
    char *text = NULL;
    size_t len = 0;
    if (read_all(file, 64 * 1024, &text, &len, why, sizeof why) != 0)
        return run_fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "--role-credentials: %s",
                        why);
    int rc = credentials_parse(text, len, &r->creds, why, sizeof why);
    explicit_bzero(text, len);
    free(text);
    if (rc != 0)
        return run_fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "--role-credentials %s: %s",
                        file, why);
    return HOST_EXIT_OK;
}

/* Read the function, code and layers; start the artifact server. */
static int prepare_launch(run *r)
{
    char why[HOST_WHY_MAX];
    int crc = run_read_credentials(r);
    if (crc != HOST_EXIT_OK)
        return crc;
    const char *file = r->opt.function_file;
    const char *shown = strcmp(file, "-") == 0 ? "<stdin>" : file;
    char *text = NULL;
    size_t len = 0;
    if (read_all(file, FILE_MAX, &text, &len, why, sizeof why) != 0)
        return run_fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "--function: %s", why);
    char parse_why[FUNCTION_JSON_WHY_MAX];
    const char *region = host_services_config(r->hs, "AWS_REGION");
    if (region == NULL || region[0] == '\0')
        region = host_services_config(r->hs, "AWS_DEFAULT_REGION");
    int prc = function_json_parse_region(text, len, region != NULL && region[0] ? region : NULL,
                                         &r->desc, parse_why, sizeof parse_why);
    free(text);
    if (prc != 0)
        return run_fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "%s: %s", shown, parse_why);
    for (size_t i = 0; i < r->desc->n_warnings; i++)
        host_log(r->hs, FCB_LOG_WARN, r->desc->warnings[i], "file", shown, NULL);
    if (r->opt.image != NULL && function_desc_set_image_uri(r->desc, r->opt.image) != 0)
        return run_fail(r, HOST_EXIT_FAILED, FCB_ERR_NO_MEMORY, "out of memory");
    if (function_desc_check(r->desc, parse_why, sizeof parse_why) != 0)
        return run_fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "%s: %s", shown, parse_why);
    const fcb_function *fn = &r->desc->fn;
    if (r->opt.code_dir != NULL) {
        if (fn->package_type != FCB_PACKAGE_ZIP)
            return run_fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT,
                            "--code-dir: hot reload is for Zip functions, not PackageType Image");
        /* the directory is the deploy: its path, not its changing content, names it */
        if (bundle_deploy_id(r->opt.code_dir, strlen(r->opt.code_dir), r->deploy_id) != 0)
            return run_fail(r, HOST_EXIT_FAILED, FCB_ERR_INTERNAL, "SHA-256 of --code-dir failed");
    } else if (fn->package_type == FCB_PACKAGE_ZIP) {
        if (r->opt.code_file == NULL)
            return run_fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT,
                            "--code ZIP: required for a Zip function (%s)", fn->function_name);
        if (bundle_read_zip(r->opt.code_file, &r->code, &r->code_len, why, sizeof why) != 0)
            return run_fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "--code: %s", why);
        if (bundle_deploy_id(r->code, r->code_len, r->deploy_id) != 0)
            return run_fail(r, HOST_EXIT_FAILED, FCB_ERR_INTERNAL, "SHA-256 of the code failed");
    } else {
        if (r->opt.code_file != NULL)
            return run_fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT,
                            "--code: an Image function takes no code zip (its code is the image)");
        if (bundle_deploy_id(fn->image_uri, strlen(fn->image_uri), r->deploy_id) != 0)
            return run_fail(r, HOST_EXIT_FAILED, FCB_ERR_INTERNAL, "SHA-256 of the image failed");
    }
    for (size_t i = 0; i < r->opt.n_layers; i++) {
        if (bundle_read_zip(r->opt.layer_files[i], &r->layers[i], &r->layer_lens[i], why,
                            sizeof why) != 0)
            return run_fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "--layer: %s", why);
    }
    if (r->desc->n_layers != r->opt.n_layers)
        host_log(r->hs, FCB_LOG_WARN,
                 "the function lists a different number of Layers than --layer zips given",
                 "function", fn->function_name, NULL);
    if (bundle_layers_tar((const void *const *)r->layers, r->layer_lens, r->opt.n_layers,
                          &r->layers_tar, &r->layers_tar_len, why, sizeof why) != 0)
        return run_fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "--layer: %s", why);
    int rc = run_start_artifacts(r);
    if (rc != HOST_EXIT_OK)
        return rc;
    if (artifact_server_add(r->artifacts, r->desc->account, fn->function_name, r->deploy_id,
                            r->code, r->code_len, r->layers_tar, r->layers_tar_len) != 0)
        return run_fail(r, HOST_EXIT_FAILED, FCB_ERR_NO_MEMORY, "artifact server: out of memory");
    host_log(r->hs, FCB_LOG_INFO, "serving the function's code", "deploy_id", r->deploy_id,
             "account", r->desc->account, "function", fn->function_name, NULL);
    return HOST_EXIT_OK;
}

/* On the signal thread during a launch: closing the backend cancels the launch (ABI). */
static void cancel_launch(void *arg)
{
    run *r = arg;
    r->plugin->ops->close(r->backend);
}

/*
 * What the backend cannot honour: credentials without the capability are a
 * usage error (the runtime would run without them); tags or an endpoint URL
 * it may ignore are warnings.
 */
static int check_launch_extras(run *r)
{
    uint64_t caps = run_capabilities(r);
    const char *name = r->plugin->ops->name;
    if (r->creds.access_key_id != NULL && (caps & FCB_CAP_CREDENTIALS) == 0)
        return run_fail(r, HOST_EXIT_USAGE, FCB_ERR_UNSUPPORTED,
                        "--role-credentials: backend %s does not declare the credentials "
                        "capability (the runtime would not get them)",
                        name);
    if (r->opt.code_dir != NULL && (caps & FCB_CAP_HOT_RELOAD) == 0)
        return run_fail(r, HOST_EXIT_USAGE, FCB_ERR_UNSUPPORTED,
                        "--code-dir: backend %s does not declare the hot-reload capability "
                        "(hot reload: code from a host directory)",
                        name);
    if (r->desc->n_tags > 0 && (caps & FCB_CAP_TAGS) == 0)
        host_log(r->hs, FCB_LOG_WARN,
                 "the function has Tags but the backend does not declare the tags capability: "
                 "they are ignored",
                 "backend", name, NULL);
    if (r->opt.aws_endpoint_url != NULL && r->plugin->descriptor->abi_minor < 1)
        host_log(r->hs, FCB_LOG_WARN,
                 "--aws-endpoint-url: the backend was built for ABI 1.0 and ignores it", "backend",
                 name, NULL);
    return HOST_EXIT_OK;
}

static int do_launch(run *r, fcb_instance *inst)
{
    fcb_blob layer_blobs[CLI_MAX_LAYERS];
    for (size_t i = 0; i < r->opt.n_layers; i++) {
        layer_blobs[i].data = r->layers[i];
        layer_blobs[i].size = r->layer_lens[i];
    }
    fcb_launch_request req = {
        .size = sizeof req,
        .function = &r->desc->fn,
        .code = {r->code, r->code_len},
        .layers = r->opt.n_layers > 0 ? layer_blobs : NULL,
        .n_layers = r->opt.n_layers,
        .deploy_id = r->deploy_id,
        .deadline_ms = 0,
        .credentials = r->creds.access_key_id != NULL ? &r->creds.fcb : NULL,
        .aws_endpoint_url = r->opt.aws_endpoint_url,
        .code_dir = r->opt.code_dir,
    };
    int xrc = check_launch_extras(r);
    if (xrc != HOST_EXIT_OK)
        return xrc;
    /* A plugin that honours the token cancels this launch alone; else close the backend. */
    bool own_cancel = (run_capabilities(r) & FCB_CAP_CANCEL) != 0;
    if (own_cancel)
        req.cancel = (fcb_cancel){&r->sig, signals_interrupted};
    memset(inst, 0, sizeof *inst);
    inst->size = sizeof *inst;
    fcb_error err = FCB_ERROR_INIT;
    if (!signals_launch_begin(&r->sig, own_cancel ? NULL : cancel_launch, r))
        return run_fail(r, HOST_EXIT_INTERRUPTED, FCB_ERR_CANCELLED, "interrupted before launch");
    int rc = r->plugin->ops->launch(r->backend, &req, inst, &err);
    bool closed = signals_launch_end(&r->sig);
    if (closed)
        r->backend = NULL; /* closed by the signal thread */
    if (closed && rc == FCB_OK)
        return run_fail(r, HOST_EXIT_INTERRUPTED, FCB_ERR_CANCELLED,
                        "interrupted as the launch finished: instance %s is left running "
                        "(`terminate %s` or `reap` removes it)",
                        inst->handle, inst->handle);
    if (closed || (rc != FCB_OK && run_interrupted(r)))
        return run_fail(r, HOST_EXIT_INTERRUPTED, FCB_ERR_CANCELLED,
                        "interrupted: launch of %s cancelled (%s)", r->desc->fn.function_name,
                        err.message[0] ? err.message : fcb_status_name(rc));
    if (rc != FCB_OK)
        return run_fail(r, run_exit_for(rc, HOST_EXIT_FAILED), rc,
                        "launch %s on %s failed: %s (%s)", r->desc->fn.function_name,
                        r->plugin->ops->name, err.message[0] ? err.message : "no reason given",
                        fcb_status_name(rc));
    inst->endpoint[sizeof inst->endpoint - 1] = '\0';
    inst->handle[sizeof inst->handle - 1] = '\0';
    host_log(r->hs, FCB_LOG_INFO, "instance ready", "function", r->desc->fn.function_name,
             "endpoint", inst->endpoint, "handle", inst->handle, NULL);
    output_json_set_str(r->out, "backend", r->plugin->ops->name);
    output_json_set_str(r->out, "function", r->desc->fn.function_name);
    output_json_set_str(r->out, "deploy_id", r->deploy_id);
    output_json_set_str(r->out, "endpoint", inst->endpoint);
    output_json_set_str(r->out, "handle", inst->handle);
    return HOST_EXIT_OK;
}

int cmd_launch(run *r)
{
    int rc = prepare_launch(r);
    if (rc == HOST_EXIT_OK)
        rc = run_backend_load(r);
    if (rc == HOST_EXIT_OK)
        rc = run_backend_open(r);
    fcb_instance inst;
    if (rc == HOST_EXIT_OK)
        rc = do_launch(r, &inst);
    if (rc == HOST_EXIT_OK && run_interrupted(r)) {
        run_terminate(r, inst.handle);
        return run_fail(r, HOST_EXIT_INTERRUPTED, FCB_ERR_CANCELLED,
                        "interrupted: instance %s terminated", inst.handle);
    }
    if (rc == HOST_EXIT_OK && !r->opt.json)
        printf("endpoint %s\nhandle %s\n", inst.endpoint, inst.handle);
    return rc;
}

static int read_payload(run *r, char **payload, size_t *len)
{
    char why[HOST_WHY_MAX];
    if (r->opt.payload_file != NULL) {
        if (read_all(r->opt.payload_file, INVOKER_RESPONSE_MAX, payload, len, why, sizeof why) != 0)
            return run_fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "--payload-file: %s",
                            why);
    } else {
        *payload = strdup(r->opt.payload != NULL ? r->opt.payload : "{}");
        if (*payload == NULL)
            return run_fail(r, HOST_EXIT_FAILED, FCB_ERR_NO_MEMORY, "out of memory");
        *len = strlen(*payload);
    }
    json_tokener *tok = json_tokener_new();
    json_object *parsed = tok != NULL ? json_tokener_parse_ex(tok, *payload, (int)*len) : NULL;
    bool ok = parsed != NULL && json_tokener_get_parse_end(tok) == *len;
    if (!ok && parsed != NULL) {
        ok = true; /* trailing whitespace is fine */
        for (size_t i = json_tokener_get_parse_end(tok); i < *len; i++)
            ok = ok && ((*payload)[i] == ' ' || (*payload)[i] == '\n' || (*payload)[i] == '\r' ||
                        (*payload)[i] == '\t');
    }
    json_object_put(parsed);
    if (tok != NULL)
        json_tokener_free(tok);
    if (!ok) {
        free(*payload);
        *payload = NULL;
        return run_fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "%s: not valid JSON",
                        r->opt.payload_file != NULL ? "--payload-file" : "--payload");
    }
    return HOST_EXIT_OK;
}

/*
 * invoke's final terminate. A failure does not hide the runtime's answer
 * (already printed, or kept in the --json document next to an "error"): the
 * status is HOST_EXIT_NOT_TERMINATED when the invocation itself succeeded.
 */
static int invoke_terminate(run *r, const char *handle, int invoke_rc)
{
    char why[HOST_WHY_MAX];
    int trc = run_terminate_handle(r, handle, why, sizeof why);
    if (r->out != NULL)
        json_object_object_add(r->out, "terminated", json_object_new_boolean(trc == FCB_OK));
    if (trc == FCB_OK)
        return HOST_EXIT_OK;
    fprintf(stderr,
            HOST_PROG ": %s; the instance may still be running: `terminate %s` or `reap` removes "
                      "it\n",
            why, handle);
    if (r->out != NULL) {
        json_object *e = json_object_new_object();
        output_json_set_str(e, "code", fcb_status_name(trc));
        output_json_set_str(e, "message", why);
        json_object_object_add(r->out, "terminate_error", e);
        json_object_object_add(r->out, "ok", json_object_new_boolean(0));
    }
    return invoke_rc == HOST_EXIT_OK ? HOST_EXIT_NOT_TERMINATED : invoke_rc;
}

/* The answer body of the backend's invoke op, kept in an invoker_result. */
static int collect_body(void *ctx, const void *data, size_t len)
{
    invoker_result *res = ctx;
    if (res->body_len + len > INVOKER_RESPONSE_MAX)
        return 1;
    char *p = realloc(res->body, res->body_len + len + 1);
    if (p == NULL)
        return 1;
    memcpy(p + res->body_len, data, len);
    res->body = p;
    res->body_len += len;
    p[res->body_len] = '\0';
    return 0;
}

/*
 * Deliver the event through the backend's invoke op. Returns 0, or -1 with
 * `why` and *STATUS the plugin's failure.
 */
static int invoke_through_backend(run *r, const fcb_instance *inst, const char *payload,
                                  size_t payload_len, long timeout_ms, invoker_result *res,
                                  char function_error[64], int *status, char *why, size_t why_size)
{
    fcb_invoke_request req = {
        .size = sizeof req,
        .payload = {payload, payload_len},
        .timeout_ms = (uint32_t)timeout_ms,
        .sink_ctx = res,
        .on_body = collect_body,
        .cancel = {&r->sig, signals_interrupted},
    };
    fcb_invoke_result out;
    memset(&out, 0, sizeof out);
    out.size = sizeof out;
    fcb_error err = FCB_ERROR_INIT;
    *status = r->plugin->ops->invoke(r->backend, inst->handle, &req, &out, &err);
    if (*status == FCB_OK && out.body_bytes != res->body_len) {
        *status = FCB_ERR_INTERNAL;
        snprintf(err.message, sizeof err.message,
                 "the answer was cut short (%llu bytes announced, %zu kept; limit %zu)",
                 (unsigned long long)out.body_bytes, res->body_len, INVOKER_RESPONSE_MAX);
    }
    if (*status != FCB_OK) {
        snprintf(why, why_size, "invoke %s through backend %s failed: %s (%s)", inst->handle,
                 r->plugin->ops->name, err.message[0] ? err.message : "no reason given",
                 fcb_status_name(*status));
        return -1;
    }
    res->status = out.http_status;
    if (res->body == NULL)
        res->body = strdup("");
    out.function_error[sizeof out.function_error - 1] = '\0';
    snprintf(function_error, 64, "%s", out.function_error);
    return res->body != NULL ? 0 : -1;
}

/* Lambda's LogType=Tail gives the last 4 KB of the invocation's log. */
#define LOG_TAIL_BYTES 4096

/* invoke --log-tail: the last 4 KiB of the log on stderr, or in the document. */
static void print_log_tail(run *r, const char *handle)
{
    char why[HOST_WHY_MAX];
    char *text = NULL;
    size_t len = 0;
    int rc = run_log_tail(r, handle, LOG_TAIL_BYTES, &text, &len, why, sizeof why);
    if (rc != FCB_OK) {
        host_log(r->hs, FCB_LOG_WARN, "--log-tail: no log tail", "reason", why, NULL);
        if (r->out != NULL)
            output_json_set_str(r->out, "log_tail_error", why);
        return;
    }
    if (r->opt.json && r->out != NULL) {
        char *b64 = lapi_base64_encode(text, len);
        output_json_set_str(r->out, "log_tail", text);
        output_json_set_str(r->out, "log_result", b64);
        free(b64);
    } else if (!r->opt.json) {
        fputs(text, stderr);
        if (len > 0 && text[len - 1] != '\n')
            fputc('\n', stderr);
    }
    free(text);
}

/*
 * Deliver the payload to the launched instance (the backend's invoke op when
 * it has one, else an HTTP POST to its endpoint) and print the runtime's
 * answer (on stdout, or into the --json document). Returns an exit status: a
 * non-2xx answer is HOST_EXIT_FAILED.
 */
static int invoke_instance(run *r, const fcb_instance *inst, const char *payload,
                           size_t payload_len)
{
    invoker_result res = {0};
    uint32_t timeout_s = r->desc->fn.timeout_seconds ? r->desc->fn.timeout_seconds : 3;
    long timeout_ms = (long)timeout_s * 1000 + 10000;
    char why[HOST_WHY_MAX], function_error[64] = "";
    bool via_backend = RUN_HAS_OP(r, invoke);
    int fail = FCB_ERR_UNAVAILABLE;
    int prc = via_backend
                  ? invoke_through_backend(r, inst, payload, payload_len, timeout_ms, &res,
                                           function_error, &fail, why, sizeof why)
                  : invoker_post_cancellable(inst->endpoint, payload, payload_len, timeout_ms,
                                             signals_interrupted, &r->sig, &res, why, sizeof why);
    if (prc != 0) {
        invoker_result_free(&res);
        if (run_interrupted(r))
            return run_fail(r, HOST_EXIT_INTERRUPTED, FCB_ERR_CANCELLED, "interrupted: %s", why);
        /* No answer is exit status 1 whichever way it went (see `invoke --help`). */
        return run_fail(r, HOST_EXIT_FAILED, fail, "%s", why);
    }
    output_json_set_str(r->out, "invoked_via", via_backend ? "backend" : "http");
    if (function_error[0] != '\0')
        output_json_set_str(r->out, "function_error", function_error);
    char status[16], bytes[24];
    snprintf(status, sizeof status, "%ld", res.status);
    snprintf(bytes, sizeof bytes, "%zu", res.body_len);
    host_log(r->hs, FCB_LOG_INFO, "invoked", "function", r->desc->fn.function_name, "status",
             status, "bytes", bytes, NULL);
    if (r->opt.json) {
        json_object_object_add(r->out, "status", json_object_new_int((int)res.status));
        json_object *body = json_tokener_parse(res.body);
        json_object_object_add(r->out, "response",
                               body != NULL ? body : json_object_new_string(res.body));
    } else {
        fwrite(res.body, 1, res.body_len, stdout);
        if (res.body_len == 0 || res.body[res.body_len - 1] != '\n')
            fputc('\n', stdout);
    }
    int rc = HOST_EXIT_OK;
    if (res.status < 200 || res.status > 299) {
        fprintf(stderr, HOST_PROG ": the runtime answered HTTP %ld\n", res.status);
        rc = HOST_EXIT_FAILED;
        if (r->out != NULL)
            json_object_object_add(r->out, "ok", json_object_new_boolean(0));
    }
    invoker_result_free(&res);
    if (r->opt.log_tail)
        print_log_tail(r, inst->handle);
    return rc;
}

int cmd_invoke(run *r)
{
    char *payload = NULL;
    size_t payload_len = 0;
    fcb_instance inst;
    int rc = read_payload(r, &payload, &payload_len);
    if (rc == HOST_EXIT_OK)
        rc = prepare_launch(r);
    if (rc == HOST_EXIT_OK)
        rc = run_backend_load(r);
    if (rc == HOST_EXIT_OK)
        rc = run_backend_open(r);
    if (rc == HOST_EXIT_OK)
        rc = do_launch(r, &inst);
    if (rc != HOST_EXIT_OK) {
        free(payload);
        return rc;
    }
    rc = invoke_instance(r, &inst, payload, payload_len);
    free(payload);
    if (!r->opt.keep || run_interrupted(r)) {
        int trc = invoke_terminate(r, inst.handle, rc);
        return rc == HOST_EXIT_OK ? trc : rc;
    }
    if (r->out != NULL)
        json_object_object_add(r->out, "terminated", json_object_new_boolean(0));
    if (!r->opt.json)
        fprintf(stderr, HOST_PROG ": kept instance: endpoint %s handle %s\n", inst.endpoint,
                inst.handle);
    return rc;
}
