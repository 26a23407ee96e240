// hello.cpp: dipsea from C++, with RAII handles and the _async functions.
//
// Starts four nodes on loopback, has several std::threads put values at once through
// dipsea_node_put_async (completion arrives on a dipsea thread and fulfils a
// std::promise), then reads every value back asynchronously from another node.
// Build and run: `make -C bindings/c/examples run`.
#include <cstdio>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dipsea.h"

namespace {

// A failed status becomes an exception carrying dipsea_last_error().
void check(dipsea_status status, const char *what) {
    if (status != DIPSEA_OK) {
        throw std::runtime_error(std::string(what) + ": " + dipsea_last_error());
    }
}

struct NodeFree {
    void operator()(dipsea_node *node) const { dipsea_node_free(node); }
};
struct ConfigFree {
    void operator()(dipsea_config *config) const { dipsea_config_free(config); }
};
using Node = std::unique_ptr<dipsea_node, NodeFree>;
using Config = std::unique_ptr<dipsea_config, ConfigFree>;

Node start_node(const std::string &bootstrap) {
    dipsea_config *raw = nullptr;
    check(dipsea_config_default(&raw), "config");
    Config config(raw);
    check(dipsea_config_set_bind(config.get(), "127.0.0.1:0"), "bind");
    if (!bootstrap.empty()) {
        check(dipsea_config_add_bootstrap(config.get(), bootstrap.c_str()), "bootstrap");
    } else {
        // the seed: without this it would join the public DHT
        check(dipsea_config_set_no_default_routers(config.get(), true), "no default routers");
    }
    dipsea_node *node = nullptr;
    check(dipsea_node_new(config.get(), &node), "start node");
    return Node(node);
}

std::string hex(const dipsea_id &id) {
    char text[DIPSEA_ID_HEX_SIZE];
    check(dipsea_id_to_hex(&id, text, sizeof text), "hex");
    return text;
}

// Callbacks must not throw: they hand their result to a promise, and the waiting
// thread sees the error when it reads the future.
void on_put(void *user_data, dipsea_status status, const dipsea_id *key) {
    auto *promise = static_cast<std::promise<dipsea_id> *>(user_data);
    if (status == DIPSEA_OK) {
        promise->set_value(*key);
    } else {
        promise->set_exception(
            std::make_exception_ptr(std::runtime_error(dipsea_last_error())));
    }
}

void on_get(void *user_data, dipsea_status status, const dipsea_buffer *value) {
    auto *promise = static_cast<std::promise<std::string> *>(user_data);
    if (status == DIPSEA_OK) {
        promise->set_value(std::string(reinterpret_cast<const char *>(value->data), value->len));
    } else {
        promise->set_exception(
            std::make_exception_ptr(std::runtime_error(dipsea_last_error())));
    }
}

}  // namespace

int main() {
    try {
        std::vector<Node> nodes;
        nodes.push_back(start_node(""));
        char seed[DIPSEA_ADDR_SIZE];
        check(dipsea_node_local_addr(nodes[0].get(), seed, sizeof seed), "address");
        for (int i = 0; i < 3; i++) {
            nodes.push_back(start_node(seed));
        }
        for (size_t i = 1; i < nodes.size(); i++) {
            size_t table = 0;
            check(dipsea_node_bootstrap(nodes[i].get(), &table), "join");
        }

        // Several threads start puts at once; handles are safe to share.
        const int threads = 4;
        std::vector<std::promise<dipsea_id>> puts(threads);
        std::vector<std::string> values(threads);
        std::vector<dipsea_status> started(threads, DIPSEA_OK);
        std::vector<std::thread> workers;
        for (int i = 0; i < threads; i++) {
            values[i] = "hello from C++ thread " + std::to_string(i);
            workers.emplace_back([&, i] {
                dipsea_node *node = nodes[1 + i % 3].get();
                started[i] = dipsea_node_put_async(
                    node, reinterpret_cast<const uint8_t *>(values[i].data()),
                    values[i].size(), on_put, &puts[i]);
            });
        }
        for (auto &worker : workers) {
            worker.join();
        }
        for (dipsea_status status : started) {
            check(status, "put_async");
        }

        std::vector<dipsea_id> keys;
        for (auto &put : puts) {
            keys.push_back(put.get_future().get());
        }
        std::vector<std::promise<std::string>> gets(threads);
        for (int i = 0; i < threads; i++) {
            check(dipsea_node_get_async(nodes[0].get(), &keys[i], on_get, &gets[i]),
                  "get_async");
        }
        for (int i = 0; i < threads; i++) {
            std::string value = gets[i].get_future().get();
            std::printf("%s -> \"%s\"\n", hex(keys[i]).c_str(), value.c_str());
            if (value != values[i]) {
                std::fprintf(stderr, "value mismatch\n");
                return 1;
            }
        }
        std::printf("all %d values round-tripped\n", threads);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;  // the unique_ptrs free every node
}
