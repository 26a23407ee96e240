/* The C test runner for libdipsea: builds a small loopback network through the C
 * API, runs every test group against it, and closes with "N passed, N failed". */
#include <stdlib.h>

#include "harness.h"

int harness_failures = 0;

static int passed = 0;
static int failed = 0;

void run_test(const char *name, test_fn fn) {
    harness_failures = 0;
    fn();
    if (harness_failures == 0) {
        passed++;
        printf("ok   %s\n", name);
    } else {
        failed++;
        printf("FAIL %s (%d failed checks)\n", name, harness_failures);
    }
    fflush(stdout);
}

int main(void) {
    printf("libdipsea %s C tests\n", dipsea_version());
    id_tests();
    keypair_tests();
    keyspace_tests();
    if (network_start() != 0) {
        failed++;
        printf("FAIL loopback network did not start\n");
    } else {
        node_tests();
        error_tests();
        async_tests();
        mutable_tests();
        scrape_tests();
        subscribe_tests();
    }
    network_stop();
    broadcast_tests();
    runtime_tests();
    swarm_tests();
    dual_stack_tests();
    network_tests();
    onehop_tests();
    onehop_udp_tests();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
