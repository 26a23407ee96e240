/* Keyspace partitioners: owners, membership changes, errors. No network. */
#include <stdint.h>

#include "harness.h"

#define MEMBERS 20

static const uint32_t KINDS[] = {DIPSEA_PARTITIONER_XOR, DIPSEA_PARTITIONER_RING,
                                 DIPSEA_PARTITIONER_RENDEZVOUS};
#define N_KINDS (sizeof KINDS / sizeof KINDS[0])

static dipsea_id member_id(int i) {
    char name[32];
    int len = snprintf(name, sizeof name, "server-%d", i);
    dipsea_id id;
    dipsea_id_sha1((const uint8_t *)name, (size_t)len, &id);
    return id;
}

static int same_id(const dipsea_id *a, const dipsea_id *b) {
    return memcmp(a->bytes, b->bytes, DIPSEA_ID_LEN) == 0;
}

/* A partitioner of `kind` holding members 0..MEMBERS-1, added one by one or in bulk. */
static dipsea_partitioner *with_members(uint32_t kind, int bulk) {
    dipsea_partitioner *p = NULL;
    CHECK_OK(dipsea_partitioner_new(kind, 16, &p));
    if (bulk) {
        dipsea_id ids[MEMBERS];
        for (int i = 0; i < MEMBERS; i++) {
            ids[i] = member_id(i);
        }
        CHECK_OK(dipsea_partitioner_add_all(p, ids, MEMBERS));
    } else {
        for (int i = MEMBERS - 1; i >= 0; i--) {
            dipsea_id id = member_id(i);
            CHECK_OK(dipsea_partitioner_add(p, &id));
        }
    }
    return p;
}

static void owners_are_distinct_and_stable(void) {
    dipsea_id key;
    CHECK_OK(dipsea_id_sha1((const uint8_t *)"user:42", 7, &key));
    for (size_t k = 0; k < N_KINDS; k++) {
        dipsea_partitioner *a = with_members(KINDS[k], 1);
        dipsea_partitioner *b = with_members(KINDS[k], 0);
        size_t len = 0;
        CHECK_OK(dipsea_partitioner_len(a, &len));
        CHECK(len == MEMBERS);
        dipsea_id owners_a[3], owners_b[3];
        size_t n_a = 0, n_b = 0;
        CHECK_OK(dipsea_partitioner_owners(a, &key, 3, owners_a, 3, &n_a));
        CHECK_OK(dipsea_partitioner_owners(b, &key, 3, owners_b, 3, &n_b));
        CHECK(n_a == 3 && n_b == 3);
        for (size_t i = 0; i < 3; i++) {
            /* The order members were added in does not matter. */
            CHECK(same_id(&owners_a[i], &owners_b[i]));
            for (size_t j = 0; j < i; j++) {
                CHECK(!same_id(&owners_a[i], &owners_a[j]));
            }
        }
        /* r = 0: no owners, out_ids may be NULL. */
        size_t none = 99;
        CHECK_OK(dipsea_partitioner_owners(a, &key, 0, NULL, 0, &none));
        CHECK(none == 0);
        dipsea_partitioner_free(a);
        dipsea_partitioner_free(b);
    }
}

static void removing_an_owner_promotes_the_next(void) {
    dipsea_id key;
    CHECK_OK(dipsea_id_sha1((const uint8_t *)"k", 1, &key));
    for (size_t k = 0; k < N_KINDS; k++) {
        dipsea_partitioner *p = with_members(KINDS[k], 1);
        dipsea_id before[3], after[2];
        size_t n = 0;
        CHECK_OK(dipsea_partitioner_owners(p, &key, 3, before, 3, &n));
        CHECK_OK(dipsea_partitioner_remove(p, &before[0]));
        CHECK_OK(dipsea_partitioner_owners(p, &key, 2, after, 2, &n));
        CHECK(n == 2 && same_id(&after[0], &before[1]) && same_id(&after[1], &before[2]));
        dipsea_partitioner_free(p);
    }
}

static void bad_calls_fail_clearly(void) {
    dipsea_partitioner *p = NULL;
    CHECK_STATUS(dipsea_partitioner_new(7, 0, &p), DIPSEA_BAD_INPUT);
    CHECK(p == NULL);
    CHECK_STATUS(dipsea_partitioner_new(DIPSEA_PARTITIONER_RING, 100000, &p),
                 DIPSEA_BAD_INPUT);
    CHECK(strstr(dipsea_last_error(), "virtual nodes") != NULL);
    CHECK_STATUS(dipsea_partitioner_new(DIPSEA_PARTITIONER_RING, 0, NULL),
                 DIPSEA_NULL_ARGUMENT);
    CHECK_OK(dipsea_partitioner_new(DIPSEA_PARTITIONER_RING, 0, &p));
    dipsea_id a = member_id(0), b = member_id(1);
    CHECK_OK(dipsea_partitioner_add(p, &a));
    CHECK_STATUS(dipsea_partitioner_add(p, &a), DIPSEA_BAD_INPUT);
    CHECK(strstr(dipsea_last_error(), "duplicate member") != NULL);
    CHECK_STATUS(dipsea_partitioner_remove(p, &b), DIPSEA_BAD_INPUT);
    CHECK(strstr(dipsea_last_error(), "unknown member") != NULL);
    CHECK_STATUS(dipsea_partitioner_add_weighted(p, &b, 2.0), DIPSEA_BAD_INPUT);
    CHECK(strstr(dipsea_last_error(), "does not take weights") != NULL);
    /* A duplicate inside a bulk add adds nothing. */
    dipsea_id pair[2] = {b, b};
    CHECK_STATUS(dipsea_partitioner_add_all(p, pair, 2), DIPSEA_BAD_INPUT);
    CHECK_STATUS(dipsea_partitioner_add_all(p, NULL, 2), DIPSEA_NULL_ARGUMENT);
    CHECK_OK(dipsea_partitioner_add_all(p, NULL, 0));
    size_t len = 0;
    CHECK_OK(dipsea_partitioner_len(p, &len));
    CHECK(len == 1);
    /* More owners than members: refused, outputs untouched. */
    dipsea_id owners[2];
    size_t n = 42;
    CHECK_STATUS(dipsea_partitioner_owners(p, &a, 2, owners, 2, &n), DIPSEA_BAD_INPUT);
    CHECK(strstr(dipsea_last_error(), "asked for 2 owners among 1 members") != NULL);
    CHECK(n == 42);
    CHECK_STATUS(dipsea_partitioner_owners(p, &a, 2, owners, 1, &n), DIPSEA_BUFFER_TOO_SMALL);
    CHECK_STATUS(dipsea_partitioner_owners(p, &a, 1, NULL, 1, &n), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_partitioner_owners(NULL, &a, 1, owners, 1, &n), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_partitioner_owners(p, &a, 1, owners, 1, NULL), DIPSEA_NULL_ARGUMENT);
    CHECK_OK(dipsea_partitioner_free(p));
    CHECK_OK(dipsea_partitioner_free(NULL));
}

static void rendezvous_takes_weights(void) {
    dipsea_partitioner *p = NULL;
    CHECK_OK(dipsea_partitioner_new(DIPSEA_PARTITIONER_RENDEZVOUS, 0, &p));
    dipsea_id heavy = member_id(0), light = member_id(1);
    CHECK_OK(dipsea_partitioner_add_weighted(p, &heavy, 3.0));
    CHECK_OK(dipsea_partitioner_add(p, &light));
    CHECK_STATUS(dipsea_partitioner_add_weighted(p, &heavy, 1.0), DIPSEA_BAD_INPUT);
    dipsea_id other = member_id(2);
    CHECK_STATUS(dipsea_partitioner_add_weighted(p, &other, -1.0), DIPSEA_BAD_INPUT);
    int heavy_wins = 0;
    for (uint32_t i = 0; i < 2000; i++) {
        dipsea_id key, owner;
        size_t n = 0;
        dipsea_id_sha1((const uint8_t *)&i, sizeof i, &key);
        CHECK_OK(dipsea_partitioner_owners(p, &key, 1, &owner, 1, &n));
        heavy_wins += same_id(&owner, &heavy);
    }
    /* Expected 3/4 of 2000 = 1500; the standard deviation is about 19. */
    CHECK(heavy_wins > 1400 && heavy_wins < 1600);
    dipsea_partitioner_free(p);
}

void keyspace_tests(void) {
    run_test("partitioner owners are distinct and stable", owners_are_distinct_and_stable);
    run_test("partitioner remove promotes the next owner", removing_an_owner_promotes_the_next);
    run_test("partitioner bad calls fail clearly", bad_calls_fail_clearly);
    run_test("partitioner rendezvous takes weights", rendezvous_takes_weights);
}
