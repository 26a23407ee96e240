/* The simulator through the C API: puts and gets in a seeded virtual network,
 * crashes, determinism, stats, one-hop nodes, subscriptions, and the error paths. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "harness.h"

static dipsea_swarm *small_swarm(uint64_t seed) {
    dipsea_swarm_config config;
    if (dipsea_swarm_config_default(&config) != DIPSEA_OK) {
        return NULL;
    }
    config.nodes = 64;
    config.seed = seed;
    dipsea_swarm *swarm = NULL;
    if (dipsea_swarm_new(&config, &swarm) != DIPSEA_OK) {
        fprintf(stderr, "  swarm: %s\n", dipsea_last_error());
        return NULL;
    }
    return swarm;
}

static void swarm_defaults(void) {
    dipsea_swarm_config config;
    CHECK_OK(dipsea_swarm_config_default(&config));
    CHECK(config.nodes == 1000 && config.seed == 0);
    CHECK(config.latency_kind == DIPSEA_LATENCY_UNIFORM);
    CHECK(config.latency_low_ms == 10 && config.latency_high_ms == 100);
    CHECK(config.loss == 0.0 && config.k == 8 && config.alpha == 3);
    CHECK(config.overlay == DIPSEA_OVERLAY_KADEMLIA);
    CHECK(config.partitioner == DIPSEA_PARTITIONER_RENDEZVOUS);
    CHECK(config.vnodes == 0 && config.replicas == 3 && config.network == NULL);
    CHECK(config.threads == 0);
}

static void swarm_put_get_crash_stats(void) {
    dipsea_swarm *swarm = small_swarm(7);
    CHECK(swarm != NULL);
    if (swarm == NULL) {
        return;
    }
    dipsea_id keys[10];
    for (int i = 0; i < 10; i++) {
        char text[32];
        int len = snprintf(text, sizeof text, "swarm value %d", i);
        CHECK_OK(dipsea_swarm_put(swarm, (const uint8_t *)text, (size_t)len, &keys[i]));
    }
    for (int i = 0; i < 10; i++) {
        char text[32];
        snprintf(text, sizeof text, "swarm value %d", i);
        dipsea_buffer value = {NULL, 0};
        CHECK_OK(dipsea_swarm_get(swarm, &keys[i], &value));
        CHECK(value.data != NULL && strcmp((const char *)value.data, text) == 0);
        CHECK_OK(dipsea_buffer_free(&value));
    }
    dipsea_id missing;
    CHECK_OK(dipsea_id_sha1((const uint8_t *)"not in the swarm", 16, &missing));
    dipsea_buffer value = {NULL, 0};
    CHECK_STATUS(dipsea_swarm_get(swarm, &missing, &value), DIPSEA_NOT_FOUND);
    CHECK(value.data == NULL);

    size_t crashed = 0;
    CHECK_OK(dipsea_swarm_crash(swarm, 0.25, &crashed));
    CHECK(crashed == 16);
    CHECK_OK(dipsea_swarm_set_loss(swarm, 0.01));
    CHECK_OK(dipsea_swarm_advance(swarm, 60 * 1000));
    /* k = 8 replicas: every item survives a quarter of the nodes crashing. */
    for (int i = 0; i < 10; i++) {
        CHECK_OK(dipsea_swarm_get(swarm, &keys[i], &value));
        CHECK_OK(dipsea_buffer_free(&value));
    }

    dipsea_swarm_summary stats;
    CHECK_OK(dipsea_swarm_stats(swarm, &stats));
    CHECK(stats.nodes == 64 && stats.live == 48);
    CHECK(stats.ops == 31 && stats.ops_ok == 30); /* the missing key is not ok */
    CHECK(fabs(stats.success_rate - 30.0 / 31.0) < 1e-9);
    CHECK(stats.packets_sent > 0 && stats.bytes_sent > 0);
    CHECK(stats.rounds_p50 >= 1 && stats.latency_p50_ms > 0);
    CHECK(stats.virtual_ms >= 60 * 1000);
    CHECK(stats.memory_per_node > 0);
    CHECK_OK(dipsea_swarm_free(swarm));
}

static void swarms_with_one_seed_agree(void) {
    dipsea_swarm *a = small_swarm(42);
    dipsea_swarm *b = small_swarm(42);
    CHECK(a != NULL && b != NULL);
    if (a != NULL && b != NULL) {
        dipsea_id ka, kb;
        CHECK_OK(dipsea_swarm_put(a, (const uint8_t *)"same", 4, &ka));
        CHECK_OK(dipsea_swarm_put(b, (const uint8_t *)"same", 4, &kb));
        dipsea_swarm_summary sa, sb;
        CHECK_OK(dipsea_swarm_stats(a, &sa));
        CHECK_OK(dipsea_swarm_stats(b, &sb));
        CHECK(sa.packets_sent == sb.packets_sent && sa.bytes_sent == sb.bytes_sent);
        CHECK(sa.virtual_ms == sb.virtual_ms && sa.latency_p50_ms == sb.latency_p50_ms);
    }
    CHECK_OK(dipsea_swarm_free(a));
    CHECK_OK(dipsea_swarm_free(b));
}

/* A swarm of 200 nodes with seed 5 run on `threads` threads: puts, a crash, time. */
static bool run_on_threads(size_t threads, dipsea_swarm_summary *out) {
    dipsea_swarm_config config;
    CHECK_OK(dipsea_swarm_config_default(&config));
    config.nodes = 200;
    config.seed = 5;
    config.threads = threads;
    dipsea_swarm *swarm = NULL;
    if (dipsea_swarm_new(&config, &swarm) != DIPSEA_OK) {
        return false;
    }
    for (int i = 0; i < 5; i++) {
        char text[32];
        int len = snprintf(text, sizeof text, "threads %d", i);
        dipsea_id key;
        CHECK_OK(dipsea_swarm_put(swarm, (const uint8_t *)text, (size_t)len, &key));
    }
    size_t crashed = 0;
    CHECK_OK(dipsea_swarm_crash(swarm, 0.2, &crashed));
    CHECK_OK(dipsea_swarm_advance(swarm, 30 * 1000));
    CHECK_OK(dipsea_swarm_stats(swarm, out));
    CHECK_OK(dipsea_swarm_free(swarm));
    return true;
}

static void swarm_threads_do_not_change_the_outcome(void) {
    dipsea_swarm_summary one, three;
    CHECK(run_on_threads(1, &one));
    CHECK(run_on_threads(3, &three));
    CHECK(one.packets_sent > 1000);
    CHECK(one.packets_sent == three.packets_sent && one.bytes_sent == three.bytes_sent);
    CHECK(one.live == three.live && one.ops_ok == three.ops_ok);
    CHECK(one.virtual_ms == three.virtual_ms && one.latency_p50_ms == three.latency_p50_ms);
}

static void swarm_partition_heal_join(void) {
    dipsea_swarm *swarm = small_swarm(3);
    CHECK(swarm != NULL);
    if (swarm == NULL) {
        return;
    }
    dipsea_id keys[8];
    for (int i = 0; i < 8; i++) {
        char text[32];
        int len = snprintf(text, sizeof text, "partitioned %d", i);
        CHECK_OK(dipsea_swarm_put(swarm, (const uint8_t *)text, (size_t)len, &keys[i]));
    }
    CHECK_OK(dipsea_swarm_partition(swarm, 0.5));
    dipsea_swarm_summary before, after;
    CHECK_OK(dipsea_swarm_stats(swarm, &before));
    dipsea_buffer value = {NULL, 0};
    for (int i = 0; i < 8; i++) {
        /* Either side may or may not reach the item's replicas: any outcome but a
         * crash or a hang is fine here. */
        if (dipsea_swarm_get(swarm, &keys[i], &value) == DIPSEA_OK) {
            CHECK_OK(dipsea_buffer_free(&value));
        }
    }
    CHECK_OK(dipsea_swarm_stats(swarm, &after));
    CHECK(after.packets_lost > before.packets_lost);
    CHECK_OK(dipsea_swarm_heal(swarm));
    CHECK_OK(dipsea_swarm_advance(swarm, 15 * 60 * 1000));
    for (int i = 0; i < 8; i++) {
        CHECK_OK(dipsea_swarm_get(swarm, &keys[i], &value));
        CHECK_OK(dipsea_buffer_free(&value));
    }
    size_t index = 0;
    CHECK_OK(dipsea_swarm_join(swarm, &index));
    CHECK(index == 64);
    CHECK_OK(dipsea_swarm_stats(swarm, &after));
    CHECK(after.nodes == 65 && after.live == 65);
    CHECK_OK(dipsea_swarm_free(swarm));
}

static void swarm_errors(void) {
    dipsea_swarm_config config;
    dipsea_swarm *swarm = NULL;
    CHECK_STATUS(dipsea_swarm_config_default(NULL), DIPSEA_NULL_ARGUMENT);
    CHECK_OK(dipsea_swarm_config_default(&config));
    CHECK_STATUS(dipsea_swarm_new(NULL, &swarm), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_new(&config, NULL), DIPSEA_NULL_ARGUMENT);
    config.nodes = 0;
    CHECK_STATUS(dipsea_swarm_new(&config, &swarm), DIPSEA_BAD_INPUT);
    config.nodes = 4;
    config.loss = 1.5;
    CHECK_STATUS(dipsea_swarm_new(&config, &swarm), DIPSEA_BAD_INPUT);
    config.loss = NAN;
    CHECK_STATUS(dipsea_swarm_new(&config, &swarm), DIPSEA_BAD_INPUT);
    config.loss = 0;
    config.threads = 65;
    CHECK_STATUS(dipsea_swarm_new(&config, &swarm), DIPSEA_BAD_INPUT);
    CHECK(strstr(dipsea_last_error(), "threads") != NULL);
    config.threads = 0;
    config.latency_kind = 9;
    CHECK_STATUS(dipsea_swarm_new(&config, &swarm), DIPSEA_BAD_INPUT);
    CHECK(strstr(dipsea_last_error(), "latency_kind") != NULL);
    CHECK(swarm == NULL);
    config.latency_kind = DIPSEA_LATENCY_CONSTANT;
    config.latency_low_ms = 5;
    CHECK_OK(dipsea_swarm_new(&config, &swarm));

    dipsea_id key = {{0}};
    dipsea_buffer value = {NULL, 0};
    size_t n = 0;
    dipsea_swarm_summary stats;
    CHECK_STATUS(dipsea_swarm_put(NULL, (const uint8_t *)"x", 1, &key), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_put(swarm, NULL, 1, &key), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_put(swarm, (const uint8_t *)"x", 1, NULL), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_get(NULL, &key, &value), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_get(swarm, NULL, &value), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_get(swarm, &key, NULL), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_crash(NULL, 0.5, &n), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_crash(swarm, 0.5, NULL), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_crash(swarm, -0.1, &n), DIPSEA_BAD_INPUT);
    CHECK_STATUS(dipsea_swarm_set_loss(NULL, 0), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_set_loss(swarm, 2), DIPSEA_BAD_INPUT);
    CHECK_STATUS(dipsea_swarm_advance(NULL, 1), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_partition(NULL, 0.5), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_partition(swarm, 1.5), DIPSEA_BAD_INPUT);
    CHECK_STATUS(dipsea_swarm_heal(NULL), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_join(NULL, &n), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_join(swarm, NULL), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_stats(NULL, &stats), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_stats(swarm, NULL), DIPSEA_NULL_ARGUMENT);

    /* Every node crashed: no route. */
    CHECK_OK(dipsea_swarm_crash(swarm, 1.0, &n));
    CHECK(n == 4);
    CHECK_STATUS(dipsea_swarm_put(swarm, (const uint8_t *)"x", 1, &key), DIPSEA_NO_ROUTE);
    CHECK_STATUS(dipsea_swarm_get(swarm, &key, &value), DIPSEA_NO_ROUTE);
    CHECK_OK(dipsea_swarm_free(swarm));
    CHECK_OK(dipsea_swarm_free(NULL));
}

/* A one-hop swarm of `nodes`, settled for 30 s of virtual time (membership spread). */
static dipsea_swarm *one_hop_swarm(size_t nodes, uint32_t partitioner, size_t replicas,
                                   const char *network) {
    dipsea_swarm_config config;
    if (dipsea_swarm_config_default(&config) != DIPSEA_OK) {
        return NULL;
    }
    config.nodes = nodes;
    config.seed = 21;
    config.overlay = DIPSEA_OVERLAY_ONE_HOP;
    config.partitioner = partitioner;
    config.replicas = replicas;
    config.network = network;
    dipsea_swarm *swarm = NULL;
    if (dipsea_swarm_new(&config, &swarm) != DIPSEA_OK) {
        fprintf(stderr, "  one-hop swarm: %s\n", dipsea_last_error());
        return NULL;
    }
    if (dipsea_swarm_advance(swarm, 30 * 1000) != DIPSEA_OK) {
        dipsea_swarm_free(swarm);
        return NULL;
    }
    return swarm;
}

/* Puts `count` values, then gets each: returns the stats of the gets alone. */
static dipsea_swarm_summary puts_then_gets(dipsea_swarm *swarm, int count) {
    dipsea_id keys[32];
    dipsea_swarm_summary stats = {0};
    for (int i = 0; i < count && i < 32; i++) {
        char text[32];
        int len = snprintf(text, sizeof text, "one-hop value %d", i);
        CHECK_OK(dipsea_swarm_put(swarm, (const uint8_t *)text, (size_t)len, &keys[i]));
    }
    CHECK_OK(dipsea_swarm_reset_ops(swarm));
    for (int i = 0; i < count && i < 32; i++) {
        char text[32];
        snprintf(text, sizeof text, "one-hop value %d", i);
        dipsea_buffer value = {NULL, 0};
        CHECK_OK(dipsea_swarm_get(swarm, &keys[i], &value));
        CHECK(value.data != NULL && strcmp((const char *)value.data, text) == 0);
        CHECK_OK(dipsea_buffer_free(&value));
    }
    CHECK_OK(dipsea_swarm_stats(swarm, &stats));
    return stats;
}

static void swarm_one_hop_gets_take_one_round_trip(void) {
    dipsea_swarm *swarm = one_hop_swarm(100, DIPSEA_PARTITIONER_RENDEZVOUS, 3, NULL);
    CHECK(swarm != NULL);
    if (swarm == NULL) {
        return;
    }
    dipsea_swarm_summary stats = puts_then_gets(swarm, 20);
    CHECK(stats.ops == 20 && stats.ops_ok == 20 && stats.success_rate == 1.0);
    /* Straight to the owners: one round trip, at most r = 3 queries a get. */
    CHECK(stats.rounds_p50 == 1.0 && stats.rounds_p99 == 1.0);
    CHECK(stats.messages_per_lookup_p99 >= 1.0 && stats.messages_per_lookup_p99 <= 3.0);
    CHECK_OK(dipsea_swarm_free(swarm));

    /* The same network running Kademlia takes more rounds. */
    dipsea_swarm_config config;
    CHECK_OK(dipsea_swarm_config_default(&config));
    config.nodes = 100;
    config.seed = 21;
    CHECK_OK(dipsea_swarm_new(&config, &swarm));
    stats = puts_then_gets(swarm, 20);
    CHECK(stats.ops_ok == 20 && stats.rounds_p99 > 1.0);
    CHECK_OK(dipsea_swarm_free(swarm));

    /* One owner on a ring, on a network of its own name: one query a get. */
    swarm = one_hop_swarm(40, DIPSEA_PARTITIONER_RING, 1, "c-cluster");
    CHECK(swarm != NULL);
    if (swarm != NULL) {
        stats = puts_then_gets(swarm, 5);
        CHECK(stats.ops_ok == 5 && stats.rounds_p99 == 1.0);
        CHECK(stats.messages_per_lookup_p99 == 1.0);
    }
    CHECK_OK(dipsea_swarm_free(swarm));
}

static void swarm_subscribers_get_each_version(void) {
    dipsea_swarm *swarm = small_swarm(9);
    dipsea_keypair *key = NULL;
    uint8_t seed[32], public_key[DIPSEA_PUBLIC_KEY_LEN];
    for (int i = 0; i < 32; i++) {
        seed[i] = (uint8_t)i;
    }
    CHECK_OK(dipsea_keypair_from_seed(seed, sizeof seed, &key));
    CHECK_OK(dipsea_keypair_public_key(key, public_key, sizeof public_key));
    CHECK(swarm != NULL);
    if (swarm == NULL) {
        dipsea_keypair_free(key);
        return;
    }
    const uint8_t *salt = (const uint8_t *)"news";
    size_t asked = 0, stored = 0;
    CHECK_OK(dipsea_swarm_subscribe(swarm, 3, public_key, sizeof public_key, salt, 4, &asked));
    CHECK(asked > 0);
    CHECK_OK(dipsea_swarm_subscribe(swarm, 40, public_key, sizeof public_key, salt, 4, &asked));
    CHECK(asked > 0);
    dipsea_swarm_update_list updates = {NULL, 0};
    CHECK_OK(dipsea_swarm_take_updates(swarm, &updates));
    CHECK(updates.count == 0 && updates.updates == NULL); /* nothing published yet */

    for (int64_t seq = 1; seq <= 2; seq++) {
        dipsea_swarm_summary before;
        CHECK_OK(dipsea_swarm_stats(swarm, &before));
        CHECK_OK(dipsea_swarm_put_mutable(swarm, 10, key, (const uint8_t *)"version", 7, salt,
                                          4, seq, &stored));
        CHECK(stored > 0);
        CHECK_OK(dipsea_swarm_advance(swarm, 10 * 1000));
        CHECK_OK(dipsea_swarm_take_updates(swarm, &updates));
        CHECK(updates.count == 2);
        bool got_3 = false, got_40 = false;
        for (size_t i = 0; i < updates.count; i++) {
            const dipsea_swarm_update *u = &updates.updates[i];
            CHECK(u->seq == seq);
            CHECK(u->at_ms > before.virtual_ms && u->at_ms <= before.virtual_ms + 10 * 1000);
            got_3 |= u->node == 3;
            got_40 |= u->node == 40;
        }
        CHECK(got_3 && got_40);
        CHECK_OK(dipsea_swarm_update_list_free(&updates));
        CHECK(updates.updates == NULL && updates.count == 0);
        CHECK_OK(dipsea_swarm_update_list_free(&updates));
    }
    /* Another salt is another item: nobody subscribed to it. */
    CHECK_OK(dipsea_swarm_put_mutable(swarm, 10, key, (const uint8_t *)"x", 1, NULL, 0, 5,
                                      &stored));
    CHECK_OK(dipsea_swarm_advance(swarm, 10 * 1000));
    CHECK_OK(dipsea_swarm_take_updates(swarm, &updates));
    CHECK(updates.count == 0);
    /* The storing nodes hold version 2: version 1 is refused. */
    CHECK_STATUS(dipsea_swarm_put_mutable(swarm, 11, key, (const uint8_t *)"old", 3, salt, 4,
                                          1, &stored),
                 DIPSEA_SEQ_TOO_OLD);
    CHECK_OK(dipsea_keypair_free(key));
    CHECK_OK(dipsea_swarm_free(swarm));
}

static void swarm_peer_subscribers_get_each_peer(void) {
    dipsea_swarm *swarm = small_swarm(10);
    CHECK(swarm != NULL);
    if (swarm == NULL) {
        return;
    }
    dipsea_id info_hash;
    CHECK_OK(dipsea_id_sha1((const uint8_t *)"a torrent", 9, &info_hash));
    size_t asked = 0, stored = 0;
    CHECK_OK(dipsea_swarm_subscribe_peers(swarm, 5, &info_hash, &asked));
    CHECK(asked > 0);
    CHECK_OK(dipsea_swarm_announce(swarm, 20, &info_hash, 0, &stored));
    CHECK(stored > 0);
    CHECK_OK(dipsea_swarm_announce(swarm, 21, &info_hash, 51413, &stored));
    CHECK(stored > 0);
    CHECK_OK(dipsea_swarm_advance(swarm, 10 * 1000));
    dipsea_swarm_peer_update_list updates = {NULL, 0};
    CHECK_OK(dipsea_swarm_take_peer_updates(swarm, &updates));
    CHECK(updates.count == 2);
    /* Node i lives at 127.x.y.z, x.y.z = i + 1; port 0 announces its port, 6881. */
    bool got_20 = false, got_21 = false;
    for (size_t i = 0; i < updates.count; i++) {
        const dipsea_swarm_peer_update *u = &updates.updates[i];
        CHECK(u->node == 5);
        CHECK(memcmp(u->info_hash.bytes, info_hash.bytes, DIPSEA_ID_LEN) == 0);
        CHECK(u->peer.family == DIPSEA_PEER_IPV4 && u->peer.ip[0] == 127);
        got_20 |= u->peer.ip[3] == 21 && u->peer.port == 6881;
        got_21 |= u->peer.ip[3] == 22 && u->peer.port == 51413;
    }
    CHECK(got_20 && got_21);
    CHECK_OK(dipsea_swarm_peer_update_list_free(&updates));
    CHECK(updates.updates == NULL && updates.count == 0);
    CHECK_OK(dipsea_swarm_take_peer_updates(swarm, &updates));
    CHECK(updates.count == 0);
    CHECK_OK(dipsea_swarm_free(swarm));
}

static void swarm_one_hop_and_subscription_errors(void) {
    dipsea_swarm_config config;
    dipsea_swarm *swarm = NULL;
    CHECK_OK(dipsea_swarm_config_default(&config));
    config.nodes = 4;
    config.overlay = 7;
    CHECK_STATUS(dipsea_swarm_new(&config, &swarm), DIPSEA_BAD_INPUT);
    CHECK(strstr(dipsea_last_error(), "unknown overlay 7") != NULL);
    config.overlay = DIPSEA_OVERLAY_ONE_HOP;
    config.partitioner = 9;
    CHECK_STATUS(dipsea_swarm_new(&config, &swarm), DIPSEA_BAD_INPUT);
    CHECK(strstr(dipsea_last_error(), "partitioner") != NULL);
    config.partitioner = DIPSEA_PARTITIONER_RING;
    config.vnodes = 5000;
    CHECK_STATUS(dipsea_swarm_new(&config, &swarm), DIPSEA_BAD_INPUT);
    config.vnodes = 0;
    config.replicas = 0;
    CHECK_STATUS(dipsea_swarm_new(&config, &swarm), DIPSEA_BAD_INPUT);
    CHECK(strstr(dipsea_last_error(), "replicas") != NULL);
    config.replicas = 2;
    config.network = "";
    CHECK_STATUS(dipsea_swarm_new(&config, &swarm), DIPSEA_BAD_INPUT);
    CHECK(strstr(dipsea_last_error(), "network name") != NULL);
    CHECK(swarm == NULL);
    /* Kademlia ignores the one-hop fields. */
    config.overlay = DIPSEA_OVERLAY_KADEMLIA;
    config.partitioner = 9;
    config.network = NULL;
    CHECK_OK(dipsea_swarm_new(&config, &swarm));

    uint8_t public_key[DIPSEA_PUBLIC_KEY_LEN] = {0};
    dipsea_id id = {{0}};
    size_t n = 0;
    bool live = false;
    dipsea_keypair *key = NULL;
    CHECK_OK(dipsea_keypair_random(&key));
    dipsea_swarm_update_list updates = {NULL, 0};
    dipsea_swarm_peer_update_list peers = {NULL, 0};
    CHECK_STATUS(dipsea_swarm_subscribe(NULL, 0, public_key, 32, NULL, 0, &n),
                 DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_subscribe(swarm, 0, NULL, 32, NULL, 0, &n), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_subscribe(swarm, 0, public_key, 3, NULL, 0, &n), DIPSEA_BAD_INPUT);
    CHECK_STATUS(dipsea_swarm_subscribe(swarm, 0, public_key, 32, NULL, 1, &n),
                 DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_subscribe(swarm, 0, public_key, 32, NULL, 0, NULL),
                 DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_subscribe(swarm, 4, public_key, 32, NULL, 0, &n), DIPSEA_SHUTDOWN);
    CHECK_STATUS(dipsea_swarm_subscribe_peers(NULL, 0, &id, &n), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_subscribe_peers(swarm, 0, NULL, &n), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_subscribe_peers(swarm, 0, &id, NULL), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_subscribe_peers(swarm, 99, &id, &n), DIPSEA_SHUTDOWN);
    CHECK_STATUS(dipsea_swarm_put_mutable(swarm, 0, NULL, (const uint8_t *)"v", 1, NULL, 0, 1, &n),
                 DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_put_mutable(swarm, 0, key, NULL, 1, NULL, 0, 1, &n),
                 DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_put_mutable(swarm, 0, key, (const uint8_t *)"v", 1, NULL, 0, 1, NULL),
                 DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_put_mutable(swarm, 9, key, (const uint8_t *)"v", 1, NULL, 0, 1, &n),
                 DIPSEA_SHUTDOWN);
    CHECK_STATUS(dipsea_swarm_announce(NULL, 0, &id, 0, &n), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_announce(swarm, 0, NULL, 0, &n), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_announce(swarm, 0, &id, 0, NULL), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_announce(swarm, 9, &id, 0, &n), DIPSEA_SHUTDOWN);
    CHECK_STATUS(dipsea_swarm_take_updates(NULL, &updates), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_take_updates(swarm, NULL), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_take_peer_updates(NULL, &peers), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_take_peer_updates(swarm, NULL), DIPSEA_NULL_ARGUMENT);
    CHECK_OK(dipsea_swarm_update_list_free(NULL));
    CHECK_OK(dipsea_swarm_peer_update_list_free(NULL));
    CHECK_STATUS(dipsea_swarm_is_live(NULL, 0, &live), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_is_live(swarm, 0, NULL), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_swarm_reset_ops(NULL), DIPSEA_NULL_ARGUMENT);
    CHECK_OK(dipsea_swarm_is_live(swarm, 0, &live));
    CHECK(live);
    CHECK_OK(dipsea_swarm_is_live(swarm, 4, &live));
    CHECK(!live);
    CHECK_OK(dipsea_swarm_crash(swarm, 1.0, &n));
    CHECK_OK(dipsea_swarm_is_live(swarm, 0, &live));
    CHECK(!live);
    CHECK_STATUS(dipsea_swarm_subscribe(swarm, 0, public_key, 32, NULL, 0, &n), DIPSEA_SHUTDOWN);
    CHECK_OK(dipsea_keypair_free(key));
    CHECK_OK(dipsea_swarm_free(swarm));
}

void swarm_tests(void) {
    run_test("swarm: defaults", swarm_defaults);
    run_test("swarm: put, get, crash, stats", swarm_put_get_crash_stats);
    run_test("swarm: one seed, one outcome", swarms_with_one_seed_agree);
    run_test("swarm: threads do not change the outcome", swarm_threads_do_not_change_the_outcome);
    run_test("swarm: partition, heal, join", swarm_partition_heal_join);
    run_test("swarm: errors", swarm_errors);
    run_test("swarm: one-hop gets take one round trip", swarm_one_hop_gets_take_one_round_trip);
    run_test("swarm: subscribers get each version", swarm_subscribers_get_each_version);
    run_test("swarm: peer subscribers get each peer", swarm_peer_subscribers_get_each_peer);
    run_test("swarm: one-hop and subscription errors", swarm_one_hop_and_subscription_errors);
}
