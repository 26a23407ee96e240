/* The one-hop overlay simulator (dipsea_onehop): one round trip per get on a static
 * network, churn spreads membership, bad configurations are refused. */
#include "harness.h"

static void static_gets_take_one_round_trip(void) {
    dipsea_onehop_config config;
    CHECK_OK(dipsea_onehop_config_default(&config));
    CHECK(config.nodes == 2000 && config.replicas == 3);
    config.nodes = 200;
    config.partitioner = DIPSEA_PARTITIONER_RING;
    config.vnodes = 16;
    dipsea_onehop *sim = NULL;
    CHECK_OK(dipsea_onehop_new(&config, &sim));
    CHECK_OK(dipsea_onehop_run(sim, 50, 30000));
    dipsea_onehop_summary s;
    CHECK_OK(dipsea_onehop_stats(sim, &s));
    CHECK(s.puts == 50 && s.gets == 50);
    CHECK(s.success_rate == 1.0 && s.one_round_gets == 1.0);
    CHECK(s.messages_per_get <= 1.0);
    CHECK_OK(dipsea_onehop_free(sim));
    CHECK_OK(dipsea_onehop_free(NULL));
}

static void churn_spreads_membership(void) {
    dipsea_onehop_config config;
    CHECK_OK(dipsea_onehop_config_default(&config));
    config.nodes = 200;
    config.session_ms = 600000;
    dipsea_onehop *sim = NULL;
    CHECK_OK(dipsea_onehop_new(&config, &sim));
    CHECK_OK(dipsea_onehop_advance(sim, 120000));
    CHECK_OK(dipsea_onehop_run(sim, 20, 30000));
    dipsea_onehop_summary s;
    CHECK_OK(dipsea_onehop_stats(sim, &s));
    CHECK(s.membership_events > 0 && s.membership_bytes_per_node_per_s > 0.0);
    CHECK(s.success_rate >= 0.99);
    CHECK_OK(dipsea_onehop_free(sim));
}

static void bad_configurations_are_refused(void) {
    dipsea_onehop_config config;
    CHECK_OK(dipsea_onehop_config_default(&config));
    config.nodes = 2;
    dipsea_onehop *sim = NULL;
    CHECK_STATUS(dipsea_onehop_new(&config, &sim), DIPSEA_BAD_INPUT);
    CHECK(sim == NULL);
    config.nodes = 10;
    config.partitioner = 9;
    CHECK_STATUS(dipsea_onehop_new(&config, &sim), DIPSEA_BAD_INPUT);
    CHECK_STATUS(dipsea_onehop_new(NULL, &sim), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_onehop_run(NULL, 1, 1), DIPSEA_NULL_ARGUMENT);
}

void onehop_tests(void) {
    run_test("static_gets_take_one_round_trip", static_gets_take_one_round_trip);
    run_test("churn_spreads_membership", churn_spreads_membership);
    run_test("bad_configurations_are_refused", bad_configurations_are_refused);
}
