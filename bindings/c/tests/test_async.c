/* The _async variants: callbacks once each, on a library thread, from operations
 * started on several threads at once; what a callback may and may not call; nodes
 * freed with operations still running. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "harness.h"

/* Counts callbacks still to come; the main thread waits on it. */
struct tracker {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pending;
};

static void tracker_init(struct tracker *t, int pending) {
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    t->pending = pending;
}

static void tracker_done(struct tracker *t) {
    pthread_mutex_lock(&t->mu);
    t->pending--;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

/* Waits until every callback came, at most `seconds`; 1 if they all came. */
static int tracker_wait(struct tracker *t, int seconds) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += seconds;
    pthread_mutex_lock(&t->mu);
    int rc = 0;
    while (t->pending > 0 && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&t->cv, &t->mu, &deadline);
    }
    int all = t->pending == 0;
    pthread_mutex_unlock(&t->mu);
    return all;
}

static void tracker_destroy(struct tracker *t) {
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
}

/* One operation: what its callback saw. Written by the callback, read after the
 * tracker says it came. */
struct op {
    struct tracker *tracker;
    int calls;
    dipsea_status status;
    pthread_t submitter;
    int on_submitter_thread;
    dipsea_id key;
    char value[96];
    size_t value_len;
    size_t count;
    char error[160];
};

static void record(struct op *op, dipsea_status status) {
    op->calls++;
    op->status = status;
    op->on_submitter_thread = pthread_equal(pthread_self(), op->submitter);
    snprintf(op->error, sizeof op->error, "%s", dipsea_last_error());
}

static void on_put(void *user_data, dipsea_status status, const dipsea_id *key) {
    struct op *op = user_data;
    record(op, status);
    if (status == DIPSEA_OK && key != NULL) {
        op->key = *key;
    }
    tracker_done(op->tracker);
}

static void on_get(void *user_data, dipsea_status status, const dipsea_buffer *value) {
    struct op *op = user_data;
    record(op, status);
    if (status == DIPSEA_OK && value != NULL && value->len < sizeof op->value) {
        memcpy(op->value, value->data, value->len + 1); /* with its trailing 0 */
        op->value_len = value->len;
    }
    tracker_done(op->tracker);
}

static void on_count(void *user_data, dipsea_status status, size_t count) {
    struct op *op = user_data;
    record(op, status);
    op->count = count;
    tracker_done(op->tracker);
}

static void on_peers(void *user_data, dipsea_status status, const dipsea_peer *peers,
                     size_t count) {
    struct op *op = user_data;
    record(op, status);
    op->count = count;
    if (status == DIPSEA_OK && peers != NULL && count == 1 &&
        dipsea_peer_to_string(&peers[0], op->value, sizeof op->value) == DIPSEA_OK) {
        op->value_len = strlen(op->value);
    }
    tracker_done(op->tracker);
}

/* put_async from several threads at once, then get_async of every key. */
#define SUBMITTERS 4
#define PER_SUBMITTER 6
#define ASYNC_OPS (SUBMITTERS * PER_SUBMITTER)

struct submitter {
    int index;
    struct op *ops;
    int refused;
};

static void value_of(int n, char *out, size_t len) {
    snprintf(out, len, "async value %d", n);
}

static void *submit_puts(void *arg) {
    struct submitter *s = arg;
    for (int i = 0; i < PER_SUBMITTER; i++) {
        int n = s->index * PER_SUBMITTER + i;
        struct op *op = &s->ops[n];
        char text[32];
        value_of(n, text, sizeof text);
        op->submitter = pthread_self();
        /* The value is copied: `text` may go away as soon as this returns. */
        if (dipsea_node_put_async(net[n % NET_SIZE], (const uint8_t *)text, strlen(text),
                                  on_put, op) != DIPSEA_OK) {
            s->refused++;
            tracker_done(op->tracker);
        }
    }
    return NULL;
}

static void async_put_and_get_from_several_threads(void) {
    struct op *puts = calloc(ASYNC_OPS, sizeof *puts);
    struct op *gets = calloc(ASYNC_OPS, sizeof *gets);
    struct tracker put_tracker, get_tracker;
    tracker_init(&put_tracker, ASYNC_OPS);
    tracker_init(&get_tracker, ASYNC_OPS);
    for (int n = 0; n < ASYNC_OPS; n++) {
        puts[n].tracker = &put_tracker;
        gets[n].tracker = &get_tracker;
    }
    pthread_t threads[SUBMITTERS];
    struct submitter subs[SUBMITTERS];
    for (int i = 0; i < SUBMITTERS; i++) {
        subs[i].index = i;
        subs[i].ops = puts;
        subs[i].refused = 0;
        CHECK(pthread_create(&threads[i], NULL, submit_puts, &subs[i]) == 0);
    }
    for (int i = 0; i < SUBMITTERS; i++) {
        pthread_join(threads[i], NULL);
        CHECK(subs[i].refused == 0);
    }
    CHECK(tracker_wait(&put_tracker, 300));
    for (int n = 0; n < ASYNC_OPS; n++) {
        CHECK(puts[n].calls == 1);
        CHECK_STATUS(puts[n].status, DIPSEA_OK);
        CHECK(!puts[n].on_submitter_thread);
    }
    /* Get every key from a different node than the one that put it. */
    for (int n = 0; n < ASYNC_OPS; n++) {
        gets[n].submitter = pthread_self();
        CHECK_OK(dipsea_node_get_async(net[(n + 2) % NET_SIZE], &puts[n].key, on_get, &gets[n]));
    }
    CHECK(tracker_wait(&get_tracker, 300));
    for (int n = 0; n < ASYNC_OPS; n++) {
        char expected[32];
        value_of(n, expected, sizeof expected);
        CHECK(gets[n].calls == 1);
        CHECK_STATUS(gets[n].status, DIPSEA_OK);
        CHECK(gets[n].value_len == strlen(expected) && strcmp(gets[n].value, expected) == 0);
        CHECK(!gets[n].on_submitter_thread);
    }
    tracker_destroy(&put_tracker);
    tracker_destroy(&get_tracker);
    free(puts);
    free(gets);
}

static void async_announce_get_peers_and_bootstrap(void) {
    struct tracker t;
    struct op announce = {0}, peers = {0}, join = {0};
    dipsea_id info_hash;
    CHECK_OK(dipsea_id_sha1((const uint8_t *)"async torrent", 13, &info_hash));

    tracker_init(&t, 2);
    announce.tracker = join.tracker = &t;
    announce.submitter = join.submitter = pthread_self();
    CHECK_OK(dipsea_node_announce_async(net[1], &info_hash, 7000, on_count, &announce));
    CHECK_OK(dipsea_node_bootstrap_async(net[2], on_count, &join));
    CHECK(tracker_wait(&t, 300));
    tracker_destroy(&t);
    CHECK(announce.calls == 1 && join.calls == 1);
    CHECK_STATUS(announce.status, DIPSEA_OK);
    CHECK(announce.count >= 1);
    CHECK_STATUS(join.status, DIPSEA_OK);
    CHECK(join.count >= NET_SIZE - 1);

    tracker_init(&t, 1);
    peers.tracker = &t;
    peers.submitter = pthread_self();
    CHECK_OK(dipsea_node_get_peers_async(net[3], &info_hash, on_peers, &peers));
    CHECK(tracker_wait(&t, 300));
    tracker_destroy(&t);
    CHECK(peers.calls == 1);
    CHECK_STATUS(peers.status, DIPSEA_OK);
    CHECK(peers.count == 1);
    CHECK(strcmp(peers.value, "127.0.0.1:7000") == 0);
}

static void async_get_of_unknown_key_is_not_found(void) {
    struct tracker t;
    struct op op = {0};
    tracker_init(&t, 1);
    op.tracker = &t;
    op.submitter = pthread_self();
    dipsea_id key;
    CHECK_OK(dipsea_id_sha1((const uint8_t *)"async nothing", 13, &key));
    CHECK_OK(dipsea_node_get_async(net[4], &key, on_get, &op));
    CHECK(tracker_wait(&t, 300));
    tracker_destroy(&t);
    CHECK(op.calls == 1);
    CHECK_STATUS(op.status, DIPSEA_NOT_FOUND);
    /* dipsea_last_error() inside the callback described its status. */
    CHECK(strstr(op.error, "no node holds") != NULL);
    /* ... and this thread's last error is its own. */
    CHECK(strcmp(dipsea_last_error(), "") == 0);
}

/* What a callback may call: non-blocking functions and other _async ones; blocking
 * functions and dipsea_node_free say DIPSEA_WRONG_THREAD. */
struct inside {
    struct tracker *tracker;
    dipsea_status get_status;
    dipsea_status free_status;
    dipsea_status new_status;
    dipsea_status id_status;
    dipsea_status chained_status;
    struct op chained;
};

static void on_put_inside(void *user_data, dipsea_status status, const dipsea_id *key) {
    struct inside *in = user_data;
    dipsea_buffer value = {NULL, 0};
    dipsea_id id;
    dipsea_node *other = NULL;
    (void)status;
    in->get_status = dipsea_node_get(net[0], key, &value);
    in->free_status = dipsea_node_free(net[0]);
    dipsea_config *config = loopback_config(NULL);
    in->new_status = dipsea_node_new(config, &other);
    dipsea_config_free(config);
    in->id_status = dipsea_node_id(net[0], &id);
    /* A chained operation: its callback comes later, on a library thread. */
    in->chained.tracker = in->tracker;
    in->chained.submitter = pthread_self();
    in->chained_status = dipsea_node_get_async(net[2], key, on_get, &in->chained);
    if (in->chained_status != DIPSEA_OK) {
        tracker_done(in->tracker);
    }
    tracker_done(in->tracker);
}

static void callbacks_may_not_block(void) {
    struct tracker t;
    struct inside in;
    memset(&in, 0, sizeof in);
    tracker_init(&t, 2); /* the put's callback and the chained get's */
    in.tracker = &t;
    CHECK_OK(dipsea_node_put_async(net[1], (const uint8_t *)"inside", 6, on_put_inside, &in));
    CHECK(tracker_wait(&t, 300));
    tracker_destroy(&t);
    CHECK_STATUS(in.get_status, DIPSEA_WRONG_THREAD);
    CHECK_STATUS(in.free_status, DIPSEA_WRONG_THREAD);
    CHECK_STATUS(in.new_status, DIPSEA_WRONG_THREAD);
    CHECK_OK(in.id_status);
    CHECK_OK(in.chained_status);
    CHECK(in.chained.calls == 1);
    CHECK_STATUS(in.chained.status, DIPSEA_OK);
    CHECK(strcmp(in.chained.value, "inside") == 0);
    /* net[0] survived the refused free. */
    dipsea_id id;
    CHECK_OK(dipsea_node_id(net[0], &id));
}

/* Freeing a node with operations in flight: each callback still runs exactly once,
 * before dipsea_node_free returns. */
#define IN_FLIGHT 8

/* A get callback that takes its time: dipsea_node_free must wait for it to return,
 * not only to start (the callbacks run on the shared runtime's threads). */
static void on_get_slowly(void *user_data, dipsea_status status, const dipsea_buffer *value) {
    struct op *op = user_data;
    record(op, status);
    (void)value;
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    tracker_done(op->tracker);
}

static void free_with_operations_in_flight(void) {
    char seed[DIPSEA_ADDR_SIZE];
    CHECK_OK(dipsea_node_local_addr(net[0], seed, sizeof seed));
    dipsea_config *config = loopback_config(seed);
    dipsea_node *node = NULL;
    CHECK_OK(dipsea_node_new(config, &node));
    dipsea_config_free(config);
    if (node == NULL) {
        return;
    }
    struct tracker t;
    struct op ops[IN_FLIGHT];
    memset(ops, 0, sizeof ops);
    tracker_init(&t, IN_FLIGHT);
    for (int i = 0; i < IN_FLIGHT; i++) {
        char text[32];
        snprintf(text, sizeof text, "in flight %d", i);
        ops[i].tracker = &t;
        ops[i].submitter = pthread_self();
        dipsea_id key;
        CHECK_OK(dipsea_id_sha1((const uint8_t *)text, strlen(text), &key));
        CHECK_OK(dipsea_node_get_async(node, &key, on_get_slowly, &ops[i]));
    }
    CHECK_OK(dipsea_node_free(node));
    pthread_mutex_lock(&t.mu);
    CHECK(t.pending == 0);
    pthread_mutex_unlock(&t.mu);
    int shutdown = 0;
    for (int i = 0; i < IN_FLIGHT; i++) {
        CHECK(ops[i].calls == 1);
        CHECK(ops[i].status == DIPSEA_SHUTDOWN || ops[i].status == DIPSEA_NOT_FOUND ||
              ops[i].status == DIPSEA_NO_ROUTE || ops[i].status == DIPSEA_TIMEOUT);
        shutdown += ops[i].status == DIPSEA_SHUTDOWN;
    }
    printf("     (%d of %d operations ended by the free)\n", shutdown, IN_FLIGHT);
    tracker_destroy(&t);
}

void async_tests(void) {
    run_test("async: put and get from several threads", async_put_and_get_from_several_threads);
    run_test("async: announce, get_peers, bootstrap", async_announce_get_peers_and_bootstrap);
    run_test("async: unknown key is DIPSEA_NOT_FOUND", async_get_of_unknown_key_is_not_found);
    run_test("async: callbacks may not block", callbacks_may_not_block);
    run_test("async: free with operations in flight", free_with_operations_in_flight);
}
