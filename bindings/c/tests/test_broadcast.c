/* Broadcast and key-range multicast over a loopback network of its own (whose nodes
 * accept one origin): delivery to listeners' callbacks, cancelling (also from inside
 * a callback), the stats, bad arguments, and a listener outliving its node. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "harness.h"

#define BNET 4

/* What one listener's callback saw. Written by the callback under `mu`. */
struct inbox {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    int64_t last_seq;
    uint8_t last_origin[DIPSEA_PUBLIC_KEY_LEN];
    char last_payload[DIPSEA_BROADCAST_MAX_PAYLOAD + 1];
    size_t last_len;
    dipsea_id last_prefix;
    uint32_t last_prefix_bits;
    /* When set, the callback cancels this listener (its own) on its first call. */
    dipsea_listener *cancel_self;
    /* When set, broadcasts with another payload are ignored (a listener made just
     * after a delivery may still see that broadcast: the node counts a delivery
     * before it hands it to the listeners). */
    const char *only;
};

static void inbox_init(struct inbox *box) {
    memset(box, 0, sizeof *box);
    pthread_mutex_init(&box->mu, NULL);
    pthread_cond_init(&box->cv, NULL);
}

static void inbox_destroy(struct inbox *box) {
    pthread_mutex_destroy(&box->mu);
    pthread_cond_destroy(&box->cv);
}

static void on_broadcast(void *user_data, const dipsea_broadcast *b) {
    struct inbox *box = user_data;
    if (box->only != NULL &&
        (b->payload_len != strlen(box->only) || memcmp(b->payload, box->only, b->payload_len))) {
        return;
    }
    pthread_mutex_lock(&box->mu);
    box->calls++;
    box->last_seq = b->seq;
    memcpy(box->last_origin, b->origin, sizeof box->last_origin);
    box->last_len = b->payload_len;
    if (b->payload_len > 0) {
        memcpy(box->last_payload, b->payload, b->payload_len);
    }
    box->last_payload[b->payload_len] = 0;
    box->last_prefix = b->prefix;
    box->last_prefix_bits = b->prefix_bits;
    dipsea_listener *self = box->cancel_self;
    pthread_cond_broadcast(&box->cv);
    pthread_mutex_unlock(&box->mu);
    if (self != NULL) {
        /* Cancelling its own listener from inside the callback returns at once. */
        dipsea_listener_cancel(self);
    }
}

/* Waits until the box has `calls` calls, at most `seconds`; 1 if it has. */
static int inbox_wait(struct inbox *box, int calls, int seconds) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += seconds;
    pthread_mutex_lock(&box->mu);
    int rc = 0;
    while (box->calls < calls && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&box->cv, &box->mu, &deadline);
    }
    int reached = box->calls >= calls;
    pthread_mutex_unlock(&box->mu);
    return reached;
}

static int inbox_calls(struct inbox *box) {
    pthread_mutex_lock(&box->mu);
    int calls = box->calls;
    pthread_mutex_unlock(&box->mu);
    return calls;
}

static uint64_t delivered(const dipsea_node *node) {
    dipsea_stats stats;
    if (dipsea_node_stats(node, &stats) != DIPSEA_OK) {
        return UINT64_MAX;
    }
    return stats.broadcasts_delivered;
}

/* Waits until `node` has delivered `count` broadcasts, at most `seconds`. */
static int wait_delivered(const dipsea_node *node, uint64_t count, int seconds) {
    struct timespec step = {0, 10 * 1000 * 1000};
    for (int i = 0; i < seconds * 100; i++) {
        if (delivered(node) >= count) {
            return 1;
        }
        nanosleep(&step, NULL);
    }
    return delivered(node) >= count;
}

static dipsea_node *bnet[BNET];
static dipsea_keypair *origin;
static uint8_t origin_key[DIPSEA_PUBLIC_KEY_LEN];

/* Starts BNET loopback nodes accepting `origin` only, joined twice. */
static int bnet_start(void) {
    uint8_t seed[DIPSEA_SEED_LEN];
    memset(seed, 7, sizeof seed);
    if (dipsea_keypair_from_seed(seed, sizeof seed, &origin) != DIPSEA_OK ||
        dipsea_keypair_public_key(origin, origin_key, sizeof origin_key) != DIPSEA_OK) {
        return -1;
    }
    dipsea_config *config = loopback_config(NULL);
    CHECK_OK(dipsea_config_set_accept_broadcasts_open(config));
    CHECK_OK(dipsea_config_set_accept_broadcasts_off(config));
    CHECK_OK(dipsea_config_allow_broadcast_origin(config, origin_key, sizeof origin_key));
    int rc = dipsea_node_new(config, &bnet[0]) == DIPSEA_OK ? 0 : -1;
    dipsea_config_free(config);
    if (rc != 0) {
        return -1;
    }
    char seed_addr[DIPSEA_ADDR_SIZE];
    CHECK_OK(dipsea_node_local_addr(bnet[0], seed_addr, sizeof seed_addr));
    config = loopback_config(seed_addr);
    CHECK_OK(dipsea_config_allow_broadcast_origin(config, origin_key, sizeof origin_key));
    for (int i = 1; i < BNET && rc == 0; i++) {
        rc = dipsea_node_new(config, &bnet[i]) == DIPSEA_OK ? 0 : -1;
    }
    dipsea_config_free(config);
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        for (int i = 1; i < BNET && rc == 0; i++) {
            size_t table = 0;
            rc = dipsea_node_bootstrap(bnet[i], &table) == DIPSEA_OK ? 0 : -1;
        }
    }
    return rc;
}

static void bnet_stop(void) {
    for (int i = 0; i < BNET; i++) {
        dipsea_node_free(bnet[i]);
        bnet[i] = NULL;
    }
    dipsea_keypair_free(origin);
    origin = NULL;
}

static struct inbox boxes[BNET];
static dipsea_listener *listeners[BNET];

static void broadcast_reaches_every_listener(void) {
    for (int i = 1; i < BNET; i++) {
        CHECK_OK(dipsea_node_on_broadcast(bnet[i], on_broadcast, &boxes[i], &listeners[i]));
    }
    int64_t seq = 5;
    size_t sent = 0;
    CHECK_OK(dipsea_node_broadcast(bnet[0], origin, &seq, NULL, 0, (const uint8_t *)"hello", 5,
                                   &sent));
    CHECK(sent >= 1);
    for (int i = 1; i < BNET; i++) {
        CHECK(inbox_wait(&boxes[i], 1, 30));
        pthread_mutex_lock(&boxes[i].mu);
        CHECK(boxes[i].last_seq == 5);
        CHECK(boxes[i].last_len == 5 && strcmp(boxes[i].last_payload, "hello") == 0);
        CHECK(memcmp(boxes[i].last_origin, origin_key, sizeof origin_key) == 0);
        CHECK(boxes[i].last_prefix_bits == 0);
        pthread_mutex_unlock(&boxes[i].mu);
        CHECK(wait_delivered(bnet[i], 1, 30));
    }
    dipsea_stats stats;
    CHECK_OK(dipsea_node_stats(bnet[0], &stats));
    CHECK(stats.broadcasts_started == 1);
    CHECK(stats.broadcasts_forwarded >= 1);
    CHECK(stats.broadcasts_delivered == 0);
}

static void a_cancelled_listener_is_not_called(void) {
    /* Node 1's listener is cancelled; node 2's cancels itself on its next call. */
    CHECK_OK(dipsea_listener_cancel(listeners[1]));
    CHECK_OK(dipsea_listener_cancel(listeners[1]));
    pthread_mutex_lock(&boxes[2].mu);
    boxes[2].cancel_self = listeners[2];
    pthread_mutex_unlock(&boxes[2].mu);
    for (int round = 0; round < 2; round++) {
        size_t sent = 0;
        /* Automatic sequence numbers: each one higher than the last. */
        CHECK_OK(dipsea_node_broadcast(bnet[0], origin, NULL, NULL, 0,
                                       (const uint8_t *)"again", 5, &sent));
        CHECK(inbox_wait(&boxes[3], 2 + round, 30));
        for (int i = 1; i < BNET; i++) {
            CHECK(wait_delivered(bnet[i], 2 + round, 30));
        }
    }
    /* A delivery is counted before its listeners run: wait for node 2's second call
     * (the one in which it cancels itself) rather than read its count at once. */
    CHECK(inbox_wait(&boxes[2], 2, 30));
    CHECK(inbox_calls(&boxes[1]) == 1);
    CHECK(inbox_calls(&boxes[2]) == 2);
    CHECK(inbox_calls(&boxes[3]) == 3);
    pthread_mutex_lock(&boxes[3].mu);
    CHECK(boxes[3].last_seq > 5);
    pthread_mutex_unlock(&boxes[3].mu);
}

static void a_multicast_reaches_its_range(void) {
    /* The range of node 2's whole id: node 2 alone. */
    dipsea_id target;
    CHECK_OK(dipsea_node_id(bnet[2], &target));
    struct inbox box;
    inbox_init(&box);
    box.only = "just you";
    dipsea_listener *listener = NULL;
    CHECK_OK(dipsea_node_on_broadcast(bnet[2], on_broadcast, &box, &listener));
    uint64_t before[BNET];
    for (int i = 0; i < BNET; i++) {
        before[i] = delivered(bnet[i]);
    }
    size_t sent = 0;
    CHECK_OK(dipsea_node_broadcast(bnet[0], origin, NULL, target.bytes, 160,
                                   (const uint8_t *)"just you", 8, &sent));
    CHECK(sent >= 1);
    CHECK(inbox_wait(&box, 1, 30));
    pthread_mutex_lock(&box.mu);
    CHECK(box.last_prefix_bits == 160);
    CHECK(memcmp(box.last_prefix.bytes, target.bytes, DIPSEA_ID_LEN) == 0);
    CHECK(strcmp(box.last_payload, "just you") == 0);
    pthread_mutex_unlock(&box.mu);
    CHECK(delivered(bnet[1]) == before[1]);
    CHECK(delivered(bnet[3]) == before[3]);
    CHECK_OK(dipsea_listener_free(listener));
    inbox_destroy(&box);
}

static void bad_arguments(void) {
    size_t sent = 0;
    uint8_t big[DIPSEA_BROADCAST_MAX_PAYLOAD + 1] = {0};
    CHECK_STATUS(dipsea_node_broadcast(bnet[0], origin, NULL, NULL, 0, big, sizeof big, &sent),
                 DIPSEA_BAD_INPUT);
    uint8_t prefix[21] = {0};
    CHECK_STATUS(dipsea_node_broadcast(bnet[0], origin, NULL, prefix, 161, NULL, 0, &sent),
                 DIPSEA_BAD_INPUT);
    CHECK_STATUS(dipsea_node_broadcast(bnet[0], origin, NULL, NULL, 8, NULL, 0, &sent),
                 DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_node_broadcast(bnet[0], NULL, NULL, NULL, 0, NULL, 0, &sent),
                 DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_node_broadcast(bnet[0], origin, NULL, NULL, 0, NULL, 0, NULL),
                 DIPSEA_NULL_ARGUMENT);
    dipsea_listener *listener = NULL;
    CHECK_STATUS(dipsea_node_on_broadcast(bnet[0], NULL, NULL, &listener), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_node_on_broadcast(NULL, on_broadcast, NULL, &listener),
                 DIPSEA_NULL_ARGUMENT);
    CHECK(listener == NULL);
    CHECK_OK(dipsea_listener_cancel(NULL));
    CHECK_OK(dipsea_listener_free(NULL));
    dipsea_config *config = NULL;
    CHECK_OK(dipsea_config_default(&config));
    CHECK_STATUS(dipsea_config_allow_broadcast_origin(config, origin_key, 31), DIPSEA_BAD_INPUT);
    CHECK_STATUS(dipsea_config_allow_broadcast_origin(config, NULL, 32), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_config_allow_broadcast_origin(NULL, origin_key, 32),
                 DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_config_set_accept_broadcasts_open(NULL), DIPSEA_NULL_ARGUMENT);
    uint64_t beta = 0;
    CHECK_OK(dipsea_config_get_option(config, "broadcast.beta", &beta));
    CHECK(beta == 2);
    CHECK_OK(dipsea_config_set_option(config, "broadcast.beta", 3));
    CHECK_STATUS(dipsea_config_set_option(config, "broadcast.beta", 0), DIPSEA_BAD_INPUT);
    dipsea_config_free(config);
}

static void a_listener_may_outlive_its_node(void) {
    dipsea_config *config = loopback_config(NULL);
    dipsea_node *node = NULL;
    CHECK_OK(dipsea_node_new(config, &node));
    dipsea_config_free(config);
    struct inbox box;
    inbox_init(&box);
    dipsea_listener *listener = NULL;
    CHECK_OK(dipsea_node_on_broadcast(node, on_broadcast, &box, &listener));
    CHECK_OK(dipsea_node_free(node));
    CHECK_OK(dipsea_listener_cancel(listener));
    CHECK_OK(dipsea_listener_free(listener));
    CHECK(inbox_calls(&box) == 0);
    inbox_destroy(&box);
}

static void network_failed(void) {
    fprintf(stderr, "  broadcast network: %s\n", dipsea_last_error());
    CHECK(0);
}

void broadcast_tests(void) {
    for (int i = 0; i < BNET; i++) {
        inbox_init(&boxes[i]);
    }
    if (bnet_start() != 0) {
        run_test("broadcast network starts", network_failed);
    } else {
        run_test("broadcast reaches every listener", broadcast_reaches_every_listener);
        run_test("a cancelled listener is not called", a_cancelled_listener_is_not_called);
        run_test("a multicast reaches its range", a_multicast_reaches_its_range);
        run_test("broadcast bad arguments", bad_arguments);
    }
    for (int i = 0; i < BNET; i++) {
        dipsea_listener_free(listeners[i]);
        listeners[i] = NULL;
    }
    bnet_stop();
    for (int i = 0; i < BNET; i++) {
        inbox_destroy(&boxes[i]);
    }
    run_test("a listener may outlive its node", a_listener_may_outlive_its_node);
}
