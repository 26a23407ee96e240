"""dipsea.Node: a loopback network started from Python, put/get/announce/get_peers,
many threads on one node, closing and ports."""

from __future__ import annotations

import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import dipsea
from conftest import LOOPBACK_TIMEOUT, seed_address, wait_until
from dipsea import Id, Node


def test_nodes_joined(network: list[Node]) -> None:
    for node in network:
        assert len(node.routing_table()) >= 8
        host, port = node.address
        assert host == "127.0.0.1" and port > 0
        assert isinstance(node.id, Id)
    assert len({node.id for node in network}) == len(network)


def test_put_on_one_node_get_on_every_other(network: list[Node]) -> None:
    value = os.urandom(32)
    key = network[3].put(value)
    assert key == Id.sha1(b"32:" + value)
    for node in network:
        assert node.get(key) == value


def test_get_of_missing_key_is_none(network: list[Node]) -> None:
    assert network[5].get(Id.random()) is None


def test_keys_may_be_bytes_or_hex(network: list[Node]) -> None:
    key = network[1].put(b"by any name")
    assert network[2].get(bytes(key)) == b"by any name"
    assert network[2].get(key.hex()) == b"by any name"


def test_announce_and_get_peers(network: list[Node]) -> None:
    info_hash = Id.sha1(b"some torrent")
    assert network[2].announce(info_hash, port=6881) >= 1
    # Implied port: the announcing node's own UDP port.
    assert network[4].announce(info_hash) >= 1
    peers = network[9].get_peers(info_hash)
    assert ("127.0.0.1", 6881) in peers
    assert network[4].address in peers
    assert network[9].get_peers(Id.random()) == []


def test_find_node_returns_closest_first(network: list[Node]) -> None:
    target = network[7].id
    found = network[0].find_node(target)
    assert 1 <= len(found) <= 8
    ids = [node_id for node_id, _ in found]
    assert ids[0] == target
    assert ids == sorted(ids, key=lambda i: i ^ target)
    assert found[0][1] == network[7].address


def test_ping(network: list[Node]) -> None:
    assert network[0].ping(network[1].address) == network[1].id


def test_stats_count_traffic(network: list[Node]) -> None:
    stats = network[0].stats()
    assert stats["packets_in"] > 0 and stats["packets_out"] > 0
    assert stats["routing_table_size"] == len(network[0].routing_table())
    assert set(stats["queries_in"]) >= {"ping", "find_node", "get_peers", "get", "put"}
    # Loopback answers never vote for an external address (BEP 42).
    assert stats["external_ip"] is None and stats["id_conforms"] is None
    for reason in ("malformed", "oversized", "rate_limited_ip", "rate_limited_global",
                   "bad_token", "over_quota", "refused", "bad_signature", "seq_too_old",
                   "cas_mismatch", "salt_too_big", "value_too_big", "target_mismatch",
                   "unknown_method"):
        assert stats[reason] == 0, reason
    counters = {k: v for k, v in stats.items() if k not in ("queries_in", "external_ip", "id_conforms")}
    assert all(isinstance(v, int) for v in counters.values())


def test_drops_are_counted(network: list[Node]) -> None:
    node = network[1]
    host, port = node.address
    before = node.stats()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"not bencode at all", (host, port))
        s.sendto(bytes(9000), (host, port))

    def counted() -> bool:
        after = node.stats()
        return bool(after["malformed"] > before["malformed"] and after["oversized"] > before["oversized"])

    wait_until(counted, "both datagrams counted")
    after = node.stats()
    assert after["malformed"] == before["malformed"] + 1
    assert after["oversized"] == before["oversized"] + 1


def test_many_threads_share_one_node(network: list[Node]) -> None:
    node = network[6]
    values = [os.urandom(16) for _ in range(16)]
    keys = [network[i % len(network)].put(v) for i, v in enumerate(values)]

    def work(i: int) -> bool:
        return all(node.get(keys[(i + j) % len(keys)]) == values[(i + j) % len(keys)] for j in range(16))

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert all(pool.map(work, range(64)))
    assert node.stats()["ops_done"] >= 64 * 16


def test_calls_ending_at_once_in_many_threads_all_return(network: list[Node]) -> None:
    """Threads whose calls end together take the GIL back one after another (in
    turn): calls that succeed, calls that fail and a thread busy in Python all mix,
    and every call returns; a call after them still does."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    values = [os.urandom(16) for _ in range(8)]
    keys = [network[i].put(v) for i, v in enumerate(values)]
    stop = threading.Event()
    spins = 0

    def spin() -> None:
        nonlocal spins
        while not stop.is_set():
            spins += 1

    def work(i: int) -> str:
        node = network[i % len(network)]
        if i % 4 == 0:
            with pytest.raises(dipsea.Timeout):
                node.ping(silent.getsockname())
            return "timeout"
        ok = all(node.get(keys[(i + j) % len(keys)]) == values[(i + j) % len(keys)] for j in range(8))
        return "found" if ok else "missing"

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        with ThreadPoolExecutor(max_workers=64) as pool:
            outcomes = list(pool.map(work, range(128)))
    finally:
        stop.set()
        spinner.join()
        silent.close()
    assert outcomes.count("timeout") == 32 and outcomes.count("found") == 96
    assert spins > 0
    assert network[3].get(keys[0]) == values[0]


def test_gil_is_released_while_waiting(network: list[Node]) -> None:
    """A Python thread keeps running while another waits on the network."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    host, port = silent.getsockname()
    counted = 0
    stop = threading.Event()

    def count() -> None:
        nonlocal counted
        while not stop.is_set():
            counted += 1

    with Node(bind="127.0.0.1:0", no_default_routers=True, bootstrap=[f"{host}:{port}"], query_timeout=(0.2, 0.2)) as node:
        counter = threading.Thread(target=count)
        counter.start()
        try:
            with pytest.raises(dipsea.Timeout):
                node.bootstrap()
        finally:
            stop.set()
            counter.join()
    silent.close()
    assert counted > 1000


def test_dead_bootstrap_times_out_then_no_route() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    host, port = silent.getsockname()
    with Node(bind="127.0.0.1:0", no_default_routers=True, bootstrap=[f"{host}:{port}"], query_timeout=LOOPBACK_TIMEOUT) as node:
        with pytest.raises(dipsea.Timeout, match="timed out") as info:
            node.bootstrap()
        assert isinstance(info.value, TimeoutError)
        with pytest.raises((dipsea.NoRoute, dipsea.Timeout)):
            node.get(Id.random())
    silent.close()


def test_no_bootstrap_is_no_route() -> None:
    with Node(bind="127.0.0.1:0", no_default_routers=True) as node:
        with pytest.raises(dipsea.NoRoute, match="no route"):
            node.put(b"nowhere to go")


def test_value_too_large_is_bad_input(network: list[Node]) -> None:
    with pytest.raises(dipsea.BadInput) as info:
        network[0].put(b"x" * 2000)
    assert isinstance(info.value, ValueError)


def test_argument_types_and_sizes(network: list[Node]) -> None:
    node = network[0]
    with pytest.raises(TypeError):
        node.put("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        node.get(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        node.get(b"too short")
    with pytest.raises(OverflowError):
        node.announce(Id.random(), port=70000)
    with pytest.raises(dipsea.BadInput, match="not an IP address"):
        node.ping(("localhost-ish", 1))
    with pytest.raises(TypeError):
        Node(bootstrap="127.0.0.1:1")  # a str is not a list of addresses
    with pytest.raises(dipsea.BadInput, match="resolve"):
        Node(bind="127.0.0.1:0", no_default_routers=True, bootstrap=["no-such-host.invalid:1"])
    with pytest.raises(ValueError):
        Node(bind="127.0.0.1:0", no_default_routers=True, query_timeout=(-1.0, 1.0))


def test_out_of_range_settings_raise_the_cores_reason() -> None:
    with pytest.raises(dipsea.BadInput, match="k must be between 1 and 1024, got 0") as info:
        Node(bind="127.0.0.1:0", no_default_routers=True, k=0)
    assert isinstance(info.value, ValueError)
    with pytest.raises(ValueError, match="alpha must be"):
        Node(bind="127.0.0.1:0", no_default_routers=True, alpha=0)
    with pytest.raises(ValueError, match="workers must be at least 1"):
        dipsea.AsyncNode(bind="127.0.0.1:0", no_default_routers=True, workers=0)
    with pytest.raises(ValueError, match="timeout_floor .* is above timeout_ceiling"):
        Node(bind="127.0.0.1:0", no_default_routers=True, query_timeout=(2.0, 1.0))
    with pytest.raises(ValueError, match="max_in_flight must be"):
        Node(bind="127.0.0.1:0", no_default_routers=True, max_in_flight=0)
    with pytest.raises(ValueError, match='no configuration option is called "nope"'):
        Node(bind="127.0.0.1:0", no_default_routers=True, options={"nope": 1})
    with pytest.raises(ValueError, match="max_datagram must be between 512 and 65535, got 100"):
        Node(bind="127.0.0.1:0", no_default_routers=True, options={"max_datagram": 100})
    with pytest.raises(TypeError):
        Node(bind="127.0.0.1:0", no_default_routers=True, options={"read_only": "yes"})  # type: ignore[dict-item]


def test_every_option_is_settable_and_listed_with_its_default(network: list[Node]) -> None:
    defaults = dipsea.default_options()
    assert defaults["k"] == 8 and defaults["max_in_flight"] == 1024
    assert defaults["timeout_ceiling"] == 4.0 and defaults["refresh_on_join"] is True
    assert "store.max_items" in defaults and "rate_limit.per_ip_rate" in defaults
    options: dict[str, bool | int | float] = {
        "k": 2,
        "max_in_flight": 64,
        "store.item_ttl": 60.0,
        "refresh_on_join": False,
    }
    seed = [seed_address(network)]
    with Node("127.0.0.1:0", seed, no_default_routers=True, query_timeout=LOOPBACK_TIMEOUT, options=options) as node:
        node.bootstrap()
        assert len(node.find_node(Id.random())) == 2
    # The keywords apply after ``options``: k=3 wins over the option's 2.
    with Node("127.0.0.1:0", seed, no_default_routers=True, query_timeout=LOOPBACK_TIMEOUT, k=3, options=options) as node:
        node.bootstrap()
        assert len(node.find_node(Id.random())) == 3


def test_port_in_use_is_os_error() -> None:
    with Node(bind="127.0.0.1:0", no_default_routers=True) as node:
        host, port = node.address
        with pytest.raises(dipsea.Io) as info:
            Node(bind=f"{host}:{port}", no_default_routers=True)
        assert isinstance(info.value, OSError)
        assert info.value.errno is not None


def test_closing_frees_the_port_and_fails_later_calls() -> None:
    node = Node(bind="127.0.0.1:0", no_default_routers=True)
    host, port = node.address
    assert not node.closed
    node.close()
    node.close()  # idempotent
    assert node.closed
    assert repr(node) == "<dipsea.Node closed>"
    with pytest.raises(dipsea.Shutdown):
        node.get(Id.random())
    with pytest.raises(dipsea.Shutdown):
        _ = node.address
    # The port is free at once: a plain socket and a new node can both take it.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind((host, port))
    probe.close()
    with Node(bind=f"{host}:{port}", no_default_routers=True) as again:
        assert again.address == (host, port)


def test_close_fails_calls_in_flight_in_other_threads() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    host, port = silent.getsockname()
    node = Node(bind="127.0.0.1:0", no_default_routers=True, bootstrap=[f"{host}:{port}"], query_timeout=(5.0, 5.0))
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            node.bootstrap()
        except BaseException as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)

    thread = threading.Thread(target=wait)
    thread.start()
    threading.Event().wait(0.2)
    node.close()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], dipsea.Shutdown)
    silent.close()


def test_read_only_node_is_not_added_to_tables(network: list[Node]) -> None:
    with Node(bind="127.0.0.1:0", no_default_routers=True, bootstrap=[seed_address(network)], read_only=True,
              query_timeout=LOOPBACK_TIMEOUT) as reader:
        reader.bootstrap()
        key = network[0].put(b"read me")
        assert reader.get(key) == b"read me"
        assert all(reader.id not in {i for i, _ in n.routing_table()} for n in network)


def test_state_path_saves_the_table_and_rejoins(network: list[Node], tmp_path: Path) -> None:
    state = tmp_path / "node.state"
    with Node(bind="127.0.0.1:0", no_default_routers=True, bootstrap=[seed_address(network)], state_path=state,
              query_timeout=LOOPBACK_TIMEOUT) as node:
        node.bootstrap()
        node_id = node.id
    assert state.exists()
    # No bootstrap address this time: the saved table and id are enough.
    with Node(bind="127.0.0.1:0", no_default_routers=True, state_path=str(state), query_timeout=LOOPBACK_TIMEOUT) as node:
        assert node.id == node_id
        assert node.bootstrap() >= 1


def test_explicit_id_and_repr() -> None:
    wanted = Id.sha1(b"me")
    with Node(bind="127.0.0.1:0", no_default_routers=True, id=wanted) as node:
        assert node.id == wanted
        assert repr(node).startswith(f"<dipsea.Node id={wanted.hex()} address=127.0.0.1:")
