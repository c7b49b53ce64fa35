/* zip_fixture: in-memory zips for tests. */
#include "zip_fixture.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

void *zip_fixture_make(const zip_fixture_entry *entries, size_t n, size_t *len)
{
    size_t cap = 1024 * 1024;
    for (size_t i = 0; i < n; i++)
        cap += (entries[i].size != 0 ? entries[i].size : strlen(entries[i].data)) + 1024;
    unsigned char *buf = malloc(cap);
    struct archive *a = archive_write_new();
    size_t used = 0;
    if (buf == NULL || a == NULL)
        goto fail;
    if (archive_write_set_format_zip(a) != ARCHIVE_OK ||
        archive_write_open_memory(a, buf, cap, &used) != ARCHIVE_OK)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        const zip_fixture_entry *e = &entries[i];
        size_t size = e->size != 0 ? e->size : strlen(e->data);
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, e->name);
        if (e->symlink) {
            archive_entry_set_filetype(ae, AE_IFLNK);
            archive_entry_set_symlink(ae, e->data);
            archive_entry_set_perm(ae, 0777);
        } else if (e->directory) {
            archive_entry_set_filetype(ae, AE_IFDIR);
            archive_entry_set_perm(ae, 0755);
        } else {
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_perm(ae, 0644);
            archive_entry_set_size(ae, (la_int64_t)size);
        }
        int r = archive_write_header(ae == NULL ? NULL : a, ae);
        if (r == ARCHIVE_OK && !e->symlink && !e->directory && size > 0)
            r = archive_write_data(a, e->data, size) == (la_ssize_t)size ? ARCHIVE_OK
                                                                         : ARCHIVE_FATAL;
        archive_entry_free(ae);
        if (r != ARCHIVE_OK)
            goto fail;
    }
    if (archive_write_close(a) != ARCHIVE_OK)
        goto fail;
    archive_write_free(a);
    *len = used;
    return buf;
fail:
    if (a != NULL)
        archive_write_free(a);
    free(buf);
    return NULL;
}

void zip_fixture_free(void *zip)
{
    free(zip);
}
