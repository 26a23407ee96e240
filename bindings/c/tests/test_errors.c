/* Every error path: NULL pointers to every function, bad hex, bad addresses, a port
 * in use, a dead bootstrap address, no route, a value too large, small buffers. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static void never_called_count(void *u, dipsea_status s, size_t n) { (void)u; (void)s; (void)n; }
static void never_called_put(void *u, dipsea_status s, const dipsea_id *k) { (void)u; (void)s; (void)k; }
static void never_called_get(void *u, dipsea_status s, const dipsea_buffer *b) { (void)u; (void)s; (void)b; }
static void never_called_peers(void *u, dipsea_status s, const dipsea_peer *p, size_t n) {
    (void)u; (void)s; (void)p; (void)n;
}

#define NULL_ARG(expr) CHECK_STATUS(expr, DIPSEA_NULL_ARGUMENT)

static void null_pointers_are_errors_everywhere(void) {
    dipsea_node *node = net[0];
    dipsea_id id = {{0}};
    dipsea_buffer buffer = {NULL, 0};
    dipsea_peer_list peers = {NULL, 0};
    dipsea_peer peer = {DIPSEA_PEER_IPV4, {127, 0, 0, 1}, 1};
    size_t n = 0;
    bool flag = false;
    char text[DIPSEA_ADDR_SIZE];
    dipsea_stats stats;
    dipsea_config *config = loopback_config(NULL);

    NULL_ARG(dipsea_id_from_hex(NULL, &id));
    NULL_ARG(dipsea_id_from_hex("00", NULL));
    NULL_ARG(dipsea_id_to_hex(NULL, text, sizeof text));
    NULL_ARG(dipsea_id_to_hex(&id, NULL, 64));
    NULL_ARG(dipsea_id_sha1(NULL, 3, &id));
    NULL_ARG(dipsea_id_sha1((const uint8_t *)"abc", 3, NULL));

    NULL_ARG(dipsea_config_default(NULL));
    NULL_ARG(dipsea_config_set_bind(NULL, "127.0.0.1:0"));
    NULL_ARG(dipsea_config_set_bind(config, NULL));
    NULL_ARG(dipsea_config_add_bootstrap(NULL, "127.0.0.1:1"));
    NULL_ARG(dipsea_config_add_bootstrap(config, NULL));
    NULL_ARG(dipsea_config_set_no_default_routers(NULL, true));
    NULL_ARG(dipsea_config_set_id(NULL, &id));
    NULL_ARG(dipsea_config_set_id(config, NULL));
    NULL_ARG(dipsea_config_set_k(NULL, 8));
    NULL_ARG(dipsea_config_set_alpha(NULL, 3));
    NULL_ARG(dipsea_config_set_query_timeout_ms(NULL, 100, 200));
    NULL_ARG(dipsea_config_set_workers(NULL, 1));
    NULL_ARG(dipsea_config_set_read_only(NULL, true));
    NULL_ARG(dipsea_config_set_state_path(NULL, "/tmp/x"));
    NULL_ARG(dipsea_config_set_state_path(config, NULL));

    NULL_ARG(dipsea_node_new(NULL, &node));
    NULL_ARG(dipsea_node_new(config, NULL));
    NULL_ARG(dipsea_node_bootstrap(NULL, &n));
    NULL_ARG(dipsea_node_bootstrap(node, NULL));
    NULL_ARG(dipsea_node_put(NULL, (const uint8_t *)"x", 1, &id));
    NULL_ARG(dipsea_node_put(node, NULL, 1, &id));
    NULL_ARG(dipsea_node_put(node, (const uint8_t *)"x", 1, NULL));
    NULL_ARG(dipsea_node_get(NULL, &id, &buffer));
    NULL_ARG(dipsea_node_get(node, NULL, &buffer));
    NULL_ARG(dipsea_node_get(node, &id, NULL));
    NULL_ARG(dipsea_node_unpublish(NULL, &id, &flag));
    NULL_ARG(dipsea_node_unpublish(node, NULL, &flag));
    NULL_ARG(dipsea_node_unpublish(node, &id, NULL));
    NULL_ARG(dipsea_node_announce(NULL, &id, 1, &n));
    NULL_ARG(dipsea_node_announce(node, NULL, 1, &n));
    NULL_ARG(dipsea_node_announce(node, &id, 1, NULL));
    NULL_ARG(dipsea_node_get_peers(NULL, &id, &peers));
    NULL_ARG(dipsea_node_get_peers(node, NULL, &peers));
    NULL_ARG(dipsea_node_get_peers(node, &id, NULL));
    NULL_ARG(dipsea_peer_to_string(NULL, text, sizeof text));
    NULL_ARG(dipsea_peer_to_string(&peer, NULL, sizeof text));
    CHECK_OK(dipsea_peer_list_free(NULL));
    NULL_ARG(dipsea_node_local_addr(NULL, text, sizeof text));
    NULL_ARG(dipsea_node_local_addr(node, NULL, sizeof text));
    NULL_ARG(dipsea_node_id(NULL, &id));
    NULL_ARG(dipsea_node_id(node, NULL));
    NULL_ARG(dipsea_node_stats(NULL, &stats));
    NULL_ARG(dipsea_node_stats(node, NULL));

    NULL_ARG(dipsea_node_bootstrap_async(NULL, never_called_count, NULL));
    NULL_ARG(dipsea_node_bootstrap_async(node, NULL, NULL));
    NULL_ARG(dipsea_node_put_async(NULL, (const uint8_t *)"x", 1, never_called_put, NULL));
    NULL_ARG(dipsea_node_put_async(node, NULL, 1, never_called_put, NULL));
    NULL_ARG(dipsea_node_put_async(node, (const uint8_t *)"x", 1, NULL, NULL));
    NULL_ARG(dipsea_node_get_async(NULL, &id, never_called_get, NULL));
    NULL_ARG(dipsea_node_get_async(node, NULL, never_called_get, NULL));
    NULL_ARG(dipsea_node_get_async(node, &id, NULL, NULL));
    NULL_ARG(dipsea_node_announce_async(NULL, &id, 1, never_called_count, NULL));
    NULL_ARG(dipsea_node_announce_async(node, NULL, 1, never_called_count, NULL));
    NULL_ARG(dipsea_node_announce_async(node, &id, 1, NULL, NULL));
    NULL_ARG(dipsea_node_get_peers_async(NULL, &id, never_called_peers, NULL));
    NULL_ARG(dipsea_node_get_peers_async(node, NULL, never_called_peers, NULL));
    NULL_ARG(dipsea_node_get_peers_async(node, &id, NULL, NULL));

    /* The message names the argument. */
    NULL_ARG(dipsea_node_get(node, &id, NULL));
    CHECK(strstr(dipsea_last_error(), "out_value") != NULL);

    /* Frees of NULL are no-ops. */
    CHECK_OK(dipsea_node_free(NULL));
    CHECK_OK(dipsea_config_free(NULL));
    CHECK_OK(dipsea_buffer_free(NULL));
    dipsea_config_free(config);
}

static void bad_hex_is_invalid(void) {
    dipsea_id id, before;
    memset(&id, 0xab, sizeof id);
    before = id;
    const char *bad[] = {
        "",
        "0011",
        "00112233445566778899aabbccddeeff0011223",   /* 39 digits */
        "00112233445566778899aabbccddeeff001122334", /* 41 digits */
        "g0112233445566778899aabbccddeeff00112233",  /* not a hex digit */
        "00112233445566778899aabbccddeeff0011223 ",
        "0x112233445566778899aabbccddeeff00112233",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_STATUS(dipsea_id_from_hex(bad[i], &id), DIPSEA_BAD_INPUT);
        CHECK(strlen(dipsea_last_error()) > 0);
    }
    CHECK(memcmp(&id, &before, sizeof id) == 0); /* never written */
    CHECK_STATUS(dipsea_id_from_hex("g0112233445566778899aabbccddeeff00112233", &id),
                 DIPSEA_BAD_INPUT);
    CHECK(strstr(dipsea_last_error(), "position 0") != NULL);
    char small[DIPSEA_ID_HEX_SIZE - 1];
    CHECK_STATUS(dipsea_id_to_hex(&id, small, sizeof small), DIPSEA_BUFFER_TOO_SMALL);
}

static void bad_addresses_and_ports_in_use(void) {
    dipsea_node *node = NULL;
    dipsea_config *config = NULL;
    const char *bad_binds[] = {"not an address", "127.0.0.1", "127.0.0.1:99999"};
    for (size_t i = 0; i < sizeof bad_binds / sizeof bad_binds[0]; i++) {
        CHECK_OK(dipsea_config_default(&config));
        CHECK_OK(dipsea_config_set_bind(config, bad_binds[i]));
        CHECK_STATUS(dipsea_node_new(config, &node), DIPSEA_BAD_INPUT);
        CHECK(node == NULL);
        dipsea_config_free(config);
    }
    config = loopback_config("127.0.0.1"); /* a bootstrap address without a port */
    CHECK_STATUS(dipsea_node_new(config, &node), DIPSEA_BAD_INPUT);
    CHECK(node == NULL);
    dipsea_config_free(config);

    /* The port of a running node is taken. */
    char addr[DIPSEA_ADDR_SIZE];
    CHECK_OK(dipsea_node_local_addr(net[0], addr, sizeof addr));
    CHECK_OK(dipsea_config_default(&config));
    CHECK_OK(dipsea_config_set_bind(config, addr));
    CHECK_STATUS(dipsea_node_new(config, &node), DIPSEA_IO);
    CHECK(node == NULL);
    dipsea_config_free(config);
}

/* A bound UDP socket that never answers stands for a dead bootstrap router. */
static int silent_socket(char *addr, size_t len) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sin_len = sizeof sin;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &sin_len) != 0) {
        return -1;
    }
    snprintf(addr, len, "127.0.0.1:%u", (unsigned)ntohs(sin.sin_port));
    return fd;
}

static void dead_bootstrap_times_out(void) {
    char addr[DIPSEA_ADDR_SIZE];
    int fd = silent_socket(addr, sizeof addr);
    CHECK(fd >= 0);
    dipsea_config *config = loopback_config(addr);
    CHECK_OK(dipsea_config_set_query_timeout_ms(config, 100, 300));
    dipsea_node *node = NULL;
    CHECK_OK(dipsea_node_new(config, &node));
    dipsea_config_free(config);
    size_t table = 999;
    CHECK_STATUS(dipsea_node_bootstrap(node, &table), DIPSEA_TIMEOUT);
    CHECK(table == 999);
    CHECK(strstr(dipsea_last_error(), "timed out") != NULL);
    /* With an empty table, operations find no route (or time out re-bootstrapping). */
    dipsea_id key = {{0}};
    dipsea_buffer value = {NULL, 0};
    dipsea_status status = dipsea_node_get(node, &key, &value);
    CHECK(status == DIPSEA_NO_ROUTE || status == DIPSEA_TIMEOUT);
    CHECK(value.data == NULL);
    CHECK_OK(dipsea_node_free(node));
    close(fd);
}

static void no_bootstrap_is_no_route(void) {
    dipsea_config *config = loopback_config(NULL);
    dipsea_node *node = NULL;
    CHECK_OK(dipsea_node_new(config, &node));
    dipsea_config_free(config);
    dipsea_id key = {{0}};
    size_t n = 0;
    CHECK_STATUS(dipsea_node_put(node, (const uint8_t *)"x", 1, &key), DIPSEA_NO_ROUTE);
    CHECK_STATUS(dipsea_node_announce(node, &key, 1, &n), DIPSEA_NO_ROUTE);
    CHECK(strstr(dipsea_last_error(), "no route") != NULL);
    CHECK_OK(dipsea_node_free(node));
}

static void value_too_large_is_invalid(void) {
    size_t len = 2000;
    uint8_t *big = calloc(len, 1);
    dipsea_id key, before;
    memset(&key, 0x5a, sizeof key);
    before = key;
    CHECK_STATUS(dipsea_node_put(net[1], big, len, &key), DIPSEA_BAD_INPUT);
    CHECK(memcmp(&key, &before, sizeof key) == 0);
    free(big);
}

void error_tests(void) {
    run_test("errors: NULL pointers everywhere", null_pointers_are_errors_everywhere);
    run_test("errors: bad hex", bad_hex_is_invalid);
    run_test("errors: bad addresses, port in use", bad_addresses_and_ports_in_use);
    run_test("errors: dead bootstrap times out", dead_bootstrap_times_out);
    run_test("errors: no bootstrap is no route", no_bootstrap_is_no_route);
    run_test("errors: value too large", value_too_large_is_invalid);
}
