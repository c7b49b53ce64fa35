/*
 * ziptar: zip -> tar in memory with libarchive.
 *
 * The zip is read from memory (libarchive uses the seekable zip reader, so
 * entry sizes come from the central directory); each entry's data is
 * buffered once (bounded by what is left of the total-size limit) so the
 * tar header can carry the size actually read rather than the size the
 * zip claims. Sizes are checked against the limits both as declared (early,
 * before inflating anything) and as read (a lying zip cannot pass).
 */
#include "ziptar.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>

#define ZIPTAR_NAME_MAX   4096
#define ZIPTAR_READ_CHUNK 65536

struct ziptar {
    const fcb_host_services *host;
    ziptar_limits limits;
    struct archive *writer;
    sbuf out;   /* tar bytes */
    sbuf chunk; /* one entry's data, reused */
    uint64_t total_bytes;
    uint64_t entries;
    bool broken;
};

ziptar_limits ziptar_limits_default(void)
{
    ziptar_limits l = {
        .max_total_bytes = ZIPTAR_DEFAULT_MAX_TOTAL_BYTES,
        .max_ratio = ZIPTAR_DEFAULT_MAX_RATIO,
        .ratio_min_bytes = ZIPTAR_DEFAULT_RATIO_MIN_BYTES,
        .max_entries = ZIPTAR_DEFAULT_MAX_ENTRIES,
    };
    return l;
}

const char *ziptar_unsafe_name(const char *name)
{
    if (name == NULL || name[0] == '\0')
        return "empty name";
    if (strnlen(name, ZIPTAR_NAME_MAX + 1) > ZIPTAR_NAME_MAX)
        return "name too long";
    if (name[0] == '/')
        return "absolute path";
    if (strchr(name, '\\') != NULL)
        return "backslash in name";
    const char *p = name;
    for (size_t i = 0; i < ZIPTAR_NAME_MAX && *p != '\0'; i++) {
        const char *slash = strchr(p, '/');
        size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return "'..' component";
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    return NULL;
}

/* Walk the '/'-separated components of PATH from DEPTH; -1 when it escapes. */
static long ziptar_walk(const char *path, long depth)
{
    const char *p = path;
    for (size_t i = 0; i < ZIPTAR_NAME_MAX && *p != '\0'; i++) {
        const char *slash = strchr(p, '/');
        size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (--depth < 0)
                return -1;
        } else if (!(n == 0 || (n == 1 && p[0] == '.'))) {
            depth++;
        }
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    return depth;
}

const char *ziptar_unsafe_link(const char *entry, const char *link, int is_hardlink)
{
    if (link == NULL || link[0] == '\0')
        return "empty link target";
    if (strnlen(link, ZIPTAR_NAME_MAX + 1) > ZIPTAR_NAME_MAX)
        return "link target too long";
    if (link[0] == '/')
        return "link target is an absolute path";
    if (strchr(link, '\\') != NULL)
        return "backslash in link target";
    long depth = 0;
    if (!is_hardlink) {
        /* A symlink resolves from the directory that holds it. */
        char dir[ZIPTAR_NAME_MAX + 1];
        size_t n = strnlen(entry, ZIPTAR_NAME_MAX);
        memcpy(dir, entry, n);
        dir[n] = '\0';
        while (n > 0 && dir[n - 1] == '/')
            dir[--n] = '\0';
        char *last = strrchr(dir, '/');
        if (last != NULL) {
            *last = '\0';
            depth = ziptar_walk(dir, 0);
        }
        if (depth < 0)
            return "link lies outside the archive";
    }
    if (ziptar_walk(link, depth) < 0)
        return "link target points outside the target directory";
    return NULL;
}

static la_ssize_t ziptar_write_cb(struct archive *a, void *ctx, const void *buf, size_t len)
{
    ziptar *tar = ctx;
    if (!sbuf_append(&tar->out, buf, len)) {
        archive_set_error(a, ENOMEM, "out of memory for the tar buffer");
        return -1;
    }
    return (la_ssize_t)len;
}

int ziptar_new(const fcb_host_services *host, const ziptar_limits *limits, ziptar **out,
               fcb_error *err)
{
    int rc = FCB_OK;
    *out = NULL;
    ziptar *tar = svc_calloc(host, 1, sizeof *tar);
    if (tar == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "archive: out of memory");
    tar->host = host;
    tar->limits = limits != NULL ? *limits : ziptar_limits_default();
    sbuf_init(&tar->out, host, 0);
    sbuf_init(&tar->chunk, host, 0);
    tar->writer = archive_write_new();
    if (tar->writer == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "archive: out of memory for the tar writer");
        goto fail;
    }
    if (archive_write_set_format_pax_restricted(tar->writer) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(tar->writer, 1) != ARCHIVE_OK ||
        archive_write_open(tar->writer, tar, NULL, ziptar_write_cb, NULL) != ARCHIVE_OK) {
        rc = err_set(err, FCB_ERR_INTERNAL, "archive: cannot start the tar writer: %s",
                     archive_error_string(tar->writer));
        goto fail;
    }
    *out = tar;
    return FCB_OK;
fail:
    ziptar_free(tar);
    return rc;
}

/* "dest/name" without a trailing '/' and without leading "./". */
static char *ziptar_join(const fcb_host_services *host, const char *dest, const char *name)
{
    while (name[0] == '.' && name[1] == '/')
        name += 2;
    size_t n = strlen(name);
    while (n > 0 && name[n - 1] == '/')
        n--;
    if (n == 0)
        return svc_strdup(host, dest);
    return svc_sprintf(host, "%s/%.*s", dest, (int)n, name);
}

static int ziptar_write_header_checked(ziptar *tar, struct archive_entry *e, const char *what,
                                       const char *name, fcb_error *err)
{
    if (archive_write_header(tar->writer, e) < ARCHIVE_WARN) {
        if (sbuf_failed(&tar->out))
            return err_set(err, FCB_ERR_NO_MEMORY, "%s zip: out of memory writing entry '%s'", what,
                           name);
        return err_set(err, FCB_ERR_INTERNAL, "%s zip: cannot write tar entry '%s': %s", what, name,
                       archive_error_string(tar->writer));
    }
    return FCB_OK;
}

static int ziptar_add_dir(ziptar *tar, const char *path, const char *what, fcb_error *err)
{
    struct archive_entry *e = archive_entry_new();
    if (e == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "%s zip: out of memory", what);
    archive_entry_set_pathname(e, path);
    archive_entry_set_filetype(e, AE_IFDIR);
    archive_entry_set_perm(e, 0755);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    int rc = ziptar_write_header_checked(tar, e, what, path, err);
    archive_entry_free(e);
    return rc;
}

/* Zip-bomb and size checks for UNCOMPRESSED bytes of a zip of ZIP_SIZE bytes. */
static int ziptar_check_sizes(ziptar *tar, uint64_t zip_uncompressed, size_t zip_size,
                              const char *what, const char *name, fcb_error *err)
{
    const ziptar_limits *l = &tar->limits;
    if (tar->total_bytes + zip_uncompressed > l->max_total_bytes ||
        zip_uncompressed > l->max_total_bytes)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "%s zip: uncompressed size exceeds the limit of %llu bytes "
                       "(at entry '%s')",
                       what, (unsigned long long)l->max_total_bytes, name);
    if (l->max_ratio > 0 && zip_uncompressed > l->ratio_min_bytes && zip_size > 0 &&
        zip_uncompressed / zip_size > l->max_ratio)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "%s zip: refused as a zip bomb: %llu bytes uncompressed from %zu "
                       "compressed (ratio above %llu, at entry '%s')",
                       what, (unsigned long long)zip_uncompressed, zip_size,
                       (unsigned long long)l->max_ratio, name);
    return FCB_OK;
}

int ziptar_add_zip(ziptar *tar, const void *zip, size_t size, const char *dest_dir,
                   const char *what, fcb_error *err)
{
    int rc = FCB_OK;
    struct archive *reader = NULL;
    struct archive_entry *out_entry = NULL;
    char *path = NULL;
    char *link = NULL;
    uint64_t zip_declared = 0, zip_read = 0;

    if (tar->broken)
        return err_set(err, FCB_ERR_INTERNAL, "%s zip: tar writer already failed", what);
    if (dest_dir == NULL || dest_dir[0] == '\0' || ziptar_unsafe_name(dest_dir) != NULL)
        return err_set(err, FCB_ERR_INTERNAL, "%s zip: bad target directory", what);
    if (zip == NULL || size == 0) {
        rc = err_set(err, FCB_ERR_INVALID_ARGUMENT, "%s zip: empty (0 bytes)", what);
        goto out;
    }
    reader = archive_read_new();
    if (reader == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "%s zip: out of memory", what);
        goto out;
    }
    archive_read_support_format_zip(reader);
    if (archive_read_open_memory(reader, zip, size) != ARCHIVE_OK) {
        rc = err_set(err, FCB_ERR_INVALID_ARGUMENT, "%s zip: corrupted or not a zip archive: %s",
                     what, archive_error_string(reader));
        goto out;
    }
    rc = ziptar_add_dir(tar, dest_dir, what, err);
    if (rc != FCB_OK)
        goto out;

    for (;;) {
        struct archive_entry *in = NULL;
        int r = archive_read_next_header(reader, &in);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            rc =
                err_set(err, FCB_ERR_INVALID_ARGUMENT, "%s zip: corrupted or not a zip archive: %s",
                        what, archive_error_string(reader));
            goto out;
        }
        if (++tar->entries > tar->limits.max_entries) {
            rc = err_set(err, FCB_ERR_INVALID_ARGUMENT, "%s zip: more than %llu entries", what,
                         (unsigned long long)tar->limits.max_entries);
            goto out;
        }
        const char *name = archive_entry_pathname(in);
        const char *why = ziptar_unsafe_name(name);
        if (why != NULL) {
            rc = err_set(err, FCB_ERR_INVALID_ARGUMENT, "%s zip: unsafe entry '%s': %s", what,
                         name != NULL ? name : "", why);
            goto out;
        }
        mode_t type = archive_entry_filetype(in);
        const char *symlink = archive_entry_symlink(in);
        const char *hardlink = archive_entry_hardlink(in);
        if (type == AE_IFLNK || symlink != NULL || hardlink != NULL) {
            int hard = (type != AE_IFLNK && symlink == NULL);
            const char *target = hard ? hardlink : symlink;
            why = ziptar_unsafe_link(name, target, hard);
            if (why != NULL) {
                rc = err_set(err, FCB_ERR_INVALID_ARGUMENT, "%s zip: unsafe entry '%s' -> '%s': %s",
                             what, name, target != NULL ? target : "", why);
                goto out;
            }
        } else if (type != AE_IFREG && type != AE_IFDIR) {
            rc = err_set(err, FCB_ERR_INVALID_ARGUMENT,
                         "%s zip: entry '%s' is neither a file, a directory nor a symlink", what,
                         name);
            goto out;
        }
        if (archive_entry_size_is_set(in) && archive_entry_size(in) > 0) {
            zip_declared += (uint64_t)archive_entry_size(in);
            rc = ziptar_check_sizes(tar, zip_declared, size, what, name, err);
            if (rc != FCB_OK)
                goto out;
        }

        path = ziptar_join(tar->host, dest_dir, name);
        out_entry = archive_entry_new();
        if (path == NULL || out_entry == NULL) {
            rc = err_set(err, FCB_ERR_NO_MEMORY, "%s zip: out of memory", what);
            goto out;
        }
        archive_entry_set_pathname(out_entry, path);
        archive_entry_set_uid(out_entry, 0);
        archive_entry_set_gid(out_entry, 0);
        archive_entry_set_uname(out_entry, "root");
        archive_entry_set_gname(out_entry, "root");
        if (archive_entry_mtime_is_set(in))
            archive_entry_set_mtime(out_entry, archive_entry_mtime(in), 0);
        mode_t perm = archive_entry_perm(in) & 07777;

        if (type == AE_IFDIR) {
            archive_entry_set_filetype(out_entry, AE_IFDIR);
            archive_entry_set_perm(out_entry, (perm | 0555) & 0777);
            rc = ziptar_write_header_checked(tar, out_entry, what, name, err);
        } else if (symlink != NULL || type == AE_IFLNK) {
            archive_entry_set_filetype(out_entry, AE_IFLNK);
            archive_entry_set_perm(out_entry, 0777);
            archive_entry_set_symlink(out_entry, symlink);
            rc = ziptar_write_header_checked(tar, out_entry, what, name, err);
        } else if (hardlink != NULL) {
            link = ziptar_join(tar->host, dest_dir, hardlink);
            if (link == NULL) {
                rc = err_set(err, FCB_ERR_NO_MEMORY, "%s zip: out of memory", what);
                goto out;
            }
            archive_entry_set_filetype(out_entry, AE_IFREG);
            archive_entry_set_perm(out_entry, (perm | 0444) & 0777);
            archive_entry_set_hardlink(out_entry, link);
            archive_entry_set_size(out_entry, 0);
            rc = ziptar_write_header_checked(tar, out_entry, what, name, err);
        } else {
            /* Regular file: buffer its data (bounded) so the header size is exact. */
            tar->chunk.len = 0;
            for (;;) {
                char buf[ZIPTAR_READ_CHUNK];
                la_ssize_t n = archive_read_data(reader, buf, sizeof buf);
                if (n == 0)
                    break;
                if (n < 0) {
                    rc = err_set(err, FCB_ERR_INVALID_ARGUMENT,
                                 "%s zip: corrupted data in entry '%s': %s", what, name,
                                 archive_error_string(reader));
                    goto out;
                }
                zip_read += (uint64_t)n;
                rc = ziptar_check_sizes(tar, zip_read, size, what, name, err);
                if (rc != FCB_OK)
                    goto out;
                if (!sbuf_append(&tar->chunk, buf, (size_t)n)) {
                    rc = err_set(err, FCB_ERR_NO_MEMORY, "%s zip: out of memory reading entry '%s'",
                                 what, name);
                    goto out;
                }
            }
            archive_entry_set_filetype(out_entry, AE_IFREG);
            archive_entry_set_perm(out_entry, perm == 0 ? 0644 : ((perm | 0444) & 0777));
            archive_entry_set_size(out_entry, (la_int64_t)tar->chunk.len);
            rc = ziptar_write_header_checked(tar, out_entry, what, name, err);
            if (rc == FCB_OK && tar->chunk.len > 0 &&
                archive_write_data(tar->writer, tar->chunk.data, tar->chunk.len) !=
                    (la_ssize_t)tar->chunk.len) {
                rc = sbuf_failed(&tar->out)
                         ? err_set(err, FCB_ERR_NO_MEMORY,
                                   "%s zip: out of memory writing entry '%s'", what, name)
                         : err_set(err, FCB_ERR_INTERNAL, "%s zip: cannot write data of '%s': %s",
                                   what, name, archive_error_string(tar->writer));
            }
        }
        if (rc != FCB_OK)
            goto out;
        archive_entry_free(out_entry);
        out_entry = NULL;
        svc_free(tar->host, path);
        path = NULL;
        svc_free(tar->host, link);
        link = NULL;
    }
    tar->total_bytes += zip_read;

out:
    if (rc != FCB_OK)
        tar->broken = true;
    archive_entry_free(out_entry);
    svc_free(tar->host, path);
    svc_free(tar->host, link);
    if (reader != NULL)
        archive_read_free(reader);
    return rc;
}

int ziptar_finish(ziptar *tar, char **data, size_t *len, fcb_error *err)
{
    *data = NULL;
    *len = 0;
    if (tar->broken)
        return err_set(err, FCB_ERR_INTERNAL, "archive: tar writer already failed");
    if (archive_write_close(tar->writer) != ARCHIVE_OK) {
        tar->broken = true;
        if (sbuf_failed(&tar->out))
            return err_set(err, FCB_ERR_NO_MEMORY, "archive: out of memory finishing the tar");
        return err_set(err, FCB_ERR_INTERNAL, "archive: cannot finish the tar: %s",
                       archive_error_string(tar->writer));
    }
    tar->broken = true; /* closed: nothing more can be added */
    *data = sbuf_steal(&tar->out, len);
    if (*data == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "archive: out of memory finishing the tar");
    return FCB_OK;
}

uint64_t ziptar_total_bytes(const ziptar *tar)
{
    return tar->total_bytes;
}

uint64_t ziptar_entries(const ziptar *tar)
{
    return tar->entries;
}

void ziptar_free(ziptar *tar)
{
    if (tar == NULL)
        return;
    if (tar->writer != NULL)
        archive_write_free(tar->writer);
    sbuf_free(&tar->out);
    sbuf_free(&tar->chunk);
    svc_free(tar->host, tar);
}
