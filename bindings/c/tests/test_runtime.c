/* Nodes share one runtime: a hundred of them run on a thread per core (threads
 * named dipsea-...), and the last dipsea_node_free stops it. Runs after the shared
 * loopback network is freed, so it starts with no dipsea thread. */
#include <dirent.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MANY 100

/* Threads of this process whose name starts with "dipsea-". */
static int dipsea_threads(void) {
    DIR *tasks = opendir("/proc/self/task");
    if (tasks == NULL) {
        return -1;
    }
    int count = 0;
    struct dirent *task;
    while ((task = readdir(tasks)) != NULL) {
        if (task->d_name[0] == '.') {
            continue;
        }
        char path[300];
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", task->d_name);
        FILE *comm = fopen(path, "r");
        if (comm == NULL) {
            continue;
        }
        char name[32] = {0};
        if (fgets(name, sizeof name, comm) != NULL && strncmp(name, "dipsea-", 7) == 0) {
            count++;
        }
        fclose(comm);
    }
    closedir(tasks);
    return count;
}

/* Waits (at most 10 s) until no dipsea thread is left; returns how many are. */
static int wait_for_no_threads(void) {
    for (int i = 0; i < 1000 && dipsea_threads() > 0; i++) {
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return dipsea_threads();
}

static void a_hundred_nodes_share_one_runtime(void) {
    CHECK(wait_for_no_threads() == 0);
    dipsea_node *nodes[MANY] = {NULL};
    dipsea_config *seed_config = loopback_config(NULL);
    CHECK_OK(dipsea_node_new(seed_config, &nodes[0]));
    dipsea_config_free(seed_config);
    if (nodes[0] == NULL) {
        return;
    }
    char seed_addr[DIPSEA_ADDR_SIZE];
    CHECK_OK(dipsea_node_local_addr(nodes[0], seed_addr, sizeof seed_addr));
    dipsea_config *config = loopback_config(seed_addr);
    for (int i = 1; i < MANY; i++) {
        CHECK_OK(dipsea_node_new(config, &nodes[i]));
    }
    dipsea_config_free(config);
    size_t table = 0;
    CHECK_OK(dipsea_node_bootstrap(nodes[MANY - 1], &table));
    CHECK(table > 0);

    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = dipsea_threads();
    printf("     %d nodes, %d dipsea threads, %ld cores\n", MANY, threads, cores);
    CHECK(threads >= 1 && threads <= cores + 8);

    for (int i = 0; i < MANY; i++) {
        dipsea_node_free(nodes[i]);
    }
    CHECK(wait_for_no_threads() == 0);
}

static void a_dedicated_runtime_is_the_nodes_own(void) {
    dipsea_config *config = loopback_config(NULL);
    CHECK_OK(dipsea_config_set_workers(config, 1));
    dipsea_node *own = NULL;
    CHECK_OK(dipsea_node_new(config, &own));
    dipsea_config_free(config);
    for (int i = 0; i < 1000 && dipsea_threads() < 1; i++) {
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    CHECK(dipsea_threads() == 1);
    dipsea_node_free(own);
    CHECK(wait_for_no_threads() == 0);
}

void runtime_tests(void) {
    run_test("a_hundred_nodes_share_one_runtime", a_hundred_nodes_share_one_runtime);
    run_test("a_dedicated_runtime_is_the_nodes_own", a_dedicated_runtime_is_the_nodes_own);
}
