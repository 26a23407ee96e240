/* The simulator through the C API: puts and gets in a seeded virtual network,
 * crashes, determinism, stats, and its error paths. */
#include <math.h>
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

void swarm_tests(void) {
    run_test("swarm: defaults", swarm_defaults);
    run_test("swarm: put, get, crash, stats", swarm_put_get_crash_stats);
    run_test("swarm: one seed, one outcome", swarms_with_one_seed_agree);
    run_test("swarm: partition, heal, join", swarm_partition_heal_join);
    run_test("swarm: errors", swarm_errors);
}
