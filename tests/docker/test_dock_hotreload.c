/* Unit tests of plugin/docker/dock_hotreload.c: code_dir against the allowed roots. */
#include "dock_hotreload.h"
#include "mock_fixture.h"

#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

MOCK_HOST_SUITE(dock_hotreload);

static const fcb_function zip = {.size = sizeof zip,
                                 .function_name = "f",
                                 .runtime = "python3.12",
                                 .handler = "app.handler",
                                 .package_type = FCB_PACKAGE_ZIP};

/* A fresh directory with subdirectories "ab" and "abc"; its path in DIR. */
static void temp_tree(char dir[PATH_MAX])
{
    char tmpl[] = "/tmp/fcb-hr-unit-XXXXXX", path[PATH_MAX + 8];
    cr_assert_not_null(mkdtemp(tmpl));
    snprintf(dir, PATH_MAX, "%s", tmpl);
    snprintf(path, sizeof path, "%s/ab", dir);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/abc", dir);
    cr_assert_eq(mkdir(path, 0755), 0);
}

static void remove_tree(const char *dir)
{
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/ab", dir);
    rmdir(path);
    snprintf(path, sizeof path, "%s/abc", dir);
    rmdir(path);
    rmdir(dir);
}

Test(dock_hotreload, a_root_is_a_directory_not_a_name_prefix)
{
    char dir[PATH_MAX], root[PATH_MAX + 8], code[PATH_MAX + 8], *resolved = NULL;
    temp_tree(dir);
    snprintf(root, sizeof root, "%s/ab", dir);
    snprintf(code, sizeof code, "%s/abc", dir);
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(dock_hotreload_resolve(host, root, code, &resolved, &err),
                 FCB_ERR_INVALID_ARGUMENT, "%s/abc accepted under root %s", dir, root);
    cr_expect_null(resolved);
    cr_expect_eq(dock_hotreload_resolve(host, root, root, &resolved, &err), FCB_OK, "%s",
                 err.message);
    cr_expect_str_eq(resolved, root, "the root itself may be mounted");
    svc_free(host, resolved);
    remove_tree(dir);
}

Test(dock_hotreload, the_second_of_several_roots_and_a_missing_root_are_handled)
{
    char dir[PATH_MAX], roots[3 * PATH_MAX], code[PATH_MAX + 8], *resolved = NULL;
    temp_tree(dir);
    snprintf(roots, sizeof roots, "/nonexistent-fcb-root:%s/abc", dir);
    snprintf(code, sizeof code, "%s/abc/", dir);
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(dock_hotreload_resolve(host, roots, code, &resolved, &err), FCB_OK, "%s",
                 err.message);
    svc_free(host, resolved);
    remove_tree(dir);
    cr_expect_eq(mock_host_outstanding_bytes(mh), 0);
}

Test(dock_hotreload, a_remote_engine_cannot_mount_a_directory_of_this_host)
{
    char *resolved = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(
        dock_hotreload_check_launch(host, "/tmp", &zip, "/tmp", "10.0.0.5", &resolved, &err),
        FCB_ERR_UNSUPPORTED);
    cr_expect(strstr(err.message, "tcp://10.0.0.5") != NULL && strstr(err.message, "code_dir"),
              "%s", err.message);
    cr_expect_null(resolved);
}

Test(dock_hotreload, out_of_memory_is_reported_and_leaks_nothing)
{
    char *resolved = NULL;
    fcb_error err = FCB_ERROR_INIT;
    mock_host_fail_alloc(mh, 1);
    cr_expect_eq(dock_hotreload_resolve(host, "/tmp", "/tmp", &resolved, &err), FCB_ERR_NO_MEMORY);
    cr_expect_null(resolved);
    cr_expect_eq(mock_host_outstanding_bytes(mh), 0);
}
