/* abi_struct: the size rule of backend_plugin.h in one place. */
#include "abi_struct.h"

#include "svc.h"

#include <string.h>

int abi_struct_check_out(const void *out, size_t needed, const char *what, fcb_error *err)
{
    if (out == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "%s is required", what);
    uint32_t size;
    memcpy(&size, out, sizeof size);
    if (size < needed)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "%s.size %u is too small (at least %zu bytes needed)", what, (unsigned)size,
                       needed);
    return FCB_OK;
}

int abi_struct_read(void *dst, size_t dst_size, const void *src, size_t needed, const char *what,
                    fcb_error *err)
{
    memset(dst, 0, dst_size);
    int rc = abi_struct_check_out(src, needed, what, err);
    if (rc != FCB_OK)
        return rc;
    uint32_t size;
    memcpy(&size, src, sizeof size);
    memcpy(dst, src, size < dst_size ? size : dst_size);
    return FCB_OK;
}
