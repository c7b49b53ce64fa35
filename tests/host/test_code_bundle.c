/*
 * Tests of sample-host/code_bundle.c's layer merge in bounded memory: a
 * small layer that inflates to 1 GiB is refused without the host's peak
 * RSS following it (in process and through the real host binary), and
 * symlinks out of the layer and device files are refused like zip-slip.
 */
#include "code_bundle.h"
#include "zip_fixture.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define GIB ((size_t)1 << 30)

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

static int merge_one(const void *zip, size_t len, char *why, size_t why_size)
{
    const void *layers[] = {zip};
    size_t sizes[] = {len};
    unsigned char *tar = NULL;
    size_t tar_len = 0;
    int rc = bundle_layers_tar(layers, sizes, 1, &tar, &tar_len, why, why_size);
    free(tar);
    return rc;
}

Test(code_bundle_bounds, refuses_a_1_gib_layer_bomb_without_following_it_in_memory, .timeout = 60)
{
    size_t len;
    void *bomb = zip_fixture_zeros("zeros.bin", GIB, &len);
    cr_assert_not_null(bomb);
    cr_assert_lt(len, 2u * 1024 * 1024, "%zu", len);
    long before = vm_hwm_kib();
    char why[512] = "";
    cr_expect_eq(merge_one(bomb, len, why, sizeof why), -1);
    long growth = vm_hwm_kib() - before;
    cr_expect(strstr(why, "layer 0") != NULL && strstr(why, "zeros.bin") != NULL, "%s", why);
    cr_expect_lt(growth, 32 * 1024, "peak RSS grew by %ld KiB merging a 1 GiB bomb", growth);
    printf("code_bundle: 1 GiB bomb layer (%zu bytes) refused, VmHWM growth %ld KiB: %s\n", len,
           growth, why);
    zip_fixture_free(bomb);
}

Test(code_bundle_bounds, refuses_symlinks_out_of_the_layer_and_device_files)
{
    const zip_fixture_entry bad[] = {
        {.name = "python/l", .data = "../../etc", .symlink = 1},
        {.name = "l", .data = "/etc/passwd", .symlink = 1},
        {.name = "dev/tty", .data = "x", .device = 1},
        {.name = "/abs", .data = "x"},
    };
    const char *want[] = {"\"python/l\" is a symlink out", "\"l\" is a symlink out",
                          "\"dev/tty\" is a device", "\"/abs\" escapes"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len;
        void *zip = zip_fixture_make(&bad[i], 1, &len);
        char why[512] = "";
        cr_expect_eq(merge_one(zip, len, why, sizeof why), -1, "%s", bad[i].name);
        cr_expect(strstr(why, want[i]) != NULL, "'%s' lacks '%s'", why, want[i]);
        zip_fixture_free(zip);
    }
    const zip_fixture_entry ok[] = {{.name = "python/lib.py", .data = "X = 1\n"},
                                    {.name = "python/l", .data = "lib.py", .symlink = 1},
                                    {.name = "bin/up", .data = "../python/lib.py", .symlink = 1}};
    size_t len;
    void *zip = zip_fixture_make(ok, 3, &len);
    char why[512] = "";
    cr_expect_eq(merge_one(zip, len, why, sizeof why), 0, "%s", why);
    zip_fixture_free(zip);
}

/* The real host: --layer BOMB is refused (exit 2), its peak RSS stays small. */
Test(code_bundle_bounds, the_host_refuses_a_1_gib_layer_bomb_with_a_bounded_peak_rss, .timeout = 60)
{
    char dir[] = "/tmp/fcb-bundle-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256];
    size_t len;
    void *bomb = zip_fixture_zeros("zeros.bin", GIB, &len);
    zip_fixture_entry code_e[] = {{.name = "app.py", .data = "def handler(e, c):\n    return e\n"}};
    size_t code_len;
    void *code = zip_fixture_make(code_e, 1, &code_len);
    cr_assert(bomb != NULL && code != NULL);
    const char *fn_json = "{\"FunctionName\":\"my-fn\",\"Runtime\":\"python3.12\","
                          "\"Handler\":\"app.handler\",\"PackageType\":\"Zip\"}";
    struct {
        const char *name;
        const void *data;
        size_t len;
    } files[] = {{"fn.json", fn_json, strlen(fn_json)},
                 {"code.zip", code, code_len},
                 {"bomb.zip", bomb, len}};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
        FILE *f = fopen(path, "wb");
        cr_assert_not_null(f);
        cr_assert_eq(fwrite(files[i].data, 1, files[i].len, f), files[i].len);
        fclose(f);
    }
    zip_fixture_free(bomb);
    zip_fixture_free(code);

    char err_path[256];
    snprintf(err_path, sizeof err_path, "%s/stderr", dir);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addchdir_np(&fa, dir);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char *argv[] = {(char *)HOST_EXE, "invoke",  "--function", "fn.json", "--code",
                    "code.zip",       "--layer", "bomb.zip",   NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", "FAKECLOUD_LAMBDA_BACKEND=test",
                    "FAKECLOUD_BACKEND_PATH=" TEST_PLUGINS_DIR, NULL};
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, HOST_EXE, &fa, NULL, argv, envp), 0);
    posix_spawn_file_actions_destroy(&fa);
    int status = 0;
    struct rusage ru;
    cr_assert_eq(wait4(pid, &status, 0, &ru), pid);
    char err[1024] = "";
    FILE *f = fopen(err_path, "r");
    if (f != NULL) {
        size_t n = fread(err, 1, sizeof err - 1, f);
        err[n] = '\0';
        fclose(f);
    }
    long peak_kib = ru.ru_maxrss;
    printf("host with a 1 GiB bomb layer: exit %d, peak RSS %ld KiB\n",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1, peak_kib);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 2, "status %d: %s", status, err);
    cr_expect(strstr(err, "--layer") != NULL && strstr(err, "zeros.bin") != NULL, "%s", err);
    cr_expect_lt(peak_kib, 200 * 1024, "host peak RSS %ld KiB", peak_kib);
    const char *names[] = {"fn.json", "code.zip", "bomb.zip", "stderr"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}
