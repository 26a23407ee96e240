/* hello.c: three dipsea nodes on loopback, through the C API.
 *
 * Starts a seed node and two nodes that join through it, stores a value from one
 * and reads it back from another, announces a torrent and looks up its peers, and
 * prints a node's counters. Build and run: `make -C bindings/c/examples run`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dipsea.h"

/* Every dipsea function returns a status; on failure, dipsea_last_error() says why. */
static void check(dipsea_status status, const char *what) {
    if (status != DIPSEA_OK) {
        fprintf(stderr, "%s: %s (%s)\n", what, dipsea_status_str(status), dipsea_last_error());
        exit(1);
    }
}

static dipsea_node *start_node(const char *bootstrap) {
    dipsea_config *config = NULL;
    check(dipsea_config_default(&config), "config");
    check(dipsea_config_set_bind(config, "127.0.0.1:0"), "bind");
    if (bootstrap != NULL) {
        check(dipsea_config_add_bootstrap(config, bootstrap), "bootstrap address");
    } else {
        /* the seed: without this it would join the public DHT */
        check(dipsea_config_set_no_default_routers(config, true), "no default routers");
    }
    dipsea_node *node = NULL;
    check(dipsea_node_new(config, &node), "start node");
    dipsea_config_free(config); /* the node keeps what it needs */
    return node;
}

int main(void) {
    dipsea_node *seed = start_node(NULL);
    char seed_addr[DIPSEA_ADDR_SIZE];
    check(dipsea_node_local_addr(seed, seed_addr, sizeof seed_addr), "local address");
    printf("seed node on %s\n", seed_addr);

    dipsea_node *alice = start_node(seed_addr);
    dipsea_node *bob = start_node(seed_addr);
    size_t table = 0;
    check(dipsea_node_bootstrap(alice, &table), "alice joins");
    check(dipsea_node_bootstrap(bob, &table), "bob joins");
    printf("bob knows %zu nodes\n", table);

    /* An immutable item: its key is the SHA-1 of its bencoding. */
    const char *text = "hello from C";
    dipsea_id key;
    check(dipsea_node_put(alice, (const uint8_t *)text, strlen(text), &key), "put");
    char hex[DIPSEA_ID_HEX_SIZE];
    check(dipsea_id_to_hex(&key, hex, sizeof hex), "hex");
    printf("alice put \"%s\" under %s\n", text, hex);

    dipsea_buffer value = {NULL, 0};
    check(dipsea_node_get(bob, &key, &value), "get");
    printf("bob got \"%s\" (%zu bytes)\n", (const char *)value.data, value.len);
    dipsea_buffer_free(&value); /* the library allocated it */

    dipsea_id missing;
    check(dipsea_id_from_hex("0123456789abcdef0123456789abcdef01234567", &missing), "parse id");
    dipsea_status status = dipsea_node_get(bob, &missing, &value);
    printf("a key nobody stored: %s\n", dipsea_status_str(status));

    /* Peers of a torrent: announce a port, then look it up from another node. */
    dipsea_id info_hash;
    check(dipsea_id_sha1((const uint8_t *)"my torrent", 10, &info_hash), "sha1");
    size_t stored = 0;
    check(dipsea_node_announce(alice, &info_hash, 51413, &stored), "announce");
    dipsea_peer_list peers = {NULL, 0};
    check(dipsea_node_get_peers(bob, &info_hash, &peers), "get_peers");
    printf("%zu peer(s):\n", peers.count);
    for (size_t i = 0; i < peers.count; i++) {
        char text[DIPSEA_PEER_STRING_SIZE];
        check(dipsea_peer_to_string(&peers.peers[i], text, sizeof text), "peer_to_string");
        printf("  %s (IPv%u, port %u)\n", text, (unsigned)peers.peers[i].family,
               (unsigned)peers.peers[i].port);
    }
    dipsea_peer_list_free(&peers);

    dipsea_stats stats;
    check(dipsea_node_stats(seed, &stats), "stats");
    printf("seed: %llu packets in, %llu out, %llu items stored\n",
           (unsigned long long)stats.packets_in, (unsigned long long)stats.packets_out,
           (unsigned long long)stats.items);

    dipsea_node_free(bob);
    dipsea_node_free(alice);
    dipsea_node_free(seed);
    return 0;
}
