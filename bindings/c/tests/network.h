/* The one loopback network of the C tests: a config for a loopback node, and
 * NET_SIZE joined nodes started through the C API (network.c). */
#ifndef DIPSEA_TEST_NETWORK_H
#define DIPSEA_TEST_NETWORK_H

#include "dipsea.h"

/* The small loopback network the tests share (started by network_start). */
#define NET_SIZE 5
extern dipsea_node *net[NET_SIZE];

/* A config for a loopback node: 127.0.0.1, generous query timeouts (valgrind slows
 * everything down), bootstrapping from `bootstrap` unless it is NULL. The caller
 * frees it. Exits the process if the config cannot be made. */
dipsea_config *loopback_config(const char *bootstrap);

/* Starts NET_SIZE nodes, each bootstrapped from the first, and joins them twice
 * (the second pass lets early joiners learn of later ones). 0 on success, -1 (with
 * the reason on stderr) otherwise. */
int network_start(void);

/* Frees every node of the network (those that started). */
void network_stop(void);

#endif
