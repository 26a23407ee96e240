/* BEP 33 scrapes, BEP 51 samples, seed announces and the network size estimate over
 * the loopback network (every node is 127.0.0.1: a scrape counts IPs). */
#include <math.h>
#include <pthread.h>

#include "harness.h"

static void scrape_counts_seed_and_peer_ips(void) {
    dipsea_id info_hash;
    CHECK_OK(dipsea_id_sha1((const uint8_t *)"c scrape", 8, &info_hash));
    dipsea_scrape scrape = {-1.0, -1.0, 99};
    CHECK_OK(dipsea_node_scrape(net[2], &info_hash, &scrape));
    CHECK(scrape.seeds == 0.0 && scrape.peers == 0.0 && scrape.responders == 0);
    size_t stored = 0;
    CHECK_OK(dipsea_node_announce_as(net[1], &info_hash, 7400, true, &stored));
    CHECK(stored >= 1);
    CHECK_OK(dipsea_node_announce_as(net[2], &info_hash, 7401, false, &stored));
    CHECK(stored >= 1);
    CHECK_OK(dipsea_node_scrape(net[4], &info_hash, &scrape));
    /* One seed IP and one peer IP: each estimate is 1 within the filter's error. */
    CHECK(lround(scrape.seeds) == 1 && lround(scrape.peers) == 1);
    CHECK(scrape.responders >= 1);
    CHECK_STATUS(dipsea_node_scrape(net[4], NULL, &scrape), DIPSEA_NULL_ARGUMENT);
    CHECK_STATUS(dipsea_node_scrape(net[4], &info_hash, NULL), DIPSEA_NULL_ARGUMENT);
}

static void sample_infohashes_returns_what_was_announced(void) {
    dipsea_id info_hash;
    CHECK_OK(dipsea_id_sha1((const uint8_t *)"c sample", 8, &info_hash));
    size_t stored = 0;
    CHECK_OK(dipsea_node_announce(net[3], &info_hash, 7500, &stored));
    dipsea_samples samples;
    CHECK_OK(dipsea_node_sample_infohashes(net[0], &info_hash, &samples));
    int found = 0;
    for (size_t i = 0; i < samples.count; i++) {
        if (memcmp(samples.info_hashes.data + i * DIPSEA_ID_LEN, info_hash.bytes,
                   DIPSEA_ID_LEN) == 0) {
            found = 1;
        }
    }
    CHECK(found);
    CHECK(samples.info_hashes.len == samples.count * DIPSEA_ID_LEN);
    CHECK(samples.responders >= 1 && samples.num >= 1 && samples.interval > 0);
    CHECK_OK(dipsea_samples_free(&samples));
    CHECK(samples.info_hashes.data == NULL && samples.count == 0);
    CHECK_OK(dipsea_samples_free(&samples));
    CHECK_OK(dipsea_samples_free(NULL));
    CHECK_STATUS(dipsea_node_sample_infohashes(net[0], &info_hash, NULL), DIPSEA_NULL_ARGUMENT);
}

struct scrape_wait {
    pthread_mutex_t lock;
    pthread_cond_t done;
    int finished;
    dipsea_status status;
    dipsea_scrape scrape;
};

static void on_scrape(void *user_data, dipsea_status status, const dipsea_scrape *scrape) {
    struct scrape_wait *w = user_data;
    pthread_mutex_lock(&w->lock);
    w->status = status;
    if (scrape != NULL) {
        w->scrape = *scrape;
    }
    w->finished = 1;
    pthread_cond_signal(&w->done);
    pthread_mutex_unlock(&w->lock);
}

static void scrape_async_and_stats(void) {
    dipsea_id info_hash;
    CHECK_OK(dipsea_id_sha1((const uint8_t *)"c scrape", 8, &info_hash));
    struct scrape_wait w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0,
                            DIPSEA_OK, {0, 0, 0}};
    CHECK_OK(dipsea_node_scrape_async(net[3], &info_hash, on_scrape, &w));
    pthread_mutex_lock(&w.lock);
    while (!w.finished) {
        pthread_cond_wait(&w.done, &w.lock);
    }
    pthread_mutex_unlock(&w.lock);
    CHECK(w.status == DIPSEA_OK);
    CHECK(lround(w.scrape.seeds) == 1);
    CHECK_STATUS(dipsea_node_scrape_async(net[3], &info_hash, NULL, NULL),
                 DIPSEA_NULL_ARGUMENT);
    dipsea_stats stats;
    CHECK_OK(dipsea_node_stats(net[0], &stats));
    CHECK(stats.network_size >= 1);
    CHECK(stats.sample_refused == 0);
}

/* Joins every node again: earlier groups may have left tables with dead contacts
 * (timeouts under valgrind mark them failed). */
static void rejoin(void) {
    for (int i = 1; i < NET_SIZE; i++) {
        size_t table = 0;
        CHECK_OK(dipsea_node_bootstrap(net[i], &table));
    }
}

void scrape_tests(void) {
    run_test("scrape: rejoin", rejoin);
    run_test("scrape counts seed and peer IPs", scrape_counts_seed_and_peer_ips);
    run_test("sample_infohashes returns what was announced",
             sample_infohashes_returns_what_was_announced);
    run_test("scrape_async and stats", scrape_async_and_stats);
}
