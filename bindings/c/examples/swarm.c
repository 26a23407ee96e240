/* swarm.c: the deterministic simulator from C.
 *
 * Builds a seeded virtual network of 1000 nodes in this process, stores and reads
 * back 100 items, crashes 30% of the nodes, reads them again, and prints the swarm's
 * measurements. The same seed gives the same numbers (wall-clock times aside).
 * Build and run: `make -C bindings/c/examples run`. */
#include <stdio.h>
#include <stdlib.h>

#include "dipsea.h"

static void check(dipsea_status status, const char *what) {
    if (status != DIPSEA_OK) {
        fprintf(stderr, "%s: %s (%s)\n", what, dipsea_status_str(status), dipsea_last_error());
        exit(1);
    }
}

static int get_all(dipsea_swarm *swarm, const dipsea_id *keys, int n) {
    int found = 0;
    for (int i = 0; i < n; i++) {
        dipsea_buffer value = {NULL, 0};
        dipsea_status status = dipsea_swarm_get(swarm, &keys[i], &value);
        if (status == DIPSEA_OK) {
            found++;
            dipsea_buffer_free(&value);
        } else if (status != DIPSEA_NOT_FOUND) {
            check(status, "get");
        }
    }
    return found;
}

int main(void) {
    dipsea_swarm_config config;
    check(dipsea_swarm_config_default(&config), "config");
    config.nodes = 1000;
    config.seed = 7;
    config.latency_kind = DIPSEA_LATENCY_LONG_TAIL;
    config.latency_low_ms = 40;   /* median */
    config.latency_high_ms = 300; /* 99th percentile */
    dipsea_swarm *swarm = NULL;
    check(dipsea_swarm_new(&config, &swarm), "build the swarm");

    enum { ITEMS = 100 };
    dipsea_id keys[ITEMS];
    for (int i = 0; i < ITEMS; i++) {
        char text[32];
        int len = snprintf(text, sizeof text, "item %d", i);
        check(dipsea_swarm_put(swarm, (const uint8_t *)text, (size_t)len, &keys[i]), "put");
    }
    printf("found %d of %d items\n", get_all(swarm, keys, ITEMS), ITEMS);

    size_t crashed = 0;
    check(dipsea_swarm_crash(swarm, 0.3, &crashed), "crash");
    printf("crashed %zu nodes; found %d of %d items\n", crashed, get_all(swarm, keys, ITEMS),
           ITEMS);

    dipsea_swarm_summary s;
    check(dipsea_swarm_stats(swarm, &s), "stats");
    printf("nodes %llu (live %llu), ops %llu, success %.3f\n", (unsigned long long)s.nodes,
           (unsigned long long)s.live, (unsigned long long)s.ops, s.success_rate);
    printf("rounds p50 %.1f p99 %.1f, messages p50 %.1f p99 %.1f\n", s.rounds_p50,
           s.rounds_p99, s.messages_per_lookup_p50, s.messages_per_lookup_p99);
    printf("latency p50 %.0f ms p99 %.0f ms (virtual), %llu packets, %llu lost\n",
           s.latency_p50_ms, s.latency_p99_ms, (unsigned long long)s.packets_sent,
           (unsigned long long)s.packets_lost);
    printf("~%llu bytes per node; built in %llu ms wall clock\n",
           (unsigned long long)s.memory_per_node, (unsigned long long)s.build_wall_ms);
    check(dipsea_swarm_free(swarm), "free");
    return 0;
}
