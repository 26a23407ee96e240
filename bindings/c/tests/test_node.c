/* Blocking calls on the loopback network: put/get, announce/get_peers, addresses,
 * ids, stats, and several threads using the same handles at once. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static void put_then_get_from_another_node(void) {
    dipsea_id key;
    CHECK_OK(dipsea_node_put(net[1], (const uint8_t *)"hello", 5, &key));
    /* The key is SHA-1 of the bencoded value, "5:hello". */
    dipsea_id expected;
    CHECK_OK(dipsea_id_sha1((const uint8_t *)"5:hello", 7, &expected));
    CHECK(memcmp(key.bytes, expected.bytes, DIPSEA_ID_LEN) == 0);

    dipsea_buffer value = {NULL, 0};
    CHECK_OK(dipsea_node_get(net[3], &key, &value));
    CHECK(value.len == 5 && value.data != NULL);
    if (value.data != NULL) {
        CHECK(memcmp(value.data, "hello", 5) == 0);
        CHECK(value.data[value.len] == 0); /* usable as a C string */
        CHECK(strcmp((const char *)value.data, "hello") == 0);
    }
    CHECK_OK(dipsea_buffer_free(&value));
    CHECK(value.data == NULL && value.len == 0);
}

static void binary_and_empty_values_round_trip(void) {
    const uint8_t binary[] = {0, 1, 2, 0, 255, 254, 0};
    dipsea_id key;
    CHECK_OK(dipsea_node_put(net[2], binary, sizeof binary, &key));
    dipsea_buffer value = {NULL, 0};
    CHECK_OK(dipsea_node_get(net[4], &key, &value));
    CHECK(value.len == sizeof binary);
    if (value.data != NULL && value.len == sizeof binary) {
        CHECK(memcmp(value.data, binary, sizeof binary) == 0);
    }
    CHECK_OK(dipsea_buffer_free(&value));

    CHECK_OK(dipsea_node_put(net[2], NULL, 0, &key));
    CHECK_OK(dipsea_node_get(net[0], &key, &value));
    CHECK(value.len == 0 && value.data != NULL && value.data[0] == 0);
    CHECK_OK(dipsea_buffer_free(&value));
}

static void unknown_key_is_not_found_and_leaves_output_alone(void) {
    dipsea_id key;
    CHECK_OK(dipsea_id_sha1((const uint8_t *)"never stored", 12, &key));
    uint8_t sentinel = 7;
    dipsea_buffer value = {&sentinel, 12345};
    CHECK_STATUS(dipsea_node_get(net[1], &key, &value), DIPSEA_NOT_FOUND);
    CHECK(value.data == &sentinel && value.len == 12345);
    CHECK(strstr(dipsea_last_error(), "no node holds") != NULL);
}

static void announce_then_get_peers(void) {
    dipsea_id info_hash;
    CHECK_OK(dipsea_id_sha1((const uint8_t *)"a torrent", 9, &info_hash));
    size_t stored = 0;
    CHECK_OK(dipsea_node_announce(net[1], &info_hash, 6000, &stored));
    CHECK(stored >= 1);
    /* Port 0: the node's own UDP port (implied_port). */
    CHECK_OK(dipsea_node_announce(net[2], &info_hash, 0, &stored));
    CHECK(stored >= 1);

    dipsea_peer_list peers = {NULL, 0};
    CHECK_OK(dipsea_node_get_peers(net[4], &info_hash, &peers));
    CHECK(peers.count == 2 && peers.peers != NULL);
    char implied[DIPSEA_ADDR_SIZE];
    CHECK_OK(dipsea_node_local_addr(net[2], implied, sizeof implied));
    int found_6000 = 0, found_implied = 0;
    for (size_t i = 0; peers.peers != NULL && i < peers.count; i++) {
        const dipsea_peer *peer = &peers.peers[i];
        CHECK(peer->family == DIPSEA_PEER_IPV4);
        CHECK(peer->ip[0] == 127 && peer->ip[1] == 0 && peer->ip[2] == 0 && peer->ip[3] == 1);
        char text[DIPSEA_PEER_STRING_SIZE];
        CHECK_OK(dipsea_peer_to_string(peer, text, sizeof text));
        found_6000 += peer->port == 6000 && strcmp(text, "127.0.0.1:6000") == 0;
        found_implied += strcmp(text, implied) == 0;
    }
    CHECK(found_6000 == 1 && found_implied == 1);
    CHECK_OK(dipsea_peer_list_free(&peers));
    CHECK(peers.peers == NULL && peers.count == 0);
    CHECK_OK(dipsea_peer_list_free(&peers));

    /* An info-hash nobody announced: success, no peers. */
    dipsea_id nobody;
    CHECK_OK(dipsea_id_sha1((const uint8_t *)"nobody", 6, &nobody));
    CHECK_OK(dipsea_node_get_peers(net[3], &nobody, &peers));
    CHECK(peers.count == 0 && peers.peers == NULL);
    CHECK_OK(dipsea_peer_list_free(&peers));

    /* Formatting: IPv6 in brackets, a short buffer refused, an unknown family. */
    dipsea_peer v6 = {DIPSEA_PEER_IPV6, {0}, 443};
    v6.ip[15] = 1;
    char text[DIPSEA_PEER_STRING_SIZE];
    CHECK_OK(dipsea_peer_to_string(&v6, text, sizeof text));
    CHECK(strcmp(text, "[::1]:443") == 0);
    CHECK_STATUS(dipsea_peer_to_string(&v6, text, 4), DIPSEA_BUFFER_TOO_SMALL);
    v6.family = 5;
    CHECK_STATUS(dipsea_peer_to_string(&v6, text, sizeof text), DIPSEA_BAD_INPUT);
}

static void addresses_ids_and_stats(void) {
    char addr[DIPSEA_ADDR_SIZE];
    CHECK_OK(dipsea_node_local_addr(net[0], addr, sizeof addr));
    CHECK(strncmp(addr, "127.0.0.1:", 10) == 0 && atoi(addr + 10) > 0);
    char tiny[4] = {'x', 'x', 'x', 'x'};
    CHECK_STATUS(dipsea_node_local_addr(net[0], tiny, sizeof tiny), DIPSEA_BUFFER_TOO_SMALL);
    CHECK(tiny[0] == 'x'); /* nothing written */

    dipsea_id a, b;
    CHECK_OK(dipsea_node_id(net[0], &a));
    CHECK_OK(dipsea_node_id(net[1], &b));
    CHECK(memcmp(a.bytes, b.bytes, DIPSEA_ID_LEN) != 0);

    dipsea_stats stats;
    memset(&stats, 0, sizeof stats);
    CHECK_OK(dipsea_node_stats(net[0], &stats));
    CHECK(stats.packets_in > 0 && stats.packets_out > 0);
    CHECK(stats.routing_table_size >= NET_SIZE - 1);
    CHECK(stats.queries_find_node + stats.queries_get_peers + stats.queries_get > 0);
    CHECK_OK(dipsea_node_stats(net[1], &stats));
    CHECK(stats.ops_started >= stats.ops_done && stats.ops_done > 0);
    CHECK(stats.published >= 1); /* its put above */
    /* Loopback answers never vote for an external address (BEP 42). */
    CHECK(stats.id_conforms == -1 && stats.external_ip[0] == '\0');
}

/* Garbage sent at a node is dropped, and a query of an unknown method refused (204);
 * each is counted under its reason. */
static void drops_are_counted(void) {
    char addr[DIPSEA_ADDR_SIZE];
    CHECK_OK(dipsea_node_local_addr(net[2], addr, sizeof addr));
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons((uint16_t)atoi(addr + 10));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    dipsea_stats before, after;
    CHECK_OK(dipsea_node_stats(net[2], &before));

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(fd >= 0);
    static const char garbage[] = "this is not bencode";
    static char oversized[9000];
    static const char unknown[] =
        "d1:ad2:id20:abcdefghij0123456789e1:q10:frobnicate1:t2:um1:y1:qe";
    CHECK(sendto(fd, garbage, sizeof garbage - 1, 0, (struct sockaddr *)&to, sizeof to) > 0);
    CHECK(sendto(fd, oversized, sizeof oversized, 0, (struct sockaddr *)&to, sizeof to) > 0);
    CHECK(sendto(fd, unknown, sizeof unknown - 1, 0, (struct sockaddr *)&to, sizeof to) > 0);
    close(fd);

    /* The node reads them on its own threads: wait up to 2 s. */
    for (int i = 0; i < 200; i++) {
        CHECK_OK(dipsea_node_stats(net[2], &after));
        if (after.malformed > before.malformed && after.oversized > before.oversized &&
            after.unknown_method > before.unknown_method) {
            break;
        }
        struct timespec ten_ms = {0, 10 * 1000 * 1000};
        nanosleep(&ten_ms, NULL);
    }
    CHECK(after.malformed == before.malformed + 1);
    CHECK(after.oversized == before.oversized + 1);
    CHECK(after.unknown_method == before.unknown_method + 1);
    CHECK(after.refused == before.refused);
    CHECK(after.rate_limited_ip == 0); /* loopback is exempt by default */
}

static void unpublish_reports_what_was_published(void) {
    dipsea_id key;
    bool was = false;
    CHECK_OK(dipsea_node_put(net[3], (const uint8_t *)"temporary", 9, &key));
    CHECK_OK(dipsea_node_unpublish(net[3], &key, &was));
    CHECK(was);
    CHECK_OK(dipsea_node_unpublish(net[3], &key, &was));
    CHECK(!was);
}

/* Several threads calling blocking functions on the same nodes at once. */
#define WORKERS 4
#define PER_WORKER 5

struct worker {
    int index;
    int failures;
};

static void *blocking_worker(void *arg) {
    struct worker *w = arg;
    for (int i = 0; i < PER_WORKER; i++) {
        char text[64];
        int len = snprintf(text, sizeof text, "thread %d value %d", w->index, i);
        dipsea_id key;
        dipsea_node *putter = net[(w->index + i) % NET_SIZE];
        dipsea_node *getter = net[(w->index + i + 2) % NET_SIZE];
        if (dipsea_node_put(putter, (const uint8_t *)text, (size_t)len, &key) != DIPSEA_OK) {
            fprintf(stderr, "  put from thread %d: %s\n", w->index, dipsea_last_error());
            w->failures++;
            continue;
        }
        dipsea_buffer value = {NULL, 0};
        if (dipsea_node_get(getter, &key, &value) != DIPSEA_OK) {
            fprintf(stderr, "  get from thread %d: %s\n", w->index, dipsea_last_error());
            w->failures++;
            continue;
        }
        if (value.len != (size_t)len || memcmp(value.data, text, value.len) != 0) {
            w->failures++;
        }
        dipsea_buffer_free(&value);
    }
    return NULL;
}

static void blocking_calls_from_several_threads(void) {
    pthread_t threads[WORKERS];
    struct worker workers[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        workers[i].index = i;
        workers[i].failures = 0;
        CHECK(pthread_create(&threads[i], NULL, blocking_worker, &workers[i]) == 0);
    }
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(threads[i], NULL);
        CHECK(workers[i].failures == 0);
    }
}

void node_tests(void) {
    run_test("node: put then get from another node", put_then_get_from_another_node);
    run_test("node: binary and empty values", binary_and_empty_values_round_trip);
    run_test("node: unknown key is DIPSEA_NOT_FOUND", unknown_key_is_not_found_and_leaves_output_alone);
    run_test("node: announce then get_peers", announce_then_get_peers);
    run_test("node: addresses, ids, stats", addresses_ids_and_stats);
    run_test("node: drops are counted", drops_are_counted);
    run_test("node: unpublish", unpublish_reports_what_was_published);
    run_test("node: blocking calls from several threads", blocking_calls_from_several_threads);
}
