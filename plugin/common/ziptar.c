/*
 * ziptar: zip checks and zip -> tar with libarchive, in bounded memory.
 *
 * The zip is read from memory (libarchive uses the seekable zip reader, so
 * entry sizes come from the central directory). ziptar_check_zip makes one
 * pass: every entry's name, type and link target, then its data inflated
 * into a fixed 64 KiB buffer and counted (never kept), sizes checked against
 * the limits both as declared (before inflating anything) and as read after
 * every chunk, and each entry must hold exactly the size it declares. The
 * tar writer runs that check, then a second pass that writes each header
 * with the declared (now verified) size and streams the data in chunks.
 */
#include "ziptar.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define ZIPTAR_NAME_MAX   4096
#define ZIPTAR_READ_CHUNK 65536

struct ziptar {
    const fcb_host_services *host;
    ziptar_limits limits;
    struct archive *writer;
    sbuf out; /* tar bytes */
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

/*
 * Size and zip-bomb checks: BYTES uncompressed so far from this zip of
 * ZIP_SIZE bytes, on top of BEFORE (earlier zips of the same launch).
 */
static int ziptar_check_sizes(const ziptar_limits *l, uint64_t before, uint64_t bytes,
                              size_t zip_size, const char *what, const char *name, fcb_error *err)
{
    if (bytes > l->max_total_bytes || before + bytes > l->max_total_bytes)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "%s zip: uncompressed size exceeds the limit of %llu bytes "
                       "(at entry '%s')",
                       what, (unsigned long long)l->max_total_bytes, name);
    if (l->max_ratio > 0 && bytes > l->ratio_min_bytes && zip_size > 0 &&
        bytes / zip_size > l->max_ratio)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "%s zip: refused as a zip bomb: %llu bytes uncompressed from %zu "
                       "compressed (ratio above %llu, at entry '%s')",
                       what, (unsigned long long)bytes, zip_size, (unsigned long long)l->max_ratio,
                       name);
    return FCB_OK;
}

static int ziptar_open_reader(const void *zip, size_t size, const char *what, struct archive **out,
                              fcb_error *err)
{
    *out = NULL;
    if (zip == NULL || size == 0)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "%s zip: empty (0 bytes)", what);
    struct archive *reader = archive_read_new();
    if (reader == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "%s zip: out of memory", what);
    archive_read_support_format_zip(reader);
    if (archive_read_open_memory(reader, zip, size) != ARCHIVE_OK) {
        int rc =
            err_set(err, FCB_ERR_INVALID_ARGUMENT, "%s zip: corrupted or not a zip archive: %s",
                    what, archive_error_string(reader));
        archive_read_free(reader);
        return rc;
    }
    *out = reader;
    return FCB_OK;
}

/* Next header into *in: FCB_OK, or 1 at the end, or an error. */
static int ziptar_next(struct archive *reader, struct archive_entry **in, const char *what,
                       fcb_error *err)
{
    int r = archive_read_next_header(reader, in);
    if (r == ARCHIVE_EOF)
        return 1;
    if (r < ARCHIVE_WARN)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "%s zip: corrupted or not a zip archive: %s",
                       what, archive_error_string(reader));
    return FCB_OK;
}

/* Name, type and link target of one entry; the message names the entry. */
static int ziptar_check_entry(struct archive_entry *in, const char *what, fcb_error *err)
{
    const char *name = archive_entry_pathname(in);
    const char *why = ziptar_unsafe_name(name);
    if (why != NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "%s zip: unsafe entry '%.200s': %s", what,
                       name != NULL ? name : "", why);
    mode_t type = archive_entry_filetype(in);
    const char *symlink = archive_entry_symlink(in);
    const char *hardlink = archive_entry_hardlink(in);
    if (type == AE_IFLNK || symlink != NULL || hardlink != NULL) {
        int hard = (type != AE_IFLNK && symlink == NULL);
        const char *target = hard ? hardlink : symlink;
        why = ziptar_unsafe_link(name, target, hard);
        if (why != NULL)
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "%s zip: unsafe entry '%.200s' -> '%.200s': %s", what, name,
                           target != NULL ? target : "", why);
    } else if (type != AE_IFREG && type != AE_IFDIR) {
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "%s zip: entry '%.200s' is neither a file, a directory nor a symlink "
                       "(a device, FIFO or socket)",
                       what, name);
    } else if (type == AE_IFREG && !archive_entry_size_is_set(in)) {
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "%s zip: entry '%.200s' does not declare its size", what, name);
    }
    return FCB_OK;
}

static bool ziptar_is_data(struct archive_entry *in)
{
    return archive_entry_filetype(in) == AE_IFREG && archive_entry_symlink(in) == NULL &&
           archive_entry_hardlink(in) == NULL;
}

/*
 * Inflate the current entry into a fixed buffer, counting: *zip_read grows
 * by what is read and is checked against the limits after every chunk; the
 * entry must hold exactly the size it declared.
 */
static int ziptar_count_entry(struct archive *reader, struct archive_entry *in,
                              const ziptar_limits *l, uint64_t before, uint64_t *zip_read,
                              size_t zip_size, const char *what, fcb_error *err)
{
    const char *name = archive_entry_pathname(in);
    uint64_t declared = (uint64_t)archive_entry_size(in);
    uint64_t got = 0;
    char buf[ZIPTAR_READ_CHUNK];
    for (uint64_t rounds = 0; rounds <= declared + 1; rounds++) {
        la_ssize_t n = archive_read_data(reader, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0)
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "%s zip: corrupted data in entry '%.200s': %s", what, name,
                           archive_error_string(reader));
        got += (uint64_t)n;
        *zip_read += (uint64_t)n;
        int rc = ziptar_check_sizes(l, before, *zip_read, zip_size, what, name, err);
        if (rc != FCB_OK)
            return rc;
        if (got > declared)
            break;
    }
    if (got != declared)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "%s zip: entry '%.200s' holds %s%llu bytes but declares %llu", what, name,
                       got > declared ? "more than " : "", (unsigned long long)got,
                       (unsigned long long)declared);
    return FCB_OK;
}

int ziptar_check_zip(const ziptar_limits *limits, ziptar_totals *totals, const void *zip,
                     size_t size, const char *what, fcb_error *err)
{
    const ziptar_limits l = limits != NULL ? *limits : ziptar_limits_default();
    struct archive *reader = NULL;
    uint64_t declared = 0, zip_read = 0, entries = totals->entries;
    int rc = ziptar_open_reader(zip, size, what, &reader, err);
    while (rc == FCB_OK) {
        struct archive_entry *in = NULL;
        rc = ziptar_next(reader, &in, what, err);
        if (rc != FCB_OK)
            break;
        if (++entries > l.max_entries) {
            rc = err_set(err, FCB_ERR_INVALID_ARGUMENT, "%s zip: more than %llu entries", what,
                         (unsigned long long)l.max_entries);
            break;
        }
        rc = ziptar_check_entry(in, what, err);
        if (rc != FCB_OK || !ziptar_is_data(in))
            continue;
        /* Declared sizes first: most bombs are refused before inflating anything. */
        declared += (uint64_t)archive_entry_size(in);
        rc = ziptar_check_sizes(&l, totals->bytes, declared, size, what, archive_entry_pathname(in),
                                err);
        if (rc == FCB_OK)
            rc = ziptar_count_entry(reader, in, &l, totals->bytes, &zip_read, size, what, err);
    }
    if (reader != NULL)
        archive_read_free(reader);
    if (rc != 1)
        return rc;
    totals->bytes += zip_read;
    totals->entries = entries;
    return FCB_OK;
}

int ziptar_check_launch(const ziptar_limits *limits, const fcb_function *fn, const fcb_blob *code,
                        const fcb_blob *layers, size_t n_layers, fcb_error *err)
{
    ziptar_totals totals = {0, 0};
    if (fn != NULL && fn->package_type == FCB_PACKAGE_ZIP && code != NULL && code->size > 0) {
        int rc = ziptar_check_zip(limits, &totals, code->data, code->size, "code", err);
        if (rc != FCB_OK)
            return rc;
    }
    if (n_layers > 0 && layers == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "Layers: %zu layers but no array", n_layers);
    for (size_t i = 0; i < n_layers; i++) {
        char what[32];
        snprintf(what, sizeof what, "layer %zu", i + 1);
        int rc = ziptar_check_zip(limits, &totals, layers[i].data, layers[i].size, what, err);
        if (rc != FCB_OK)
            return rc;
    }
    return FCB_OK;
}

/*
 * Copy the current entry's data into the tar in fixed-size chunks: exactly
 * DECLARED bytes (what the header says; ziptar_check_zip verified it).
 */
static int ziptar_stream_data(ziptar *tar, struct archive *reader, uint64_t declared,
                              const char *what, const char *name, fcb_error *err)
{
    uint64_t got = 0;
    char buf[ZIPTAR_READ_CHUNK];
    for (uint64_t rounds = 0; rounds <= declared + 1; rounds++) {
        la_ssize_t n = archive_read_data(reader, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0)
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "%s zip: corrupted data in entry '%.200s': %s", what, name,
                           archive_error_string(reader));
        got += (uint64_t)n;
        if (got > declared)
            break;
        if (archive_write_data(tar->writer, buf, (size_t)n) != n)
            return sbuf_failed(&tar->out)
                       ? err_set(err, FCB_ERR_NO_MEMORY,
                                 "%s zip: out of memory writing entry '%.200s'", what, name)
                       : err_set(err, FCB_ERR_INTERNAL, "%s zip: cannot write data of '%.200s': %s",
                                 what, name, archive_error_string(tar->writer));
    }
    if (got != declared)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "%s zip: entry '%.200s' changed size while copied", what, name);
    return FCB_OK;
}

/* Tar header for entry IN (already checked) under DEST_DIR; data streamed after. */
static int ziptar_write_entry(ziptar *tar, struct archive *reader, struct archive_entry *in,
                              const char *dest_dir, const char *what, fcb_error *err)
{
    int rc = FCB_OK;
    const char *name = archive_entry_pathname(in);
    mode_t type = archive_entry_filetype(in);
    const char *symlink = archive_entry_symlink(in);
    const char *hardlink = archive_entry_hardlink(in);
    char *link = NULL;
    char *path = ziptar_join(tar->host, dest_dir, name);
    struct archive_entry *out = archive_entry_new();
    if (path == NULL || out == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "%s zip: out of memory", what);
        goto out;
    }
    archive_entry_set_pathname(out, path);
    archive_entry_set_uid(out, 0);
    archive_entry_set_gid(out, 0);
    archive_entry_set_uname(out, "root");
    archive_entry_set_gname(out, "root");
    if (archive_entry_mtime_is_set(in))
        archive_entry_set_mtime(out, archive_entry_mtime(in), 0);
    mode_t perm = archive_entry_perm(in) & 07777;
    if (type == AE_IFDIR) {
        archive_entry_set_filetype(out, AE_IFDIR);
        archive_entry_set_perm(out, (perm | 0555) & 0777);
    } else if (symlink != NULL || type == AE_IFLNK) {
        archive_entry_set_filetype(out, AE_IFLNK);
        archive_entry_set_perm(out, 0777);
        archive_entry_set_symlink(out, symlink);
    } else if (hardlink != NULL) {
        link = ziptar_join(tar->host, dest_dir, hardlink);
        if (link == NULL) {
            rc = err_set(err, FCB_ERR_NO_MEMORY, "%s zip: out of memory", what);
            goto out;
        }
        archive_entry_set_filetype(out, AE_IFREG);
        archive_entry_set_perm(out, (perm | 0444) & 0777);
        archive_entry_set_hardlink(out, link);
        archive_entry_set_size(out, 0);
    } else {
        archive_entry_set_filetype(out, AE_IFREG);
        archive_entry_set_perm(out, perm == 0 ? 0644 : ((perm | 0444) & 0777));
        archive_entry_set_size(out, archive_entry_size(in));
    }
    rc = ziptar_write_header_checked(tar, out, what, name, err);
    if (rc == FCB_OK && ziptar_is_data(in))
        rc = ziptar_stream_data(tar, reader, (uint64_t)archive_entry_size(in), what, name, err);
out:
    archive_entry_free(out);
    svc_free(tar->host, path);
    svc_free(tar->host, link);
    return rc;
}

int ziptar_add_zip(ziptar *tar, const void *zip, size_t size, const char *dest_dir,
                   const char *what, fcb_error *err)
{
    struct archive *reader = NULL;

    if (tar->broken)
        return err_set(err, FCB_ERR_INTERNAL, "%s zip: tar writer already failed", what);
    if (dest_dir == NULL || dest_dir[0] == '\0' || ziptar_unsafe_name(dest_dir) != NULL)
        return err_set(err, FCB_ERR_INTERNAL, "%s zip: bad target directory", what);
    /* The one check every backend uses; the write pass below trusts its sizes. */
    ziptar_totals totals = {tar->total_bytes, tar->entries};
    int rc = ziptar_check_zip(&tar->limits, &totals, zip, size, what, err);
    if (rc == FCB_OK)
        rc = ziptar_open_reader(zip, size, what, &reader, err);
    if (rc == FCB_OK)
        rc = ziptar_add_dir(tar, dest_dir, what, err);
    while (rc == FCB_OK) {
        struct archive_entry *in = NULL;
        rc = ziptar_next(reader, &in, what, err);
        if (rc == FCB_OK)
            rc = ziptar_check_entry(in, what, err);
        if (rc == FCB_OK)
            rc = ziptar_write_entry(tar, reader, in, dest_dir, what, err);
    }
    if (reader != NULL)
        archive_read_free(reader);
    if (rc != 1) {
        tar->broken = true;
        return rc;
    }
    tar->total_bytes = totals.bytes;
    tar->entries = totals.entries;
    return FCB_OK;
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
    svc_free(tar->host, tar);
}
