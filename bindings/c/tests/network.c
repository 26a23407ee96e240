/* The one loopback network of the C tests; see network.h. */
#include <stdio.h>
#include <stdlib.h>

#include "network.h"

dipsea_node *net[NET_SIZE];

dipsea_config *loopback_config(const char *bootstrap) {
    dipsea_config *config = NULL;
    if (dipsea_config_default(&config) != DIPSEA_OK ||
        dipsea_config_set_bind(config, "127.0.0.1:0") != DIPSEA_OK ||
        dipsea_config_set_query_timeout_ms(config, 500, 4000) != DIPSEA_OK ||
        (bootstrap != NULL && dipsea_config_add_bootstrap(config, bootstrap) != DIPSEA_OK) ||
        /* a node without a bootstrap address is a first node, not a public one */
        (bootstrap == NULL && dipsea_config_set_no_default_routers(config, true) != DIPSEA_OK)) {
        fprintf(stderr, "loopback_config: %s\n", dipsea_last_error());
        exit(2);
    }
    return config;
}

int network_start(void) {
    dipsea_config *seed_config = loopback_config(NULL);
    if (dipsea_node_new(seed_config, &net[0]) != DIPSEA_OK) {
        fprintf(stderr, "seed node: %s\n", dipsea_last_error());
        dipsea_config_free(seed_config);
        return -1;
    }
    dipsea_config_free(seed_config);
    char seed_addr[DIPSEA_ADDR_SIZE];
    if (dipsea_node_local_addr(net[0], seed_addr, sizeof seed_addr) != DIPSEA_OK) {
        return -1;
    }
    dipsea_config *config = loopback_config(seed_addr);
    for (int i = 1; i < NET_SIZE; i++) {
        if (dipsea_node_new(config, &net[i]) != DIPSEA_OK) {
            fprintf(stderr, "node %d: %s\n", i, dipsea_last_error());
            dipsea_config_free(config);
            return -1;
        }
    }
    dipsea_config_free(config);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 1; i < NET_SIZE; i++) {
            size_t table = 0;
            if (dipsea_node_bootstrap(net[i], &table) != DIPSEA_OK) {
                fprintf(stderr, "bootstrap %d: %s\n", i, dipsea_last_error());
                return -1;
            }
        }
    }
    return 0;
}

void network_stop(void) {
    for (int i = 0; i < NET_SIZE; i++) {
        dipsea_node_free(net[i]);
        net[i] = NULL;
    }
}
