/* Mutable items (BEP 44) over the loopback network: put, update, get from another
 * node, compare-and-swap, salts, and the async variants. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <errno.h>

#include "harness.h"

static void public_key_of(const dipsea_keypair *keypair, uint8_t key[DIPSEA_PUBLIC_KEY_LEN]) {
    CHECK_OK(dipsea_keypair_public_key(keypair, key, DIPSEA_PUBLIC_KEY_LEN));
}

static void put_update_and_get_from_another_node(void) {
    dipsea_keypair *keypair = NULL;
    CHECK_OK(dipsea_keypair_random(&keypair));
    uint8_t key[DIPSEA_PUBLIC_KEY_LEN];
    public_key_of(keypair, key);
    const char *salt = "status";
    int64_t seq = 0;
    CHECK_OK(dipsea_node_put_mutable(net[1], keypair, (const uint8_t *)"first", 5,
                                     (const uint8_t *)salt, strlen(salt), NULL, NULL, &seq));
    CHECK(seq == 1);
    CHECK_OK(dipsea_node_put_mutable(net[1], keypair, (const uint8_t *)"second", 6,
                                     (const uint8_t *)salt, strlen(salt), NULL, NULL, &seq));
    CHECK(seq == 2);
    dipsea_mutable_item item;
    CHECK_OK(dipsea_node_get_mutable(net[3], key, sizeof key, (const uint8_t *)salt,
                                     strlen(salt), NULL, &item));
    CHECK(item.seq == 2);
    CHECK(item.value.len == 6 && memcmp(item.value.data, "second", 6) == 0);
    CHECK(item.value.data[item.value.len] == 0);
    CHECK_OK(dipsea_mutable_item_free(&item));
    CHECK(item.value.data == NULL);
    CHECK_OK(dipsea_mutable_item_free(&item));
    CHECK_OK(dipsea_mutable_item_free(NULL));
    /* Another salt is another item: none there. */
    dipsea_mutable_item untouched = {{NULL, 0}, -7, {0}};
    CHECK_STATUS(dipsea_node_get_mutable(net[2], key, sizeof key, (const uint8_t *)"other", 5,
                                         NULL, &untouched),
                 DIPSEA_NOT_FOUND);
    CHECK(untouched.seq == -7);
    /* A newer one than asked for is not there either. */
    int64_t min_seq = 3;
    CHECK_STATUS(dipsea_node_get_mutable(net[2], key, sizeof key, (const uint8_t *)salt,
                                         strlen(salt), &min_seq, &untouched),
                 DIPSEA_NOT_FOUND);
    dipsea_keypair_free(keypair);
}

static void cas_and_old_seq_are_typed_errors(void) {
    dipsea_keypair *keypair = NULL;
    CHECK_OK(dipsea_keypair_random(&keypair));
    int64_t seq = 0;
    int64_t explicit_seq = 10;
    CHECK_OK(dipsea_node_put_mutable(net[2], keypair, (const uint8_t *)"v10", 3, NULL, 0,
                                     &explicit_seq, NULL, &seq));
    CHECK(seq == 10);
    int64_t wrong_cas = 9;
    int64_t next = 11;
    CHECK_STATUS(dipsea_node_put_mutable(net[2], keypair, (const uint8_t *)"v11", 3, NULL, 0,
                                         &next, &wrong_cas, &seq),
                 DIPSEA_CAS_MISMATCH);
    CHECK(seq == 10);
    int64_t old = 5;
    CHECK_STATUS(dipsea_node_put_mutable(net[2], keypair, (const uint8_t *)"v5", 2, NULL, 0,
                                         &old, NULL, &seq),
                 DIPSEA_SEQ_TOO_OLD);
    int64_t right_cas = 10;
    CHECK_OK(dipsea_node_put_mutable(net[2], keypair, (const uint8_t *)"v11", 3, NULL, 0,
                                     &next, &right_cas, &seq));
    CHECK(seq == 11);
    /* Bad arguments. */
    uint8_t salt[65] = {0};
    CHECK_STATUS(dipsea_node_put_mutable(net[2], keypair, (const uint8_t *)"x", 1, salt,
                                         sizeof salt, NULL, NULL, &seq),
                 DIPSEA_BAD_INPUT);
    CHECK_STATUS(dipsea_node_put_mutable(net[2], NULL, (const uint8_t *)"x", 1, NULL, 0, NULL,
                                         NULL, &seq),
                 DIPSEA_NULL_ARGUMENT);
    dipsea_mutable_item item;
    CHECK_STATUS(dipsea_node_get_mutable(net[2], salt, 31, NULL, 0, NULL, &item),
                 DIPSEA_BAD_INPUT);
    dipsea_keypair_free(keypair);
}

struct mutable_op {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    dipsea_status status;
    int64_t seq;
    char value[32];
};

static void mutable_op_wait(struct mutable_op *op) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 60;
    pthread_mutex_lock(&op->mu);
    int rc = 0;
    while (!op->done && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&op->cv, &op->mu, &deadline);
    }
    pthread_mutex_unlock(&op->mu);
}

static void mutable_op_finish(struct mutable_op *op) {
    pthread_mutex_lock(&op->mu);
    op->done++;
    pthread_cond_broadcast(&op->cv);
    pthread_mutex_unlock(&op->mu);
}

static void on_put_mutable(void *user_data, dipsea_status status, int64_t seq) {
    struct mutable_op *op = user_data;
    op->status = status;
    op->seq = seq;
    mutable_op_finish(op);
}

static void on_get_mutable(void *user_data, dipsea_status status, const dipsea_mutable_item *item) {
    struct mutable_op *op = user_data;
    op->status = status;
    if (status == DIPSEA_OK && item != NULL) {
        op->seq = item->seq;
        snprintf(op->value, sizeof op->value, "%s", (const char *)item->value.data);
    }
    mutable_op_finish(op);
}

static void async_put_and_get(void) {
    dipsea_keypair *keypair = NULL;
    CHECK_OK(dipsea_keypair_random(&keypair));
    uint8_t key[DIPSEA_PUBLIC_KEY_LEN];
    public_key_of(keypair, key);
    struct mutable_op put = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, ""};
    CHECK_OK(dipsea_node_put_mutable_async(net[4], keypair, (const uint8_t *)"async", 5, NULL,
                                           0, NULL, NULL, on_put_mutable, &put));
    /* The keypair is copied: it may go at once. */
    dipsea_keypair_free(keypair);
    mutable_op_wait(&put);
    CHECK(put.done == 1 && put.status == DIPSEA_OK && put.seq == 1);
    struct mutable_op get = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, ""};
    CHECK_OK(dipsea_node_get_mutable_async(net[0], key, sizeof key, NULL, 0, NULL,
                                           on_get_mutable, &get));
    mutable_op_wait(&get);
    CHECK(get.done == 1 && get.status == DIPSEA_OK && get.seq == 1);
    CHECK(strcmp(get.value, "async") == 0);
    CHECK_STATUS(dipsea_node_get_mutable_async(net[0], key, sizeof key, NULL, 0, NULL, NULL,
                                               &get),
                 DIPSEA_NULL_ARGUMENT);
}

void mutable_tests(void) {
    run_test("mutable: put, update, get from another node", put_update_and_get_from_another_node);
    run_test("mutable: cas mismatch and old seq are typed errors", cas_and_old_seq_are_typed_errors);
    run_test("mutable: async put and get", async_put_and_get);
}
