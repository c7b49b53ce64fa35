/*
 * loader_discover: the one walk of the plugin search path that `backends`
 * lists and loader_resolve follows. Each plugin is accepted with its
 * descriptor (copied) or refused with the loader's reason; directories are
 * searched in loader_resolve's order, a directory reached twice is listed
 * once, a missing one is skipped; nothing stays loaded.
 */
#include "loader.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef TEST_PLUGINS_DIR
#error "TEST_PLUGINS_DIR must be defined by meson"
#endif

static const loader_candidate *find(const loader_discovery *d, const char *name)
{
    for (size_t i = 0; i < d->n_candidates; i++) {
        if (strcmp(d->candidates[i].name, name) == 0)
            return &d->candidates[i];
    }
    return NULL;
}

static void discover(const char *search_path, const char *const *defaults, loader_discovery *d)
{
    char why[LOADER_WHY_MAX] = "";
    cr_assert_eq(loader_discover(search_path, defaults, d, why), FCB_OK, "%s", why);
}

Test(loader_discover, lists_good_plugins_with_their_descriptor)
{
    loader_discovery d;
    discover(TEST_PLUGINS_DIR, NULL, &d);
    const loader_candidate *c = find(&d, "test2");
    cr_assert_not_null(c, "test2 listed");
    cr_expect(c->accepted);
    cr_expect_str_eq(c->version, "2.0.0");
    cr_expect_eq(c->abi_major, FCB_ABI_MAJOR);
    cr_expect_eq(c->abi_minor, FCB_ABI_MINOR);
    cr_expect_str_eq(c->summary, "In-process test backend (variant test2)");
    cr_expect_str_eq(c->dir, TEST_PLUGINS_DIR);
    cr_expect_str_eq(c->file, TEST_PLUGINS_DIR "/fakecloud-backend-test2.so");
    cr_expect_null(c->reason);
    loader_discovery_free(&d);
}

Test(loader_discover, refuses_broken_plugins_with_the_loaders_reason_and_the_file_name)
{
    loader_discovery d;
    discover(TEST_PLUGINS_DIR, NULL, &d);
    const struct {
        const char *name;
        const char *reason;
    } refused[] = {
        {"broken-magic", "wrong magic number"},
        {"broken-major", "ABI major version differs"},
        {"broken-minor", "newer ABI minor"},
        {"broken-noinit", "no symbol backend_plugin_init"},
        {"broken-noversion", "without the symbol version"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        const loader_candidate *c = find(&d, refused[i].name);
        cr_assert_not_null(c, "%s listed under its file name", refused[i].name);
        cr_expect(!c->accepted, "%s refused", refused[i].name);
        cr_expect_null(c->version);
        cr_expect(c->reason != NULL && strstr(c->reason, c->file) != NULL &&
                      strstr(c->reason, refused[i].reason) != NULL,
                  "%s: reason names the file and says '%s': %s", refused[i].name, refused[i].reason,
                  c->reason ? c->reason : "(null)");
    }
    /* Descriptor fine, init fails: only loading can tell, listing accepts it. */
    const loader_candidate *c = find(&d, "broken-initfail");
    cr_assert_not_null(c);
    cr_expect(c->accepted);
    loader_discovery_free(&d);
}

Test(loader_discover, searches_the_path_then_the_default_dirs_skipping_empty_missing_and_repeated)
{
    char alias[256];
    snprintf(alias, sizeof alias, "/tmp/fcb-discover-%ld", (long)getpid());
    unlink(alias);
    cr_assert_eq(symlink(TEST_PLUGINS_DIR, alias), 0);
    char search[1024];
    snprintf(search, sizeof search, "::/nonexistent-fcb-dir:%s:", TEST_PLUGINS_DIR);
    const char *defaults[] = {"", alias, NULL};
    loader_discovery d;
    discover(search, defaults, &d);
    unlink(alias);
    cr_assert_eq(d.n_dirs, 3, "empty components skipped: %zu dirs", d.n_dirs);
    cr_expect_str_eq(d.dirs[0], "/nonexistent-fcb-dir");
    cr_expect_str_eq(d.dirs[1], TEST_PLUGINS_DIR);
    cr_expect_str_eq(d.dirs[2], alias);
    size_t tests = 0;
    for (size_t i = 0; i < d.n_candidates; i++) {
        cr_expect_str_eq(d.candidates[i].dir, TEST_PLUGINS_DIR, "%s listed once, from the path",
                         d.candidates[i].file);
        tests += strcmp(d.candidates[i].name, "test") == 0;
    }
    cr_expect_eq(tests, 1);
    loader_discovery_free(&d);
    cr_expect_eq(d.n_candidates, 0);
    cr_expect_null(d.candidates);
}

Test(loader_discover, agrees_with_resolve_on_which_file_a_name_means)
{
    char first[256];
    snprintf(first, sizeof first, "/tmp/fcb-discover-first-%ld", (long)getpid());
    char copy[512];
    snprintf(copy, sizeof copy, "%s/fakecloud-backend-test.so", first);
    cr_assert_eq(mkdir(first, 0700), 0);
    cr_assert_eq(symlink(TEST_PLUGINS_DIR "/fakecloud-backend-test2.so", copy), 0);
    char search[1024];
    snprintf(search, sizeof search, "%s:%s", first, TEST_PLUGINS_DIR);
    loader_discovery d;
    discover(search, NULL, &d);
    char *path = NULL;
    char why[LOADER_WHY_MAX] = "";
    int rc = loader_resolve("test", search, NULL, &path, why);
    unlink(copy);
    rmdir(first);
    cr_assert_eq(rc, 0, "%s", why);
    /* The first candidate under the file name fakecloud-backend-test.so. */
    const loader_candidate *c = NULL;
    for (size_t i = 0; i < d.n_candidates && c == NULL; i++) {
        if (strcmp(strrchr(d.candidates[i].file, '/'), "/fakecloud-backend-test.so") == 0)
            c = &d.candidates[i];
    }
    cr_assert_not_null(c);
    cr_expect_str_eq(c->file, path);
    cr_expect_str_eq(c->file, copy);
    cr_expect_str_eq(c->name, "test2", "the descriptor's name, not the file's");
    free(path);
    loader_discovery_free(&d);
}

Test(loader_discover, finds_nothing_in_an_empty_search)
{
    loader_discovery d;
    discover(NULL, NULL, &d);
    cr_expect_eq(d.n_dirs, 0);
    cr_expect_eq(d.n_candidates, 0);
    loader_discovery_free(&d);
}
