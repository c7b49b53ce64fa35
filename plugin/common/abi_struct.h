/*
 * abi_struct: reading and writing the caller's size-prefixed ABI structs.
 *
 * Every struct crossing the plugin boundary starts with `uint32_t size`, set
 * by its writer to the size it knows (backend_plugin.h, "Versioning rules").
 * One rule for all of them (fcb_function, fcb_launch_request, fcb_instance,
 * fcb_open_params, ...): a field exists when it lies wholly below `size`
 * (FCB_HAS_FIELD); a struct is usable when it reaches its last required
 * field; a reader copies what the caller declared into a zeroed local, so a
 * field beyond `size` reads as zero/NULL and no byte beyond it is touched.
 */
#ifndef FCB_PLUGIN_ABI_STRUCT_H
#define FCB_PLUGIN_ABI_STRUCT_H

#include <fakecloud/backend_plugin.h>

#include <stddef.h>
#include <stdint.h>

/* Bytes of TYPE up to and including FIELD. */
#define FCB_FIELD_END(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* Whether the struct at PTR (with a `size` member) holds FIELD entirely. */
#define FCB_HAS_FIELD(ptr, field) ((size_t)(ptr)->size >= FCB_FIELD_END(__typeof__(*(ptr)), field))

/*
 * Copy the caller's struct SRC (its first member the uint32_t size) into
 * DST of DST_SIZE bytes: min(size, DST_SIZE) bytes, the rest zeroed.
 * FCB_ERR_INVALID_ARGUMENT naming WHAT ("launch: request") when SRC is NULL
 * or its size does not reach NEEDED bytes (use FCB_FIELD_END of the last
 * required field); DST is zeroed then.
 */
int abi_struct_read(void *dst, size_t dst_size, const void *src, size_t needed, const char *what,
                    fcb_error *err);

/* abi_struct_read into *DST of its own type, requiring every field up to LAST. */
#define ABI_STRUCT_READ(dst, src, last, what, err)                                                \
    abi_struct_read((dst), sizeof *(dst), (src), FCB_FIELD_END(__typeof__(*(dst)), last), (what), \
                    (err))

/*
 * Check a struct the caller sized (e.g. the output fcb_instance): FCB_OK when
 * OUT is non-NULL and its size reaches NEEDED bytes, else
 * FCB_ERR_INVALID_ARGUMENT naming WHAT.
 */
int abi_struct_check_out(const void *out, size_t needed, const char *what, fcb_error *err);

#define ABI_STRUCT_CHECK_OUT(out, last, what, err) \
    abi_struct_check_out((out), FCB_FIELD_END(__typeof__(*(out)), last), (what), (err))

#endif
