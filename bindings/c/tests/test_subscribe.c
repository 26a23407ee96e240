/* Subscriptions to a mutable item over the shared loopback network: each new
 * version handed to the listener's callback once, in order; cancelling; bad
 * arguments. Subscriptions to an info-hash's peers: each peer announced handed
 * to the callback once. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "harness.h"

/* What one subscription's callback saw. Written by the callback under `mu`. */
struct versions {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    int in_order;
    int64_t last_seq;
    char last_value[64];
};

static void on_update(void *user_data, const dipsea_mutable_item *item) {
    struct versions *v = user_data;
    pthread_mutex_lock(&v->mu);
    v->calls++;
    if (item->seq <= v->last_seq) {
        v->in_order = 0;
    }
    v->last_seq = item->seq;
    size_t len = item->value.len < sizeof v->last_value - 1 ? item->value.len
                                                             : sizeof v->last_value - 1;
    memcpy(v->last_value, item->value.data, len);
    v->last_value[len] = 0;
    pthread_cond_broadcast(&v->cv);
    pthread_mutex_unlock(&v->mu);
}

/* Waits until the callback saw `seq`, at most `seconds`; 1 if it did. */
static int wait_seq(struct versions *v, int64_t seq, int seconds) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += seconds;
    pthread_mutex_lock(&v->mu);
    int rc = 0;
    while (v->last_seq < seq && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&v->cv, &v->mu, &deadline);
    }
    int seen = v->last_seq >= seq;
    pthread_mutex_unlock(&v->mu);
    return seen;
}

static void put_version(const dipsea_keypair *keypair, int64_t seq) {
    char value[32];
    snprintf(value, sizeof value, "version %d", (int)seq);
    int64_t stored = 0;
    CHECK_OK(dipsea_node_put_mutable(net[1], keypair, (const uint8_t *)value, strlen(value),
                                     (const uint8_t *)"feed", 4, &seq, NULL, &stored));
    CHECK(stored == seq);
}

static void a_subscription_sees_each_new_version(void) {
    dipsea_keypair *keypair = NULL;
    CHECK_OK(dipsea_keypair_random(&keypair));
    uint8_t key[DIPSEA_PUBLIC_KEY_LEN];
    CHECK_OK(dipsea_keypair_public_key(keypair, key, sizeof key));
    struct versions v;
    memset(&v, 0, sizeof v);
    v.in_order = 1;
    pthread_mutex_init(&v.mu, NULL);
    pthread_cond_init(&v.cv, NULL);
    put_version(keypair, 1);
    dipsea_listener *listener = NULL;
    CHECK_OK(dipsea_node_subscribe(net[3], key, sizeof key, (const uint8_t *)"feed", 4,
                                   on_update, &v, &listener));
    /* The current version comes first, then each new one. */
    CHECK(wait_seq(&v, 1, 30));
    put_version(keypair, 2);
    CHECK(wait_seq(&v, 2, 30));
    put_version(keypair, 3);
    CHECK(wait_seq(&v, 3, 30));
    pthread_mutex_lock(&v.mu);
    CHECK(v.in_order);
    CHECK(v.calls == 3);
    CHECK(strcmp(v.last_value, "version 3") == 0);
    pthread_mutex_unlock(&v.mu);
    dipsea_stats stats;
    CHECK_OK(dipsea_node_stats(net[3], &stats));
    CHECK(stats.subscriptions_active == 1);
    CHECK(stats.notifications_received >= 2);
    /* After cancel returns the callback is never called again. */
    CHECK_OK(dipsea_listener_cancel(listener));
    put_version(keypair, 4);
    dipsea_mutable_item item;
    CHECK_OK(dipsea_node_get_mutable(net[3], key, sizeof key, (const uint8_t *)"feed", 4, NULL,
                                     &item));
    CHECK(item.seq == 4);
    CHECK_OK(dipsea_mutable_item_free(&item));
    pthread_mutex_lock(&v.mu);
    CHECK(v.calls == 3);
    pthread_mutex_unlock(&v.mu);
    CHECK_OK(dipsea_listener_free(listener));
    /* The listener's task ends on the runtime soon after: then the node drops the
     * subscription. */
    struct timespec step = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 3000; i++) {
        CHECK_OK(dipsea_node_stats(net[3], &stats));
        if (stats.subscriptions_active == 0) {
            break;
        }
        nanosleep(&step, NULL);
    }
    CHECK(stats.subscriptions_active == 0);
    pthread_mutex_destroy(&v.mu);
    pthread_cond_destroy(&v.cv);
    dipsea_keypair_free(keypair);
}

static void bad_subscriptions(void) {
    uint8_t key[DIPSEA_PUBLIC_KEY_LEN] = {1};
    uint8_t salt[65] = {0};
    dipsea_listener *listener = NULL;
    struct versions v;
    CHECK_STATUS(dipsea_node_subscribe(net[2], key, 31, NULL, 0, on_update, &v, &listener),
                 DIPSEA_BAD_INPUT);
    CHECK_STATUS(dipsea_node_subscribe(net[2], key, sizeof key, salt, sizeof salt, on_update, &v,
                                       &listener),
                 DIPSEA_BAD_INPUT);
    CHECK_STATUS(dipsea_node_subscribe(net[2], key, sizeof key, NULL, 0, NULL, &v, &listener),
                 DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_node_subscribe(net[2], NULL, 32, NULL, 0, on_update, &v, &listener),
                 DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_node_subscribe(net[2], key, sizeof key, NULL, 0, on_update, &v, NULL),
                 DIPSEA_NULL_ARGUMENT);
    CHECK(listener == NULL);
}

/* What one peer subscription's callback saw. Written by the callback under `mu`. */
struct peers {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    uint16_t ports[8];
};

static void on_peer(void *user_data, const dipsea_peer *peer) {
    struct peers *p = user_data;
    pthread_mutex_lock(&p->mu);
    if (p->calls < 8) {
        p->ports[p->calls] = peer->port;
    }
    p->calls++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Waits until the callback was called `calls` times, at most `seconds`. */
static int wait_calls(struct peers *p, int calls, int seconds) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += seconds;
    pthread_mutex_lock(&p->mu);
    int rc = 0;
    while (p->calls < calls && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&p->cv, &p->mu, &deadline);
    }
    int seen = p->calls >= calls;
    pthread_mutex_unlock(&p->mu);
    return seen;
}

static void a_peer_subscription_sees_each_peer_once(void) {
    dipsea_id info_hash;
    CHECK_OK(dipsea_id_sha1((const uint8_t *)"c peer torrent", 14, &info_hash));
    struct peers p;
    memset(&p, 0, sizeof p);
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    size_t stored = 0;
    CHECK_OK(dipsea_node_announce(net[1], &info_hash, 7101, &stored));
    dipsea_listener *listener = NULL;
    CHECK_OK(dipsea_node_subscribe_peers(net[4], &info_hash, on_peer, &p, &listener));
    /* The peer stored already comes first, then each one announced; a repeated
     * announce is not delivered again. */
    CHECK(wait_calls(&p, 1, 30));
    CHECK_OK(dipsea_node_announce(net[2], &info_hash, 7102, &stored));
    CHECK_OK(dipsea_node_announce(net[1], &info_hash, 7101, &stored));
    CHECK(wait_calls(&p, 2, 30));
    struct timespec pause = {0, 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
    CHECK_OK(dipsea_listener_cancel(listener));
    pthread_mutex_lock(&p.mu);
    CHECK(p.calls == 2);
    CHECK(p.ports[0] == 7101 && p.ports[1] == 7102);
    pthread_mutex_unlock(&p.mu);
    CHECK_OK(dipsea_listener_free(listener));
    CHECK_STATUS(dipsea_node_subscribe_peers(net[4], NULL, on_peer, &p, &listener),
                 DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_node_subscribe_peers(net[4], &info_hash, NULL, &p, &listener),
                 DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_node_subscribe_peers(net[4], &info_hash, on_peer, &p, NULL),
                 DIPSEA_NULL_ARGUMENT);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
}

void subscribe_tests(void) {
    run_test("subscribe: each new version, once, in order", a_subscription_sees_each_new_version);
    run_test("subscribe: bad arguments", bad_subscriptions);
    run_test("subscribe: each peer of an info-hash, once", a_peer_subscription_sees_each_peer_once);
}
