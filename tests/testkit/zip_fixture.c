/* zip_fixture: in-memory zips for tests. */
#include "zip_fixture.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

/* Set the unix mode of NAME's central directory header to S_IFCHR | 0644. */
static void zip_fixture_mark_device(unsigned char *zip, size_t len, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i + 46 + n <= len; i++) {
        if (memcmp(zip + i, "PK\x01\x02", 4) != 0)
            continue;
        size_t name_len = (size_t)zip[i + 28] | (size_t)zip[i + 29] << 8;
        if (name_len == n && memcmp(zip + i + 46, name, n) == 0) {
            unsigned mode = 0020644; /* S_IFCHR | 0644 */
            zip[i + 5] = 3;          /* made by: unix */
            zip[i + 40] = (unsigned char)(mode & 0xff);
            zip[i + 41] = (unsigned char)(mode >> 8);
        }
    }
}

void *zip_fixture_zeros(const char *name, size_t size, size_t *len)
{
    size_t cap = size / 256 + 1024 * 1024;
    unsigned char *buf = malloc(cap);
    static const char chunk[65536];
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    size_t used = 0;
    if (buf == NULL || a == NULL || e == NULL || archive_write_set_format_zip(a) != ARCHIVE_OK ||
        archive_write_open_memory(a, buf, cap, &used) != ARCHIVE_OK)
        goto fail;
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)size);
    if (archive_write_header(a, e) != ARCHIVE_OK)
        goto fail;
    for (size_t done = 0; done < size;) {
        size_t k = size - done < sizeof chunk ? size - done : sizeof chunk;
        if (archive_write_data(a, chunk, k) != (la_ssize_t)k)
            goto fail;
        done += k;
    }
    if (archive_write_close(a) != ARCHIVE_OK)
        goto fail;
    archive_entry_free(e);
    archive_write_free(a);
    *len = used;
    return buf;
fail:
    archive_entry_free(e);
    if (a != NULL)
        archive_write_free(a);
    free(buf);
    return NULL;
}

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
    for (size_t i = 0; i < n; i++)
        if (entries[i].device)
            zip_fixture_mark_device(buf, used, entries[i].name);
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
