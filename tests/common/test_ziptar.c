/* Unit tests of plugin/common/ziptar.c: zip -> tar, zip-slip, bombs, limits. */
#include "mock_fixture.h"
#include "zip_fixture.h"
#include "ziptar.h"

#include <archive.h>
#include <archive_entry.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

MOCK_HOST_SUITE(ziptar);

/* Convert one zip under DEST; returns the fcb status, tar in *tar (svc_free). */
static int convert(const void *zip, size_t len, const char *dest, const ziptar_limits *limits,
                   char **tar, size_t *tar_len, fcb_error *err)
{
    ziptar *t = NULL;
    *tar = NULL;
    int rc = ziptar_new(host, limits, &t, err);
    if (rc == FCB_OK)
        rc = ziptar_add_zip(t, zip, len, dest, "code", err);
    if (rc == FCB_OK)
        rc = ziptar_finish(t, tar, tar_len, err);
    ziptar_free(t);
    return rc;
}

/* Content of entry NAME in TAR (malloc'd), type in *type; NULL when absent. */
static char *tar_entry(const char *tar, size_t len, const char *name, mode_t *type, char *link,
                       size_t link_size)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    cr_assert_eq(archive_read_open_memory(a, tar, len), ARCHIVE_OK);
    struct archive_entry *e;
    char *found = NULL;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        if (strcmp(archive_entry_pathname(e), name) != 0)
            continue;
        *type = archive_entry_filetype(e);
        if (link != NULL && archive_entry_symlink(e) != NULL)
            snprintf(link, link_size, "%s", archive_entry_symlink(e));
        size_t size = (size_t)archive_entry_size(e);
        found = calloc(1, size + 1);
        if (size > 0)
            cr_assert_eq(archive_read_data(a, found, size), (la_ssize_t)size);
        break;
    }
    archive_read_free(a);
    return found;
}

Test(ziptar, writes_every_entry_under_the_target_directory_with_its_content)
{
    zip_fixture_entry entries[] = {
        {.name = "app.sh", .data = "echo hello"},
        {.name = "lib/", .data = "", .directory = 1},
        {.name = "lib/util.sh", .data = "util"},
        {.name = "./dot/x.txt", .data = "dotted"},
        {.name = "link", .data = "lib/util.sh", .symlink = 1},
    };
    size_t zlen;
    void *zip = zip_fixture_make(entries, 5, &zlen);
    cr_assert_not_null(zip);
    char *tar;
    size_t tlen;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(convert(zip, zlen, "var/task", NULL, &tar, &tlen, &err), FCB_OK, "%s",
                 err.message);
    mode_t type = 0;
    char link[64] = "";
    char *c = tar_entry(tar, tlen, "var/task/app.sh", &type, NULL, 0);
    cr_assert_not_null(c, "var/task/app.sh missing");
    cr_expect_str_eq(c, "echo hello");
    cr_expect_eq(type, AE_IFREG);
    free(c);
    c = tar_entry(tar, tlen, "var/task/lib/util.sh", &type, NULL, 0);
    cr_assert_not_null(c);
    cr_expect_str_eq(c, "util");
    free(c);
    c = tar_entry(tar, tlen, "var/task/dot/x.txt", &type, NULL, 0);
    cr_assert_not_null(c, "leading ./ is dropped");
    free(c);
    c = tar_entry(tar, tlen, "var/task/", &type, NULL, 0);
    cr_assert_not_null(c, "target directory entry is written");
    cr_expect_eq(type, AE_IFDIR);
    free(c);
    c = tar_entry(tar, tlen, "var/task/link", &type, link, sizeof link);
    cr_assert_not_null(c);
    cr_expect_eq(type, AE_IFLNK);
    cr_expect_str_eq(link, "lib/util.sh");
    free(c);
    svc_free(host, tar);
    zip_fixture_free(zip);
}

Test(ziptar, combines_code_and_layers_into_one_tar)
{
    zip_fixture_entry code[] = {{.name = "app.sh", .data = "code"}};
    zip_fixture_entry layer[] = {{.name = "bin/tool", .data = "layer"}};
    size_t l1, l2;
    void *z1 = zip_fixture_make(code, 1, &l1);
    void *z2 = zip_fixture_make(layer, 1, &l2);
    ziptar *t = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(ziptar_new(host, NULL, &t, &err), FCB_OK);
    cr_assert_eq(ziptar_add_zip(t, z1, l1, "var/task", "code", &err), FCB_OK, "%s", err.message);
    cr_assert_eq(ziptar_add_zip(t, z2, l2, "opt", "layer 1", &err), FCB_OK, "%s", err.message);
    cr_expect_eq(ziptar_total_bytes(t), 9);
    char *tar;
    size_t tlen;
    cr_assert_eq(ziptar_finish(t, &tar, &tlen, &err), FCB_OK);
    ziptar_free(t);
    mode_t type;
    char *c = tar_entry(tar, tlen, "opt/bin/tool", &type, NULL, 0);
    cr_assert_not_null(c);
    cr_expect_str_eq(c, "layer");
    free(c);
    svc_free(host, tar);
    zip_fixture_free(z1);
    zip_fixture_free(z2);
}

static void expect_refused(const zip_fixture_entry *entries, size_t n, const char *needle1,
                           const char *needle2)
{
    size_t zlen;
    void *zip = zip_fixture_make(entries, n, &zlen);
    cr_assert_not_null(zip);
    char *tar = NULL;
    size_t tlen;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(convert(zip, zlen, "var/task", NULL, &tar, &tlen, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect_null(tar);
    cr_expect(strstr(err.message, needle1) != NULL, "message '%s' lacks '%s'", err.message,
              needle1);
    cr_expect(strstr(err.message, needle2) != NULL, "message '%s' lacks '%s'", err.message,
              needle2);
    zip_fixture_free(zip);
}

Test(ziptar, refuses_a_dot_dot_entry_naming_it)
{
    zip_fixture_entry e[] = {{.name = "ok.txt", .data = "x"},
                             {.name = "a/../../evil", .data = "x"}};
    expect_refused(e, 2, "a/../../evil", "'..'");
}

Test(ziptar, refuses_an_absolute_entry_naming_it)
{
    zip_fixture_entry e[] = {{.name = "/etc/passwd", .data = "x"}};
    expect_refused(e, 1, "/etc/passwd", "absolute");
}

Test(ziptar, refuses_a_symlink_pointing_outside)
{
    zip_fixture_entry e[] = {{.name = "sub/link", .data = "../../etc", .symlink = 1}};
    expect_refused(e, 1, "sub/link", "outside");
}

Test(ziptar, refuses_an_absolute_symlink)
{
    zip_fixture_entry e[] = {{.name = "link", .data = "/etc/shadow", .symlink = 1}};
    expect_refused(e, 1, "link", "absolute");
}

Test(ziptar, refuses_a_zip_bomb)
{
    size_t size = 8u * 1024 * 1024;
    char *zeros = calloc(1, size);
    zip_fixture_entry e[] = {{.name = "zeros.bin", .data = zeros, .size = size}};
    size_t zlen;
    void *zip = zip_fixture_make(e, 1, &zlen);
    cr_assert_not_null(zip);
    cr_assert_lt(zlen, size / 200, "fixture is not compressed enough (%zu)", zlen);
    char *tar = NULL;
    size_t tlen;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(convert(zip, zlen, "var/task", NULL, &tar, &tlen, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "zip bomb") != NULL, "%s", err.message);
    cr_expect(strstr(err.message, "zeros.bin") != NULL, "%s", err.message);
    zip_fixture_free(zip);
    free(zeros);
}

Test(ziptar, refuses_code_above_the_total_size_limit)
{
    char data[4096];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)('a' + (i * 7919) % 26);
    zip_fixture_entry e[] = {{.name = "a", .data = data, .size = sizeof data},
                             {.name = "b", .data = data, .size = sizeof data}};
    size_t zlen;
    void *zip = zip_fixture_make(e, 2, &zlen);
    ziptar_limits limits = ziptar_limits_default();
    limits.max_total_bytes = 6000;
    char *tar = NULL;
    size_t tlen;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(convert(zip, zlen, "var/task", &limits, &tar, &tlen, &err),
                 FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "exceeds the limit of 6000 bytes") != NULL, "%s", err.message);
    zip_fixture_free(zip);
}

Test(ziptar, reports_a_corrupted_zip_clearly)
{
    char junk[512];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 31 + 7);
    char *tar = NULL;
    size_t tlen;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(convert(junk, sizeof junk, "var/task", NULL, &tar, &tlen, &err),
                 FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "code zip: corrupted or not a zip archive") != NULL, "%s",
              err.message);
}

Test(ziptar, reports_a_truncated_zip_clearly)
{
    zip_fixture_entry e[] = {{.name = "app.sh", .data = "echo hello world, this is some text"}};
    size_t zlen;
    void *zip = zip_fixture_make(e, 1, &zlen);
    char *tar = NULL;
    size_t tlen;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(convert(zip, zlen / 2, "var/task", NULL, &tar, &tlen, &err),
                 FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "code zip") != NULL, "%s", err.message);
    zip_fixture_free(zip);
}

Test(ziptar, refuses_an_empty_blob)
{
    char *tar = NULL;
    size_t tlen;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(convert(NULL, 0, "var/task", NULL, &tar, &tlen, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "empty") != NULL, "%s", err.message);
}

Test(ziptar, survives_every_allocation_failure_without_leaking)
{
    zip_fixture_entry e[] = {{.name = "app.sh", .data = "echo hello"},
                             {.name = "lib/x", .data = "x"}};
    size_t zlen;
    void *zip = zip_fixture_make(e, 2, &zlen);
    size_t failures = 0;
    for (size_t n = 1; n < 200; n++) {
        mock_host_fail_alloc(mh, n);
        char *tar = NULL;
        size_t tlen;
        fcb_error err = FCB_ERROR_INIT;
        int rc = convert(zip, zlen, "var/task", NULL, &tar, &tlen, &err);
        if (rc == FCB_OK) {
            svc_free(host, tar);
            if (mock_host_failed_allocs(mh) == 0)
                break;
        } else {
            cr_expect_eq(rc, FCB_ERR_NO_MEMORY, "n=%zu: %s", n, err.message);
            failures++;
        }
        cr_assert_eq(mock_host_outstanding_bytes(mh), 0, "leak after failing allocation %zu", n);
    }
    mock_host_fail_alloc(mh, 0);
    cr_expect_gt(failures, 3);
    zip_fixture_free(zip);
}

Test(ziptar, name_checks_accept_safe_and_refuse_unsafe_paths)
{
    cr_expect_null(ziptar_unsafe_name("a/b/c.txt"));
    cr_expect_null(ziptar_unsafe_name("a..b/..c"));
    cr_expect_not_null(ziptar_unsafe_name(""));
    cr_expect_not_null(ziptar_unsafe_name(".."));
    cr_expect_not_null(ziptar_unsafe_name("a/.."));
    cr_expect_not_null(ziptar_unsafe_name("/x"));
    cr_expect_not_null(ziptar_unsafe_name("..\\..\\x"));
    cr_expect_null(ziptar_unsafe_link("a/b/l", "../c", 0));
    cr_expect_null(ziptar_unsafe_link("a/b/l", "../../c", 0));
    cr_expect_not_null(ziptar_unsafe_link("a/b/l", "../../../c", 0));
    cr_expect_not_null(ziptar_unsafe_link("l", "..", 0));
    cr_expect_null(ziptar_unsafe_link("l", ".", 0));
    cr_expect_not_null(ziptar_unsafe_link("a/h", "../x", 1));
    cr_expect_null(ziptar_unsafe_link("a/h", "a/x", 1));
}

/* ------------------------------------------------ ziptar_check_zip / _launch */

static long vm_hwm_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    if (f != NULL)
        fclose(f);
    return kib;
}

static void expect_check_refused(const zip_fixture_entry *e, size_t n, const char *entry,
                                 const char *why)
{
    size_t zlen;
    void *zip = zip_fixture_make(e, n, &zlen);
    cr_assert_not_null(zip);
    ziptar_totals totals = {0, 0};
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(ziptar_check_zip(NULL, &totals, zip, zlen, "layer 3", &err),
                 FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "layer 3 zip") != NULL, "%s", err.message);
    cr_expect(strstr(err.message, entry) != NULL, "%s", err.message);
    cr_expect(strstr(err.message, why) != NULL, "%s", err.message);
    zip_fixture_free(zip);
}

Test(ziptar, check_refuses_every_hostile_entry_naming_the_zip_and_the_entry)
{
    zip_fixture_entry slip[] = {{.name = "ok", .data = "x"}, {.name = "../../evil", .data = "x"}};
    expect_check_refused(slip, 2, "../../evil", "'..'");
    zip_fixture_entry abs[] = {{.name = "/etc/cron.d/x", .data = "x"}};
    expect_check_refused(abs, 1, "/etc/cron.d/x", "absolute");
    zip_fixture_entry link[] = {{.name = "a/l", .data = "../../etc/passwd", .symlink = 1}};
    expect_check_refused(link, 1, "a/l", "outside");
    zip_fixture_entry dev[] = {{.name = "ok", .data = "x"},
                               {.name = "dev/tty", .data = "x", .device = 1}};
    expect_check_refused(dev, 2, "dev/tty", "device");
}

Test(ziptar, check_refuses_a_device_file_in_the_docker_tar_too)
{
    zip_fixture_entry dev[] = {{.name = "null", .data = "x", .device = 1}};
    expect_refused(dev, 1, "null", "device");
}

Test(ziptar, check_accepts_a_safe_zip_and_adds_it_to_the_totals)
{
    zip_fixture_entry e[] = {{.name = "app.py", .data = "print(1)\n"},
                             {.name = "lib", .data = "", .directory = 1},
                             {.name = "lib/l", .data = "../app.py", .symlink = 1}};
    size_t zlen;
    void *zip = zip_fixture_make(e, 3, &zlen);
    ziptar_totals totals = {100, 2};
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(ziptar_check_zip(NULL, &totals, zip, zlen, "code", &err), FCB_OK, "%s",
                 err.message);
    cr_expect_eq(totals.bytes, 109);
    cr_expect_eq(totals.entries, 5);
    zip_fixture_free(zip);
}

Test(ziptar, check_counts_limits_over_code_and_every_layer_of_a_launch)
{
    char data[4096];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)('a' + (i * 7919) % 26);
    zip_fixture_entry e[] = {{.name = "a", .data = data, .size = sizeof data}};
    size_t zlen;
    void *zip = zip_fixture_make(e, 1, &zlen);
    fcb_function fn = {.size = sizeof fn, .function_name = "f", .package_type = FCB_PACKAGE_ZIP};
    fcb_blob code = {zip, zlen};
    fcb_blob layers[] = {{zip, zlen}, {zip, zlen}};
    ziptar_limits limits = ziptar_limits_default();
    limits.max_total_bytes = 3 * sizeof data - 1;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(ziptar_check_launch(&limits, &fn, &code, layers, 1, &err), FCB_OK, "%s",
                 err.message);
    cr_expect_eq(ziptar_check_launch(&limits, &fn, &code, layers, 2, &err),
                 FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "layer 2 zip: uncompressed size exceeds") != NULL, "%s",
              err.message);
    limits = ziptar_limits_default();
    limits.max_entries = 2;
    cr_expect_eq(ziptar_check_launch(&limits, &fn, &code, layers, 2, &err),
                 FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "layer 2 zip: more than 2 entries") != NULL, "%s", err.message);
    fcb_blob empty[] = {{zip, zlen}, {NULL, 0}};
    cr_expect_eq(ziptar_check_launch(NULL, &fn, &code, empty, 2, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "layer 2 zip: empty") != NULL, "%s", err.message);
    fcb_function image = {
        .size = sizeof image, .function_name = "f", .package_type = FCB_PACKAGE_IMAGE};
    fcb_blob junk = {"junk", 4};
    cr_expect_eq(ziptar_check_launch(NULL, &image, &junk, NULL, 0, &err), FCB_OK,
                 "an Image function's code is not shipped");
    zip_fixture_free(zip);
}

Test(ziptar, check_refuses_a_1_gib_bomb_in_bounded_memory_as_declared_and_as_inflated)
{
    size_t zlen;
    void *zip = zip_fixture_zeros("zeros.bin", (size_t)1 << 30, &zlen);
    cr_assert_not_null(zip);
    cr_assert_lt(zlen, 2u * 1024 * 1024, "%zu", zlen);
    long before = vm_hwm_kib();
    ziptar_totals totals = {0, 0};
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(ziptar_check_zip(NULL, &totals, zip, zlen, "layer 1", &err),
                 FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "layer 1 zip") != NULL, "%s", err.message);
    cr_expect(strstr(err.message, "zeros.bin") != NULL, "%s", err.message);
    /* Declared limits off: only counting while inflating can stop it. */
    ziptar_limits limits = ziptar_limits_default();
    limits.max_total_bytes = UINT64_MAX / 2;
    cr_expect_eq(ziptar_check_zip(&limits, &totals, zip, zlen, "layer 1", &err),
                 FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "zip bomb") != NULL, "%s", err.message);
    long growth = vm_hwm_kib() - before;
    cr_expect_lt(growth, 16 * 1024, "peak RSS grew by %ld KiB checking a 1 GiB bomb", growth);
    zip_fixture_free(zip);
}
