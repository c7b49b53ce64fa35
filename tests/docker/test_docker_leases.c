/*
 * Leases on the private dockerd (docs/leases.md, issue 16): hosts sharing one
 * engine never reap each other's live instances, a killed host's containers
 * are reaped by a survivor within two lease durations, and renewal faults do
 * not end a live lease early. Short lease durations (D = 2 s) keep it fast.
 */
#include "docker_fixture.h"
#include "engine_http.h"
#include "zip_fixture.h"

#include <criterion/criterion.h>

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define LEASE_S    2
#define LEASE_TEXT "2"

static docker_fixture fx; /* the plugin, loaded once per test; backends below share it */

static const char *sock(void)
{
    const char *h = getenv("DOCKER_HOST");
    cr_assert(h != NULL && strncmp(h, "unix://", 7) == 0,
              "run under tests/docker/with-dockerd.sh (DOCKER_HOST unset)");
    return h + 7;
}

static long engine(const char *method, const char *path, const char *body, char **out)
{
    return engine_http_api(sock(), method, path, body, out);
}

static uint64_t now_ms(void)
{
    return docker_fixture_now_ms();
}

/* One backend instance ("host") with its own mock host. */
typedef struct host_b {
    mock_host *mh;
    fcb_backend *b;
    char id[32]; /* fakecloud-instance */
} host_b;

static void hb_open(host_b *h, const char *lease_seconds)
{
    memset(h, 0, sizeof *h);
    h->mh = mock_host_new();
    mock_host_set_config(h->mh, "DOCKER_HOST", getenv("DOCKER_HOST"));
    mock_host_set_config(h->mh, "FAKECLOUD_DOCKER_LEASE_SECONDS", lease_seconds);
    fcb_open_params params = {.size = sizeof params};
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(fx.ops->open(mock_host_services(h->mh), &params, &h->b, &err), FCB_OK, "open: %s",
                 err.message);
    char *log = mock_host_log_text(h->mh);
    const char *p = strstr(log, "instance=");
    cr_assert_not_null(p, "no instance in the open log: %s", log);
    snprintf(h->id, sizeof h->id, "%.16s", p + 9);
    free(log);
}

static void hb_close(host_b *h)
{
    if (h->b != NULL)
        fx.ops->close(h->b);
    h->b = NULL;
    size_t left = mock_host_outstanding_bytes(h->mh);
    mock_host_free(h->mh);
    h->mh = NULL;
    cr_assert_eq(left, 0, "%zu bytes outstanding after close", left);
}

static bool hb_log_contains(host_b *h, const char *text)
{
    return mock_host_log_contains(h->mh, text);
}

static void *app_zip(size_t *len)
{
    zip_fixture_entry e[] = {{.name = "app.sh", .data = "cat\n"}};
    void *zip = zip_fixture_make(e, 1, len);
    cr_assert_not_null(zip);
    return zip;
}

static fcb_function lease_fn = {.size = sizeof(fcb_function),
                                .function_name = "lease-fn",
                                .function_arn = "arn:aws:lambda:us-east-1:123456789012:function:x",
                                .runtime = "python3.12",
                                .handler = "app.handler",
                                .package_type = FCB_PACKAGE_ZIP};

static int hb_launch(host_b *h, const void *zip, size_t len, fcb_instance *inst, fcb_error *err)
{
    fcb_launch_request req = {.size = sizeof req,
                              .function = &lease_fn,
                              .code = {zip, len},
                              .deploy_id = "d1",
                              .deadline_ms = 30000};
    memset(inst, 0, sizeof *inst);
    inst->size = sizeof *inst;
    return fx.ops->launch(h->b, &req, inst, err);
}

/* Whether the container of HANDLE (container/<id>) exists. */
static bool container_exists(const char *handle)
{
    char path[256];
    snprintf(path, sizeof path, "/containers/%s/json", strchr(handle, '/') + 1);
    return engine("GET", path, NULL, NULL) == 200;
}

static size_t count_instance(const char *id)
{
    char label[64];
    snprintf(label, sizeof label, "fakecloud-instance=%s", id);
    return engine_http_count_containers(sock(), label);
}

/* Lease volumes of instance ID (all when ID is NULL). */
static long count_lease_volumes(const char *id)
{
    char *out = NULL;
    long st = engine("GET", "/volumes?filters=%7B%22label%22%3A%5B%22fakecloud-lease%22%5D%7D",
                     NULL, &out);
    cr_assert_eq(st, 200, "list volumes: %s", out ? out : "");
    char want[64];
    snprintf(want, sizeof want, "\"Name\":\"fakecloud-lease-%s", id != NULL ? id : "");
    long n = 0;
    for (const char *p = out; (p = strstr(p, want)) != NULL; p += strlen(want))
        n++;
    free(out);
    return n;
}

/* A volume named NAME without labels: a renewal that picks this name must fail. */
static void plant_volume(const char *name)
{
    char body[256], *out = NULL;
    snprintf(body, sizeof body, "{\"Name\":\"%s\",\"Labels\":{\"planted-by\":\"test\"}}", name);
    long st = engine("POST", "/volumes/create", body, &out);
    cr_assert_eq(st, 201, "plant volume %s: %s", name, out ? out : "");
    free(out);
}

static void remove_volume(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "/volumes/%s", name);
    engine("DELETE", path, NULL, NULL);
}

static size_t hb_reap(host_b *h)
{
    size_t reaped = 0;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(fx.ops->reap_stale(h->b, &reaped, &err), FCB_OK, "reap_stale: %s", err.message);
    return reaped;
}

static void setup(void)
{
    memset(&fx, 0, sizeof fx);
    fx.mh = mock_host_new();
    docker_fixture_load(&fx);
}

static void teardown(void)
{
    docker_fixture_teardown(&fx);
}

TestSuite(docker_leases, .init = setup, .fini = teardown, .timeout = 90);

/* ---- two live hosts ------------------------------------------------------ */

typedef struct worker {
    host_b *h;
    const void *zip;
    size_t len;
    uint64_t until;
    unsigned launches, failures;
    size_t reaped, reaps;
    char first_error[512];
} worker;

static void *launch_loop(void *arg)
{
    worker *w = arg;
    while (now_ms() < w->until) {
        fcb_instance inst;
        fcb_error err = FCB_ERROR_INIT;
        w->launches++;
        if (hb_launch(w->h, w->zip, w->len, &inst, &err) != FCB_OK) {
            if (w->failures++ == 0)
                snprintf(w->first_error, sizeof w->first_error, "%s", err.message);
            continue;
        }
        fx.ops->terminate(w->h->b, inst.handle, &err);
    }
    return NULL;
}

static void *reap_loop(void *arg)
{
    worker *w = arg;
    while (now_ms() < w->until) {
        size_t reaped = 0;
        fcb_error err = FCB_ERROR_INIT;
        if (fx.ops->reap_stale(w->h->b, &reaped, &err) == FCB_OK)
            w->reaped += reaped;
        w->reaps++;
        usleep(150 * 1000);
    }
    return NULL;
}

Test(docker_leases, two_hosts_launch_concurrently_while_each_reaps_and_neither_fails)
{
    host_b a, b;
    hb_open(&a, LEASE_TEXT);
    hb_open(&b, LEASE_TEXT);
    size_t len;
    void *zip = app_zip(&len);
    /* One long-lived instance each: older than D soon, only the lease protects it. */
    fcb_instance keep_a, keep_b;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(hb_launch(&a, zip, len, &keep_a, &err), FCB_OK, "%s", err.message);
    cr_assert_eq(hb_launch(&b, zip, len, &keep_b, &err), FCB_OK, "%s", err.message);
    uint64_t until = now_ms() + 3 * LEASE_S * 1000;
    worker w[4] = {{.h = &a, .zip = zip, .len = len, .until = until},
                   {.h = &b, .zip = zip, .len = len, .until = until},
                   {.h = &a, .until = until},
                   {.h = &b, .until = until}};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, i < 2 ? launch_loop : reap_loop, &w[i]), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    bool alive_a = container_exists(keep_a.handle), alive_b = container_exists(keep_b.handle);
    printf("two hosts, D = %d s, %d s: launches %u + %u, failed %u + %u; reaps %zu + %zu, "
           "reaped %zu + %zu; long-lived instances %s, %s\n",
           LEASE_S, 3 * LEASE_S, w[0].launches, w[1].launches, w[0].failures, w[1].failures,
           w[2].reaps, w[3].reaps, w[2].reaped, w[3].reaped, alive_a ? "alive" : "REAPED",
           alive_b ? "alive" : "REAPED");
    cr_expect_eq(w[0].failures + w[1].failures, 0, "launches failed: %s%s", w[0].first_error,
                 w[1].first_error);
    cr_expect(w[0].launches > 0 && w[1].launches > 0);
    cr_expect_eq(w[2].reaped + w[3].reaped, 0, "a host reaped the other's containers");
    cr_expect(alive_a && alive_b, "a live host's long-lived instance was reaped");
    fx.ops->terminate(a.b, keep_a.handle, &err);
    fx.ops->terminate(b.b, keep_b.handle, &err);
    hb_close(&a);
    hb_close(&b);
    cr_expect_eq(count_lease_volumes(NULL), 0, "close left lease volumes");
    zip_fixture_free(zip);
}

/* ---- a host killed with SIGKILL ------------------------------------------- */

/* The child: its own plugin and backend; launches, reports the handle, waits to be killed. */
static void crash_child(int fd)
{
    docker_fixture cf = {.mh = mock_host_new()};
    mock_host_set_config(cf.mh, "DOCKER_HOST", getenv("DOCKER_HOST"));
    mock_host_set_config(cf.mh, "FAKECLOUD_DOCKER_LEASE_SECONDS", LEASE_TEXT);
    docker_fixture_load(&cf);
    fcb_open_params params = {.size = sizeof params};
    fcb_error err = FCB_ERROR_INIT;
    char line[512];
    if (cf.ops->open(mock_host_services(cf.mh), &params, &cf.backend, &err) != FCB_OK) {
        snprintf(line, sizeof line, "ERR open: %s\n", err.message);
    } else {
        size_t len;
        void *zip = app_zip(&len);
        fcb_launch_request req = {.size = sizeof req,
                                  .function = &lease_fn,
                                  .code = {zip, len},
                                  .deploy_id = "d1",
                                  .deadline_ms = 30000};
        fcb_instance inst = {.size = sizeof inst};
        if (cf.ops->launch(cf.backend, &req, &inst, &err) != FCB_OK)
            snprintf(line, sizeof line, "ERR launch: %s\n", err.message);
        else
            snprintf(line, sizeof line, "%s\n", inst.handle);
    }
    if (write(fd, line, strlen(line)) < 0)
        _exit(2);
    for (int i = 0; i < 600; i++) /* killed long before */
        usleep(100 * 1000);
    _exit(3);
}

Test(docker_leases, a_killed_host_is_reaped_by_a_survivor_within_two_lease_durations)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork");
    if (pid == 0) {
        close(fds[0]);
        crash_child(fds[1]);
    }
    close(fds[1]);
    char line[512] = "";
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    ssize_t n = poll(&pfd, 1, 60000) == 1 ? read(fds[0], line, sizeof line - 1) : -1;
    close(fds[0]);
    if (n <= 0 || strncmp(line, "container/", 10) != 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        cr_assert_fail("the child host did not launch: %s", n > 0 ? line : "(no answer)");
    }
    line[strcspn(line, "\n")] = '\0';

    host_b s;
    hb_open(&s, LEASE_TEXT);
    /* While the child lives (its container soon older than D), the survivor reaps nothing. */
    uint64_t alive_until = now_ms() + (LEASE_S * 1000 * 3) / 2;
    size_t reaped_alive = 0;
    while (now_ms() < alive_until) {
        reaped_alive += hb_reap(&s);
        usleep(150 * 1000);
    }
    bool kept = container_exists(line);
    kill(pid, SIGKILL);
    uint64_t t_kill = now_ms();
    int status = 0;
    waitpid(pid, &status, 0);
    cr_assert(WIFSIGNALED(status), "the child exited by itself (status %d)", status);

    uint64_t t_gone = 0;
    size_t reaped = 0;
    while (now_ms() < t_kill + 3 * LEASE_S * 1000u) {
        reaped += hb_reap(&s);
        if (!container_exists(line)) {
            t_gone = now_ms();
            break;
        }
        usleep(100 * 1000);
    }
    printf("killed host (D = %d s): survivor reaped %zu while it lived; its container reaped "
           "%llu ms after the kill (reaped %zu); its lease volumes left: %ld\n",
           LEASE_S, reaped_alive, t_gone != 0 ? (unsigned long long)(t_gone - t_kill) : 0ULL,
           reaped, count_lease_volumes(NULL));
    cr_expect(kept && reaped_alive == 0, "a live host's container was reaped");
    cr_assert_neq(t_gone, 0, "the killed host's container was not reaped within 3 D");
    cr_expect_leq(t_gone - t_kill, 2u * LEASE_S * 1000u, "reaped later than 2 D after the kill");
    /* Its last renewal was at most P = D/3 before the kill: never reaped before D - P. */
    cr_expect_geq(t_gone - t_kill, (2u * LEASE_S * 1000u) / 3u - 100u,
                  "reaped before its lease could have expired");
    cr_expect_eq(reaped, 1);
    cr_expect_eq(count_lease_volumes(NULL), 0, "the killed host's lease volumes were not reaped");
    hb_close(&s);
    cr_expect_eq(count_lease_volumes(NULL), 0);
}

/* ---- renewal faults ---------------------------------------------------- */

static unsigned long long lease_seq_of(const char *id)
{
    char *out = NULL;
    engine("GET", "/volumes?filters=%7B%22label%22%3A%5B%22fakecloud-lease%22%5D%7D", NULL, &out);
    char want[64];
    snprintf(want, sizeof want, "\"Name\":\"fakecloud-lease-%s-", id);
    unsigned long long seq = 0;
    for (const char *p = out; p != NULL && (p = strstr(p, want)) != NULL; p += strlen(want)) {
        unsigned long long v = strtoull(p + strlen(want), NULL, 10);
        seq = v > seq ? v : seq;
    }
    free(out);
    return seq;
}

Test(docker_leases, a_renewal_whose_volume_name_is_taken_fails_but_the_lease_is_not_lost)
{
    host_b a, obs;
    hb_open(&a, LEASE_TEXT);
    size_t len;
    void *zip = app_zip(&len);
    fcb_instance keep;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(hb_launch(&a, zip, len, &keep, &err), FCB_OK, "%s", err.message);
    /* The next renewal's name is taken (by a volume with other labels): it fails once. */
    unsigned long long seq = lease_seq_of(a.id);
    cr_assert_geq(seq, 1);
    char planted[128];
    snprintf(planted, sizeof planted, "fakecloud-lease-%s-%llu", a.id, seq + 1);
    plant_volume(planted);
    hb_open(&obs, LEASE_TEXT);
    size_t reaped = 0;
    unsigned launches_ok = 0;
    for (uint64_t until = now_ms() + 3 * LEASE_S * 1000u; now_ms() < until;) {
        reaped += hb_reap(&obs);
        fcb_instance inst;
        if (hb_launch(&a, zip, len, &inst, &err) == FCB_OK) {
            launches_ok++;
            fx.ops->terminate(a.b, inst.handle, &err);
        } else {
            cr_expect_fail("launch with a live lease failed: %s", err.message);
        }
    }
    bool failed_once = hb_log_contains(&a, "already exists with other labels");
    unsigned long long seq_after = lease_seq_of(a.id);
    printf("taken renewal name %s: renewal failed %s; lease seq %llu -> %llu; %u launches ok; "
           "observer reaped %zu\n",
           planted, failed_once ? "yes" : "NO", seq, seq_after, launches_ok, reaped);
    cr_expect(failed_once, "the renewal did not meet the taken name");
    cr_expect_gt(seq_after, seq + 1, "renewal did not go on past the taken name");
    cr_expect_eq(reaped, 0, "the observer reaped a live host");
    cr_expect(container_exists(keep.handle));
    char path[160];
    snprintf(path, sizeof path, "/volumes/%s", planted);
    cr_expect_eq(engine("GET", path, NULL, NULL), 200, "the planted volume (not ours) was deleted");
    fx.ops->terminate(a.b, keep.handle, &err);
    hb_close(&obs);
    hb_close(&a);
    remove_volume(planted);
    cr_expect_eq(count_lease_volumes(NULL), 0);
    zip_fixture_free(zip);
}

Test(docker_leases, a_lease_lost_for_d_fails_launches_until_a_renewal_succeeds)
{
    host_b a;
    hb_open(&a, LEASE_TEXT);
    size_t len;
    void *zip = app_zip(&len);
    fcb_instance inst;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(hb_launch(&a, zip, len, &inst, &err), FCB_OK, "%s", err.message);
    fx.ops->terminate(a.b, inst.handle, &err);
    /* Every renewal of the next ~2 D fails: the lease is lost after D without a success. */
    unsigned long long seq = lease_seq_of(a.id);
    char planted[8][128];
    for (int i = 0; i < 8; i++) {
        snprintf(planted[i], sizeof planted[i], "fakecloud-lease-%s-%llu", a.id, seq + 1 + i);
        plant_volume(planted[i]);
    }
    usleep((LEASE_S * 1000 + 600) * 1000);
    int rc = hb_launch(&a, zip, len, &inst, &err);
    printf("lease lost: launch -> %s: %s\n", fcb_status_name(rc), err.message);
    cr_expect_eq(rc, FCB_ERR_UNAVAILABLE);
    cr_expect(strstr(err.message, "lost") != NULL && strstr(err.message, a.id) != NULL,
              "the error does not say the lease is lost: %s", err.message);
    cr_expect_eq(count_instance(a.id), 0, "a launch without a lease created a container");
    for (int i = 0; i < 8; i++)
        remove_volume(planted[i]);
    /* The next renewal succeeds within one period; launches work again. */
    bool again = false;
    for (uint64_t until = now_ms() + 2 * LEASE_S * 1000u; !again && now_ms() < until;) {
        usleep(200 * 1000);
        if (hb_launch(&a, zip, len, &inst, &err) == FCB_OK) {
            again = true;
            fx.ops->terminate(a.b, inst.handle, &err);
        }
    }
    cr_expect(again, "launches still fail after renewals succeed again: %s", err.message);
    cr_expect(hb_log_contains(&a, "lease lost"), "no warning when the lease was lost");
    cr_expect(hb_log_contains(&a, "lease held again"));
    hb_close(&a);
    cr_expect_eq(count_lease_volumes(NULL), 0);
    zip_fixture_free(zip);
}

/* ---- many stale containers ------------------------------------------------ */

Test(docker_leases, fifty_stale_containers_of_a_dead_host_are_reaped_in_one_call)
{
    enum { N = 50 };
    const char *body = "{\"Image\":\"fakecloud-test/crash:1\",\"Labels\":{"
                       "\"fakecloud-managed-by\":\"fakecloud\",\"fakecloud-instance\":"
                       "\"00000000dead0050\",\"fakecloud-service\":\"lambda\"}}";
    for (int i = 0; i < N; i++) {
        char path[128], *out = NULL;
        snprintf(path, sizeof path, "/containers/create?name=fcb-lease-stale-%d", i);
        long st = engine("POST", path, body, &out);
        cr_assert_eq(st, 201, "create %s: %s", path, out ? out : "");
        free(out);
    }
    host_b s;
    hb_open(&s, "1");
    usleep(2100 * 1000); /* older than D = 1 s (Created has whole seconds, rounded up) */
    uint64_t t0 = now_ms();
    size_t reaped = hb_reap(&s);
    uint64_t ms = now_ms() - t0;
    size_t left = count_instance("00000000dead0050");
    printf("%d stale containers of a dead host (no lease): one reap_stale, 2 lists + %zu "
           "deletes, %llu ms; left %zu\n",
           N, reaped, (unsigned long long)ms, left);
    cr_expect_eq(reaped, N);
    cr_expect_eq(left, 0);
    hb_close(&s);
}
