/* BEP 32 dual stack through the C API: a node with an IPv4 and an IPv6 socket on
 * loopback links an IPv4-only and an IPv6-only node. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "network.h"

static dipsea_node *start(const char *bind, const char *bind6, const char *bootstrap) {
    dipsea_config *config = loopback_config(bootstrap);
    dipsea_node *node = NULL;
    if (dipsea_config_set_bind(config, bind) != DIPSEA_OK ||
        (bind6 != NULL && dipsea_config_set_bind6(config, bind6) != DIPSEA_OK) ||
        dipsea_node_new(config, &node) != DIPSEA_OK) {
        node = NULL;
    }
    dipsea_config_free(config);
    return node;
}

static void dual_stack_links_the_families(void) {
    dipsea_node *dual = start("127.0.0.1:0", "[::1]:0", NULL);
    CHECK(dual != NULL);
    if (dual == NULL) {
        return;
    }
    char addr4[DIPSEA_ADDR_SIZE], addr6[DIPSEA_ADDR_SIZE];
    CHECK_OK(dipsea_node_local_addr(dual, addr4, sizeof addr4));
    CHECK_OK(dipsea_node_local_addr6(dual, addr6, sizeof addr6));
    CHECK(strncmp(addr6, "[::1]:", 6) == 0);
    CHECK(atoi(addr6 + 6) == atoi(addr4 + 10)); /* one port for both */

    dipsea_node *v4 = start("127.0.0.1:0", NULL, addr4);
    dipsea_node *v6 = start("[::1]:0", NULL, addr6);
    CHECK(v4 != NULL && v6 != NULL);
    if (v4 != NULL && v6 != NULL) {
        char none[DIPSEA_ADDR_SIZE] = {'x', 0};
        CHECK_OK(dipsea_node_local_addr6(v4, none, sizeof none));
        CHECK(none[0] == '\0'); /* one socket: the empty string */
        size_t table = 0;
        CHECK_OK(dipsea_node_bootstrap(v4, &table));
        CHECK_OK(dipsea_node_bootstrap(v6, &table));
        /* Put over IPv6, got over IPv4. */
        dipsea_id key;
        CHECK_OK(dipsea_node_put(v6, (const uint8_t *)"both", 4, &key));
        dipsea_buffer value = {NULL, 0};
        CHECK_OK(dipsea_node_get(v4, &key, &value));
        CHECK(value.len == 4 && value.data != NULL && memcmp(value.data, "both", 4) == 0);
        CHECK_OK(dipsea_buffer_free(&value));
    }
    if (v4 != NULL) {
        CHECK_OK(dipsea_node_free(v4));
    }
    if (v6 != NULL) {
        CHECK_OK(dipsea_node_free(v6));
    }
    CHECK_OK(dipsea_node_free(dual));
}

void dual_stack_tests(void) {
    run_test("dual stack: IPv4-only and IPv6-only nodes through one dual node",
             dual_stack_links_the_families);
}
