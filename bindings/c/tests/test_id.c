/* Ids, status strings, buffers and configs: the parts that need no network. */
#include <stdint.h>

#include "harness.h"

static void hex_round_trip(void) {
    const char *hex = "00112233445566778899aabbccddeeff00112233";
    dipsea_id id;
    CHECK_OK(dipsea_id_from_hex(hex, &id));
    CHECK(id.bytes[0] == 0x00 && id.bytes[1] == 0x11 && id.bytes[19] == 0x33);
    char text[DIPSEA_ID_HEX_SIZE];
    CHECK_OK(dipsea_id_to_hex(&id, text, sizeof text));
    CHECK(strcmp(text, hex) == 0);
    /* Upper case parses too, and prints back in lower case. */
    dipsea_id upper;
    CHECK_OK(dipsea_id_from_hex("00112233445566778899AABBCCDDEEFF00112233", &upper));
    CHECK(memcmp(upper.bytes, id.bytes, DIPSEA_ID_LEN) == 0);
}

static void sha1_of_known_values(void) {
    dipsea_id id;
    char text[DIPSEA_ID_HEX_SIZE];
    CHECK_OK(dipsea_id_sha1((const uint8_t *)"abc", 3, &id));
    CHECK_OK(dipsea_id_to_hex(&id, text, sizeof text));
    CHECK(strcmp(text, "a9993e364706816aba3e25717850c26c9cd0d89d") == 0);
    /* Empty input, NULL data allowed. */
    CHECK_OK(dipsea_id_sha1(NULL, 0, &id));
    CHECK_OK(dipsea_id_to_hex(&id, text, sizeof text));
    CHECK(strcmp(text, "da39a3ee5e6b4b0d3255bfef95601890afd80709") == 0);
}

static void status_strings_name_their_code(void) {
    CHECK(strncmp(dipsea_status_str(DIPSEA_OK), "DIPSEA_OK", 9) == 0);
    CHECK(strncmp(dipsea_status_str(DIPSEA_NOT_FOUND), "DIPSEA_NOT_FOUND", 16) == 0);
    CHECK(strncmp(dipsea_status_str(DIPSEA_PANIC), "DIPSEA_PANIC", 12) == 0);
    CHECK(strcmp(dipsea_status_str(4242), "unknown dipsea_status") == 0);
    CHECK(strlen(dipsea_version()) > 0);
}

static void last_error_is_per_call_and_per_thread(void) {
    dipsea_id id;
    CHECK_STATUS(dipsea_id_from_hex("nothex", &id), DIPSEA_BAD_INPUT);
    CHECK(strstr(dipsea_last_error(), "40 hex digits") != NULL);
    /* A success clears it. */
    CHECK_OK(dipsea_id_from_hex("0000000000000000000000000000000000000000", &id));
    CHECK(strcmp(dipsea_last_error(), "") == 0);
}

static void buffer_free_is_idempotent(void) {
    CHECK_OK(dipsea_buffer_free(NULL));
    dipsea_buffer empty = {NULL, 0};
    CHECK_OK(dipsea_buffer_free(&empty));
    CHECK(empty.data == NULL && empty.len == 0);
}

static void config_setters_accept_and_reject(void) {
    dipsea_config *config = NULL;
    CHECK_OK(dipsea_config_default(&config));
    CHECK(config != NULL);
    dipsea_id id;
    CHECK_OK(dipsea_id_sha1((const uint8_t *)"me", 2, &id));
    CHECK_OK(dipsea_config_set_bind(config, "127.0.0.1:0"));
    CHECK_OK(dipsea_config_add_bootstrap(config, "127.0.0.1:6881"));
    CHECK_OK(dipsea_config_set_id(config, &id));
    CHECK_OK(dipsea_config_set_k(config, 16));
    CHECK_OK(dipsea_config_set_alpha(config, 4));
    CHECK_OK(dipsea_config_set_query_timeout_ms(config, 50, 1000));
    CHECK_OK(dipsea_config_set_workers(config, 1));
    CHECK_OK(dipsea_config_set_read_only(config, true));
    CHECK_OK(dipsea_config_set_no_default_routers(config, true));
    CHECK_OK(dipsea_config_set_state_path(config, "/tmp/dipsea-c-test-state"));
    CHECK_STATUS(dipsea_config_set_bind(config, "\xff\xfe"), DIPSEA_BAD_INPUT);
    CHECK(strstr(dipsea_last_error(), "UTF-8") != NULL);
    CHECK_OK(dipsea_config_free(config));
    CHECK_OK(dipsea_config_free(NULL));
}

/* The header's version macros are generated from the same Cargo.toml version as the
 * library's dipsea_version(): a program built against this header and run against
 * this library sees one version. */
static void version_macros_match_the_library(void) {
    CHECK(strcmp(dipsea_version(), DIPSEA_VERSION_STRING) == 0);
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", DIPSEA_VERSION_MAJOR, DIPSEA_VERSION_MINOR,
             DIPSEA_VERSION_PATCH);
    CHECK(strncmp(dipsea_version(), expected, strlen(expected)) == 0);
    CHECK(DIPSEA_VERSION_NUMBER ==
          DIPSEA_VERSION_MAJOR * 10000 + DIPSEA_VERSION_MINOR * 100 + DIPSEA_VERSION_PATCH);
}

/* Starts a node from `config` (freed here) expecting a refusal whose message
 * contains `reason`. */
static void node_new_refuses(dipsea_config *config, const char *reason) {
    dipsea_node *node = NULL;
    CHECK_STATUS(dipsea_node_new(config, &node), DIPSEA_BAD_INPUT);
    CHECK(node == NULL);
    if (strstr(dipsea_last_error(), reason) == NULL) {
        CHECK(!"the message names the reason");
        fprintf(stderr, "  got \"%s\", wanted \"%s\"\n", dipsea_last_error(), reason);
    }
    CHECK_OK(dipsea_config_free(config));
}

/* The setters store what they are given; the core checks the values when the node
 * starts, with its own message. */
static void config_values_are_checked_by_the_core(void) {
    dipsea_config *config = loopback_config(NULL);
    CHECK_OK(dipsea_config_set_k(config, 0));
    node_new_refuses(config, "k must be between 1 and 1024, got 0");
    config = loopback_config(NULL);
    CHECK_OK(dipsea_config_set_alpha(config, 0));
    node_new_refuses(config, "alpha must be");
    config = loopback_config(NULL);
    CHECK_OK(dipsea_config_set_workers(config, 0));
    node_new_refuses(config, "workers must be at least 1");
    config = loopback_config(NULL);
    CHECK_OK(dipsea_config_set_query_timeout_ms(config, 100, 10));
    node_new_refuses(config, "timeout_floor");
    config = loopback_config(NULL);
    CHECK_OK(dipsea_config_set_query_timeout_ms(config, 0, 10));
    node_new_refuses(config, "timeout_floor must be");
}

/* Every field of the core's NodeConfig is reachable by name. */
static void config_options_by_name(void) {
    dipsea_config *config = NULL;
    CHECK_OK(dipsea_config_default(&config));
    uint64_t value = 0;
    CHECK_OK(dipsea_config_get_option(config, "max_in_flight", &value));
    CHECK(value == 1024);
    CHECK_OK(dipsea_config_set_option(config, "max_in_flight", 64));
    CHECK_OK(dipsea_config_get_option(config, "max_in_flight", &value));
    CHECK(value == 64);
    CHECK_OK(dipsea_config_set_option(config, "store.item_ttl", 60000));
    CHECK_OK(dipsea_config_get_option(config, "store.item_ttl", &value));
    CHECK(value == 60000);
    CHECK_OK(dipsea_config_set_k(config, 20));
    CHECK_OK(dipsea_config_get_option(config, "k", &value));
    CHECK(value == 20);
    CHECK_STATUS(dipsea_config_set_option(config, "k", 0), DIPSEA_BAD_INPUT);
    CHECK(strstr(dipsea_last_error(), "k must be between 1 and 1024") != NULL);
    CHECK_STATUS(dipsea_config_set_option(config, "read_only", 2), DIPSEA_BAD_INPUT);
    CHECK_STATUS(dipsea_config_set_option(config, "no_such", 1), DIPSEA_BAD_INPUT);
    CHECK(strstr(dipsea_last_error(), "no_such") != NULL);
    CHECK_STATUS(dipsea_config_get_option(config, "no_such", &value), DIPSEA_BAD_INPUT);
    CHECK_STATUS(dipsea_config_set_option(NULL, "k", 8), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_config_set_option(config, NULL, 8), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_config_get_option(config, "k", NULL), DIPSEA_NULL_ARGUMENT);
    CHECK_OK(dipsea_config_get_option(config, "k", &value));
    CHECK(value == 20);
    CHECK_OK(dipsea_config_free(config));
}

void id_tests(void) {
    run_test("id: hex round trip", hex_round_trip);
    run_test("id: sha1 of known values", sha1_of_known_values);
    run_test("status strings name their code", status_strings_name_their_code);
    run_test("last error is per call", last_error_is_per_call_and_per_thread);
    run_test("buffer free is idempotent", buffer_free_is_idempotent);
    run_test("config setters accept and reject", config_setters_accept_and_reject);
    run_test("version macros match the library", version_macros_match_the_library);
    run_test("config values are checked by the core", config_values_are_checked_by_the_core);
    run_test("config options by name", config_options_by_name);
}
