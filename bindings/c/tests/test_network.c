/* Private networks (dipsea_config_set_network): nodes of one network join each other
 * and refuse, and count, nodes of another. */
#include <stdlib.h>

#include "network.h"
#include "harness.h"

static dipsea_node *start(const char *network, const char *bootstrap) {
    dipsea_config *config = loopback_config(bootstrap);
    dipsea_node *node = NULL;
    CHECK_OK(dipsea_config_set_network(config, network));
    CHECK_OK(dipsea_node_new(config, &node));
    dipsea_config_free(config);
    return node;
}

static void networks_never_mix(void) {
    dipsea_node *blue = start("blue", NULL);
    if (blue == NULL) {
        return;
    }
    char addr[DIPSEA_ADDR_SIZE];
    CHECK_OK(dipsea_node_local_addr(blue, addr, sizeof addr));
    dipsea_node *blue2 = start("blue", addr);
    dipsea_node *green = start("green", addr);
    size_t table = 0;
    CHECK_OK(dipsea_node_bootstrap(blue2, &table));
    CHECK(table == 1);
    table = 0;
    dipsea_status joined = dipsea_node_bootstrap(green, &table);
    CHECK(joined != DIPSEA_OK || table == 0);
    dipsea_stats stats;
    CHECK_OK(dipsea_node_stats(blue, &stats));
    CHECK(stats.foreign_network >= 1);
    CHECK(stats.routing_table_size == 1);
    dipsea_node_free(green);
    dipsea_node_free(blue2);
    dipsea_node_free(blue);
}

static void bad_network_names_are_refused(void) {
    dipsea_config *config = loopback_config(NULL);
    CHECK_STATUS(dipsea_config_set_network(config, ""), DIPSEA_BAD_INPUT);
    CHECK_STATUS(dipsea_config_set_network(config, NULL), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_config_set_network(NULL, "blue"), DIPSEA_NULL_ARGUMENT);
    dipsea_config_free(config);
}

void network_tests(void) {
    run_test("networks_never_mix", networks_never_mix);
    run_test("bad_network_names_are_refused", bad_network_names_are_refused);
}
