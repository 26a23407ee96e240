/* A tiny test harness for the C tests of libdipsea: checks that record failures
 * and go on, tests that pass when none of their checks failed, and one closing
 * "N passed, N failed" line (printed by main.c). */
#ifndef DIPSEA_TEST_HARNESS_H
#define DIPSEA_TEST_HARNESS_H

#include <stdio.h>
#include <string.h>

#include "dipsea.h"
#include "network.h"

/* Failed checks in the running test (checks run on the main thread only). */
extern int harness_failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            harness_failures++;                                                \
            fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                    \
        }                                                                      \
    } while (0)

/* Checks a status, printing it and the thread's last error when it differs. */
#define CHECK_STATUS(expr, expected)                                             \
    do {                                                                         \
        dipsea_status check_status_ = (expr);                                    \
        if (check_status_ != (dipsea_status)(expected)) {                        \
            harness_failures++;                                                  \
            fprintf(stderr, "  %s:%d: %s returned %s (%s), expected %s\n",       \
                    __FILE__, __LINE__, #expr, dipsea_status_str(check_status_), \
                    dipsea_last_error(), dipsea_status_str(expected));           \
        }                                                                        \
    } while (0)

#define CHECK_OK(expr) CHECK_STATUS(expr, DIPSEA_OK)

/* Test groups, one per file. Each calls run_test for its tests. */
typedef void (*test_fn)(void);
void run_test(const char *name, test_fn fn);
void id_tests(void);
void keypair_tests(void);
void mutable_tests(void);
void scrape_tests(void);
void node_tests(void);
void async_tests(void);
void swarm_tests(void);
void dual_stack_tests(void);
void error_tests(void);
void keyspace_tests(void);
void runtime_tests(void);
void broadcast_tests(void);
void subscribe_tests(void);
void network_tests(void);
void onehop_tests(void);
void onehop_udp_tests(void);

#endif
