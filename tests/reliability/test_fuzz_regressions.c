/*
 * Replays every saved fuzz input through its target's entry point: the
 * crash reproducers in fuzz/regressions/<target>/ and the seed corpora in
 * fuzz/corpus/<target>/. Built with the normal compiler (gcc) in suite
 * 'unit', so a bug the fuzzer once found stays fixed in every build,
 * including the ASan+UBSan one. A violated property aborts the test.
 */
#include "fuzz_common.h"
#include "fuzz_targets.h"

#include <criterion/criterion.h>

#include <dirent.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#ifndef FUZZ_DIR
#error "FUZZ_DIR must name the fuzz/ source directory"
#endif

#define REPLAY_MAX_BYTES (64u * 1024u * 1024u)
#define REPLAY_MAX_FILES 10000

typedef int (*fuzz_fn)(const uint8_t *, size_t);

/* Feed every regular file of DIR to FN; returns how many (0 if no DIR). */
static size_t replay_dir(const char *dir, fuzz_fn fn)
{
    size_t count = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && count < REPLAY_MAX_FILES) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        cr_assert(st.st_size <= (off_t)REPLAY_MAX_BYTES, "%s is larger than %u bytes", path,
                  REPLAY_MAX_BYTES);
        FILE *f = fopen(path, "rb");
        cr_assert_not_null(f, "cannot open %s", path);
        uint8_t *buf = malloc((size_t)st.st_size + 1);
        cr_assert_not_null(buf);
        size_t got = fread(buf, 1, (size_t)st.st_size, f);
        fclose(f);
        cr_assert_eq(got, (size_t)st.st_size, "short read of %s", path);
        fprintf(stderr, "replay %s (%zu bytes)\n", path, got);
        fn(buf, got);
        free(buf);
        count++;
    }
    closedir(d);
    return count;
}

static void replay_target(const char *target, fuzz_fn fn)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/regressions/%s", FUZZ_DIR, target);
    size_t regressions = replay_dir(dir, fn);
    snprintf(dir, sizeof dir, "%s/corpus/%s", FUZZ_DIR, target);
    size_t corpus = replay_dir(dir, fn);
    printf("fuzz target %s: replayed %zu regression inputs and %zu corpus inputs, no property "
           "violated\n",
           target, regressions, corpus);
    fflush(stdout);
    cr_assert_gt(corpus, 0, "fuzz/corpus/%s has no seed inputs", target);
}

Test(fuzz_regressions, a_violated_property_aborts_the_replay, .signal = SIGABRT)
{
    FUZZ_REQUIRE(1 == 2, "deliberate violation to prove the harness detects one");
}

#ifdef FUZZ_HAVE_NAMES
Test(fuzz_regressions, names_sanitiser_inputs_all_replay_cleanly)
{
    replay_target("names", fuzz_names);
}
#endif

#ifdef FUZZ_HAVE_RUNTIME
Test(fuzz_regressions, runtime_map_inputs_all_replay_cleanly)
{
    replay_target("runtime", fuzz_runtime);
}
#endif

#ifdef FUZZ_HAVE_KUBECONFIG
Test(fuzz_regressions, kubeconfig_inputs_all_replay_cleanly)
{
    replay_target("kubeconfig", fuzz_kubeconfig);
}
#endif

#ifdef FUZZ_HAVE_FUNCTION_JSON
Test(fuzz_regressions, function_json_inputs_all_replay_cleanly)
{
    replay_target("function_json", fuzz_function_json);
}
#endif

#ifdef FUZZ_HAVE_WATCH_FRAMER
Test(fuzz_regressions, watch_framer_inputs_all_replay_cleanly)
{
    replay_target("watch_framer", fuzz_watch_framer);
}
#endif

#ifdef FUZZ_HAVE_LOGSTREAM
Test(fuzz_regressions, logstream_inputs_all_replay_cleanly)
{
    replay_target("logstream", fuzz_logstream);
}
#endif

#ifdef FUZZ_HAVE_KUBE_STATUS
Test(fuzz_regressions, kube_status_inputs_all_replay_cleanly)
{
    replay_target("kube_status", fuzz_kube_status);
}
#endif

#ifdef FUZZ_HAVE_ZIP_TO_TAR
Test(fuzz_regressions, zip_to_tar_inputs_all_replay_cleanly)
{
    replay_target("zip_to_tar", fuzz_zip_to_tar);
}
#endif
