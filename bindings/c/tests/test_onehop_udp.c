/* The one-hop overlay on UDP (dipsea_config_set_overlay, _partitioner, _replicas):
 * three members learn each other, a put through one is found through another, an
 * item outlives the members that stored it (handed off), and bad settings are
 * refused. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "network.h"
#include "harness.h"

static dipsea_node *member(const char *bootstrap) {
    dipsea_config *config = loopback_config(bootstrap);
    dipsea_node *node = NULL;
    CHECK_OK(dipsea_config_set_network(config, "c-cluster"));
    CHECK_OK(dipsea_config_set_overlay(config, "one-hop"));
    CHECK_OK(dipsea_config_set_partitioner(config, "ring:16"));
    CHECK_OK(dipsea_config_set_replicas(config, 2));
    /* All members share 127.0.0.1: lift the per-IP broadcast rate. */
    CHECK_OK(dipsea_config_set_option(config, "broadcast.per_ip.per_sec", 10000));
    CHECK_OK(dipsea_config_set_option(config, "broadcast.per_ip.burst", 10000));
    CHECK_OK(dipsea_node_new(config, &node));
    dipsea_config_free(config);
    return node;
}

static size_t members_of(const dipsea_node *node) {
    dipsea_stats stats;
    CHECK_OK(dipsea_node_stats(node, &stats));
    return stats.members;
}

/* Waits up to 10 s for every node of `nodes` to know `n` members. */
static int converged(dipsea_node *const *nodes, size_t count, size_t n) {
    for (int i = 0; i < 1000; i++) {
        size_t done = 0;
        for (size_t j = 0; j < count; j++) {
            done += members_of(nodes[j]) == n;
        }
        if (done == count) {
            return 1;
        }
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return 0;
}

static void one_hop_members_find_each_others_puts(void) {
    dipsea_node *seed = member(NULL);
    if (seed == NULL) {
        return;
    }
    char addr[DIPSEA_ADDR_SIZE];
    CHECK_OK(dipsea_node_local_addr(seed, addr, sizeof addr));
    dipsea_node *a = member(addr);
    dipsea_node *b = member(addr);
    dipsea_node *all[3] = {seed, a, b};
    CHECK(converged(all, 3, 3));
    const char *text = "from C";
    dipsea_id key;
    CHECK_OK(dipsea_node_put(a, (const uint8_t *)text, strlen(text), &key));
    dipsea_buffer value = {0};
    CHECK_OK(dipsea_node_get(b, &key, &value));
    CHECK(value.len == strlen(text) && memcmp(value.data, text, value.len) == 0);
    dipsea_buffer_free(&value);
    dipsea_node_free(b);
    dipsea_node_free(a);
    dipsea_node_free(seed);
}

static void an_item_outlives_the_members_that_stored_it(void) {
    dipsea_node *seed = member(NULL);
    if (seed == NULL) {
        return;
    }
    char addr[DIPSEA_ADDR_SIZE];
    CHECK_OK(dipsea_node_local_addr(seed, addr, sizeof addr));
    dipsea_node *a = member(addr);
    dipsea_node *pair[2] = {seed, a};
    CHECK(converged(pair, 2, 2));
    const char *text = "handed over";
    dipsea_id key;
    CHECK_OK(dipsea_node_put(a, (const uint8_t *)text, strlen(text), &key));
    dipsea_node *b = member(addr);
    dipsea_node *all[3] = {seed, a, b};
    CHECK(converged(all, 3, 3));
    /* The two that were sent the put leave: b holds the item only if it was handed
     * to it, when it joined or as they left. */
    dipsea_node_free(seed);
    dipsea_node_free(a);
    CHECK(converged(&b, 1, 1));
    dipsea_buffer value = {0};
    int status = DIPSEA_NOT_FOUND;
    for (int i = 0; i < 200 && status != DIPSEA_OK; i++) {
        status = dipsea_node_get(b, &key, &value);
        if (status != DIPSEA_OK) {
            struct timespec pause = {0, 10 * 1000 * 1000};
            nanosleep(&pause, NULL);
        }
    }
    CHECK_OK(status);
    CHECK(value.len == strlen(text) && memcmp(value.data, text, value.len) == 0);
    dipsea_buffer_free(&value);
    dipsea_node_free(b);
}

static void bad_one_hop_settings_are_refused(void) {
    dipsea_config *config = loopback_config(NULL);
    CHECK_STATUS(dipsea_config_set_partitioner(config, "ring"), DIPSEA_BAD_INPUT);
    CHECK_STATUS(dipsea_config_set_replicas(config, 3), DIPSEA_BAD_INPUT);
    CHECK_STATUS(dipsea_config_set_overlay(config, "chord"), DIPSEA_BAD_INPUT);
    CHECK_STATUS(dipsea_config_set_overlay(config, NULL), DIPSEA_NULL_ARGUMENT);
    CHECK_OK(dipsea_config_set_overlay(config, "one-hop"));
    CHECK_STATUS(dipsea_config_set_partitioner(config, "maglev"), DIPSEA_BAD_INPUT);
    dipsea_node *node = NULL;
    /* No network: a one-hop node never joins the public DHT. */
    CHECK_STATUS(dipsea_node_new(config, &node), DIPSEA_BAD_INPUT);
    CHECK(node == NULL);
    dipsea_config_free(config);
}

void onehop_udp_tests(void) {
    run_test("one_hop_members_find_each_others_puts", one_hop_members_find_each_others_puts);
    run_test("an_item_outlives_the_members_that_stored_it",
             an_item_outlives_the_members_that_stored_it);
    run_test("bad_one_hop_settings_are_refused", bad_one_hop_settings_are_refused);
}
