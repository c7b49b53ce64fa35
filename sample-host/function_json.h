/*
 * function_json: parse a Lambda function description in AWS's own
 * GetFunctionConfiguration shape (what `aws lambda get-function-configuration`
 * prints) into an fcb_function. Also accepts the `aws lambda get-function`
 * shape ({"Configuration": {...}, "Code": {...}, "Tags": {...}}).
 *
 * Used fields: FunctionName, FunctionArn, Runtime, Handler, Timeout,
 * MemorySize, Environment.Variables, PackageType (Zip|Image), ImageUri (top
 * level or Code.ImageUri), ImageConfigResponse.ImageConfig {EntryPoint,
 * Command, WorkingDirectory}, EphemeralStorage.Size, Architectures, Layers
 * [{Arn, CodeSize}], Version (qualifies the ARN), Tags (get-function's map,
 * validated like TagResource: at most 50, keys of 1 to 128 characters not
 * starting with "aws:", values of at most 256). The other documented
 * fields are accepted and ignored. Unknown fields are warnings (AWS keeps
 * adding fields); ill-typed known fields are errors naming the JSON path.
 * Validated like AWS: FunctionName [A-Za-z0-9_-]{1,64} or a function ARN,
 * Environment.Variables at most 4096 bytes of names and values, Runtime one
 * of the Lambda API's Runtime enum, every string and field name valid UTF-8.
 *
 * Pure (no I/O), thread-safe, suitable for fuzzing.
 */
#ifndef FCB_FUNCTION_JSON_H
#define FCB_FUNCTION_JSON_H

#include <fakecloud/backend_plugin.h>

#include <stddef.h>

typedef struct function_layer {
    char *arn;
    long long code_size; /* -1 when absent */
} function_layer;

/*
 * A parsed description. `fn` is ready to hand to a plugin: its pointers
 * point into this struct's own storage. Owned by the caller; free with
 * function_desc_free.
 */
typedef struct function_desc {
    fcb_function fn;
    char *function_name;
    char *function_arn;
    char *runtime;
    char *handler;
    char *image_uri;
    char *architecture;
    char *image_working_directory;
    fcb_env_var *environment; /* name/value strings owned here */
    size_t n_environment;
    fcb_tag *tags; /* key/value strings owned here; fn.tags points here */
    size_t n_tags;
    char **image_entry_point;
    size_t n_image_entry_point;
    char **image_command;
    size_t n_image_command;
    function_layer *layers;
    size_t n_layers;
    char account[13]; /* 12 digits from FunctionArn, default "000000000000" */
    char *version;    /* Version as given, or NULL */
    /*
     * One line each, e.g. `Environment: unknown field "Vars" ignored`
     * (control characters escaped); at most FUNCTION_JSON_WARNINGS_MAX.
     */
    char **warnings;
    size_t n_warnings;
} function_desc;

#define FUNCTION_JSON_WARNINGS_MAX 32
/* Total bytes of Environment.Variables names and values AWS accepts. */
#define FUNCTION_JSON_ENV_MAX 4096

/* Tags per function AWS accepts. */
#define FUNCTION_JSON_TAGS_MAX 50

/* Size of the `why` buffer callers should pass. */
#define FUNCTION_JSON_WHY_MAX 512

/*
 * Parse LEN bytes of TEXT (need not be NUL-terminated). Returns 0 and a new
 * *out, or -1 with *out NULL and `why` (size WHY_SIZE) holding one line such
 * as `Timeout: expected an integer, got string` or `unknown field "Fooo"`
 * (callers prefix the file name).
 */
int function_json_parse(const char *text, size_t len, function_desc **out, char *why,
                        size_t why_size);

/*
 * function_json_parse, with REGION (NULL = "us-east-1") used when a Version
 * other than $LATEST is given without a FunctionArn: the qualified ARN is
 * then built as arn:aws:lambda:REGION:ACCOUNT:function:NAME:VERSION. With a
 * FunctionArn, the Version is appended as its qualifier (a qualifier that
 * differs from Version is an error naming both).
 */
int function_json_parse_region(const char *text, size_t len, const char *region,
                               function_desc **out, char *why, size_t why_size);

/* Replace the image URI (e.g. from --image); 0 or -1 (no memory). */
int function_desc_set_image_uri(function_desc *desc, const char *uri);

/*
 * Check that the description is launchable: Runtime and Handler for Zip,
 * ImageUri for Image. Returns 0 or -1 with `why` naming the field.
 */
int function_desc_check(const function_desc *desc, char *why, size_t why_size);

void function_desc_free(function_desc *desc);

#endif
