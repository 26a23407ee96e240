"""dipsea.Swarm: a simulated network in virtual time, with crashes and partitions."""

from __future__ import annotations

import pytest

import dipsea
from dipsea import Id, Latency, Swarm


@pytest.fixture(scope="module")
def values() -> list[bytes]:
    return [b"swarm item %d" % i for i in range(40)]


def test_a_thousand_nodes_store_and_survive_crashes(values: list[bytes]) -> None:
    swarm = Swarm(nodes=1000, seed=7)
    assert len(swarm) == 1000 and swarm.live == 1000
    keys = [swarm.put(v) for v in values]
    assert keys[0] == Id.sha1(b"%d:%s" % (len(values[0]), values[0]))
    assert [swarm.get(k) for k in keys] == values
    assert swarm.get(Id.random()) is None

    # A third of the network crashes at once: the k = 8 replicas keep every item.
    assert swarm.crash(0.3) == 300
    assert swarm.live == 700
    found = sum(swarm.get(k) == v for k, v in zip(keys, values))
    assert found >= len(values) - 1
    # Time passes: dead contacts time out and are replaced, items are re-published.
    swarm.advance(600)
    assert [swarm.get(k) for k in keys] == values

    stats = swarm.stats()
    assert stats["nodes"] == 1000 and stats["live"] == 700
    assert stats["ops"] == len(values) * 4 + 1
    assert 0.9 < stats["success_rate"] <= 1.0
    assert 1 <= stats["rounds_p50"] <= stats["rounds_p99"] <= 20
    assert stats["latency_p50_ms"] > 0 and stats["packets_sent"] > 0
    assert stats["virtual_ms"] >= 600_000
    assert stats["memory_per_node"] > 0
    assert repr(swarm) == "<dipsea.Swarm nodes=1000 live=700>"


def _run(swarm: Swarm, values: list[bytes], seconds: float) -> dict[str, object]:
    """Puts ``values``, crashes a fifth of the nodes, runs ``seconds``: the stats
    without their wall-clock fields."""
    for v in values:
        swarm.put(v)
    swarm.crash(0.2)
    swarm.advance(seconds)
    stats = swarm.stats()
    del stats["build_wall_ms"], stats["wall_ms"]
    return stats


def test_same_seed_same_run(values: list[bytes]) -> None:
    def run() -> dict[str, object]:
        swarm = Swarm(nodes=300, seed=3, latency=Latency.long_tail(0.03, 0.3), loss=0.02)
        return _run(swarm, values[:10], 60)

    assert run() == run()


def test_threads_do_not_change_the_run(values: list[bytes]) -> None:
    def run(threads: int) -> dict[str, object]:
        # Uniform latency (10 to 100 ms): events run in 10 ms windows over the threads.
        return _run(Swarm(nodes=500, seed=4, loss=0.02, threads=threads), values[:20], 30)

    one = run(1)
    assert one == run(3)
    packets = one["packets_sent"]
    assert isinstance(packets, int) and packets > 10_000


def test_partition_then_heal(values: list[bytes]) -> None:
    swarm = Swarm(nodes=400, seed=11, latency=Latency.constant(0.02))
    keys = [swarm.put(v) for v in values[:20]]
    swarm.partition(0.5)
    during = 0
    for k, v in zip(keys, values):
        try:
            during += swarm.get(k) == v
        except dipsea.Timeout:
            pass  # the node asked and every contact it tried are across the split
    swarm.heal()
    swarm.advance(600)
    after = sum(swarm.get(k) == v for k, v in zip(keys, values))
    assert after == 20
    assert during <= after


def test_loss_and_uniform_latency() -> None:
    swarm = Swarm(nodes=200, seed=5, latency=Latency.uniform(0.01, 0.2), loss=0.05)
    key = swarm.put(b"lossy")
    assert swarm.get(key) == b"lossy"
    assert swarm.stats()["packets_lost"] > 0
    assert repr(Latency.uniform(0.01, 0.2)) == "Latency.uniform(0.01, 0.2)"


def test_swarm_argument_errors() -> None:
    swarm = Swarm(nodes=20, seed=1)
    with pytest.raises(ValueError):
        swarm.get(b"short")
    with pytest.raises(TypeError):
        swarm.put("text")  # type: ignore[arg-type]
    with pytest.raises(dipsea.BadInput):
        swarm.advance(-1.0)
    with pytest.raises(dipsea.BadInput):
        swarm.put(b"x" * 2000)
    with pytest.raises(ValueError):
        Latency.constant(float("nan"))
    with pytest.raises(TypeError):
        Swarm(nodes=10, latency=0.05)  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        Swarm(nodes=-1)
    with pytest.raises(dipsea.BadInput, match="loss must be between 0 and 1, got 5") as info:
        Swarm(nodes=10, loss=5)
    assert isinstance(info.value, ValueError)
    with pytest.raises(ValueError, match="nodes must be"):
        Swarm(nodes=0)
    with pytest.raises(ValueError, match="threads must be between 1 and 64, got 0"):
        Swarm(nodes=10, threads=0)
    with pytest.raises(ValueError, match="fraction must be between 0 and 1"):
        swarm.crash(1.5)
    with pytest.raises(ValueError, match="fraction must be between 0 and 1"):
        swarm.partition(-0.5)
    assert swarm.live == 20


def test_a_one_hop_swarm_finds_every_put_in_one_round_trip(values: list[bytes]) -> None:
    swarm = Swarm(nodes=200, seed=21, overlay="one-hop", partitioner="rendezvous", replicas=3)
    assert swarm.live == 200
    swarm.advance(30)  # membership broadcasts settle
    keys = [swarm.put(v) for v in values]
    swarm.reset_ops()
    assert [swarm.get(k) for k in keys] == values
    stats = swarm.stats()
    assert stats["ops"] == len(values) and stats["success_rate"] == 1.0
    # Every get goes straight to the key's owners: one round trip, at most r queries.
    assert stats["rounds_p50"] == stats["rounds_p99"] == 1.0
    assert 1 <= stats["messages_per_lookup_p99"] <= 3

    # The same network running Kademlia walks towards each key in several rounds.
    kademlia = Swarm(nodes=200, seed=21)
    kademlia_keys = [kademlia.put(v) for v in values]
    kademlia.reset_ops()
    assert [kademlia.get(k) for k in kademlia_keys] == values
    assert kademlia.stats()["rounds_p50"] > 1.0


def test_one_hop_swarm_settings_are_used() -> None:
    # One replica on a ring: one owner answers each get, in one query; a network of
    # another name works the same.
    swarm = Swarm(nodes=50, seed=2, overlay="one-hop", partitioner="ring:16", replicas=1, network="lab")
    swarm.advance(30)
    key = swarm.put(b"on one owner")
    swarm.reset_ops()
    assert swarm.get(key) == b"on one owner"
    stats = swarm.stats()
    assert stats["rounds_p99"] == 1.0 and stats["messages_per_lookup_p99"] == 1.0
    xor = Swarm(nodes=50, seed=2, overlay="one-hop", partitioner="xor")
    xor.advance(30)
    assert xor.get(xor.put(b"xor owners")) == b"xor owners"


def test_swarm_overlay_errors_match_the_nodes() -> None:
    def node_error(**kwargs: object) -> str:
        with pytest.raises(dipsea.BadInput) as info:
            dipsea.Node(bind="127.0.0.1:0", no_default_routers=True, **kwargs)  # type: ignore[arg-type]
        return str(info.value)

    for kwargs in (
        {"overlay": "mesh"},
        {"overlay": "one-hop", "partitioner": "maglev"},
        {"partitioner": "ring"},
        {"overlay": "kademlia", "replicas": 2},
    ):
        with pytest.raises(dipsea.BadInput) as info:
            Swarm(nodes=4, **kwargs)
        assert isinstance(info.value, ValueError)
        assert str(info.value) == node_error(**kwargs)
    with pytest.raises(dipsea.BadInput, match="unknown overlay \"mesh\""):
        Swarm(nodes=4, overlay="mesh")  # type: ignore[arg-type]
    with pytest.raises(dipsea.BadInput, match="network name"):
        Swarm(nodes=4, overlay="one-hop", network="")
    with pytest.raises(dipsea.BadInput, match="replicas"):
        Swarm(nodes=4, overlay="one-hop", replicas=0)
    with pytest.raises(TypeError):
        Swarm(nodes=4, overlay=1)  # type: ignore[arg-type]


def test_subscribers_see_each_version_put_after_they_subscribed() -> None:
    swarm = Swarm(nodes=300, seed=9, latency=Latency.constant(0.02))
    key = dipsea.Keypair.from_seed(bytes(range(32)))
    subscribers = [3, 150, 299]
    for s in subscribers:
        asked = swarm.subscribe(s, key.public_key, salt=b"news")
        assert asked and all(isinstance(i, Id) for i, _ in asked)
    assert swarm.take_updates() == []  # nothing published yet

    for seq in (1, 2):
        put_at = swarm.stats()["virtual_ms"] / 1000
        assert swarm.put_mutable(42, key, b"version %d" % seq, seq=seq, salt=b"news") > 0
        swarm.advance(10)
        updates = swarm.take_updates()
        assert sorted(node for node, _, _ in updates) == subscribers
        assert all(got == seq for _, got, _ in updates)
        assert all(put_at < at <= put_at + 10 for _, _, at in updates)
    assert swarm.take_updates() == []

    # Another salt is another item: its versions reach none of them.
    swarm.put_mutable(42, key, b"elsewhere", seq=5, salt=b"other")
    swarm.advance(10)
    assert swarm.take_updates() == []


def test_peer_subscribers_see_each_announce() -> None:
    swarm = Swarm(nodes=300, seed=10)
    info_hash = Id.sha1(b"a torrent")
    assert swarm.subscribe_peers(7, info_hash)
    assert swarm.subscribe_peers(8, info_hash.hex())
    assert swarm.announce(100, info_hash, 51413) > 0
    assert swarm.announce(101, info_hash) > 0
    swarm.advance(10)
    got = {(node, ih, peer) for node, ih, peer, _ in swarm.take_peer_updates()}
    # Node i lives at 127.x.y.z with x.y.z = i + 1, UDP port 6881.
    peers = {("127.0.0.101", 51413), ("127.0.0.102", 6881)}
    assert got == {(node, info_hash, peer) for node in (7, 8) for peer in peers}
    assert swarm.take_peer_updates() == []


def test_swarm_subscription_errors() -> None:
    swarm = Swarm(nodes=20, seed=1)
    key = dipsea.Keypair.from_seed(bytes(32))
    with pytest.raises(dipsea.BadInput, match="a public key is 32 bytes, got 3"):
        swarm.subscribe(0, b"abc")
    with pytest.raises(dipsea.BadInput):
        swarm.subscribe(0, key.public_key, salt=b"s" * 65)
    # A node index past the swarm, or a crashed node, is down.
    assert not swarm.is_live(20)
    with pytest.raises(dipsea.Shutdown):
        swarm.subscribe(20, key.public_key)
    with pytest.raises(dipsea.Shutdown):
        swarm.subscribe_peers(99, Id.random())
    with pytest.raises(dipsea.Shutdown):
        swarm.put_mutable(1000, key, b"v", seq=1)
    with pytest.raises(dipsea.Shutdown):
        swarm.announce(1000, Id.random())
    with pytest.raises(ValueError):
        swarm.subscribe_peers(0, b"short")
    assert swarm.is_live(0)
    assert swarm.put_mutable(0, key, b"v2", seq=2) > 0
    with pytest.raises(dipsea.SeqTooOld):
        swarm.put_mutable(1, key, b"v1", seq=1)


@pytest.mark.parametrize("partitioner", ["xor", "rendezvous", "ring"])
def test_a_one_hop_swarm_delivers_subscriptions_from_the_owners(partitioner: str) -> None:
    # A subscription asks the key's owners, which a put stores on.
    swarm = Swarm(nodes=60, seed=4, overlay="one-hop", partitioner=partitioner)
    swarm.advance(30)
    key = dipsea.Keypair.from_seed(bytes([7]) * 32)
    assert swarm.subscribe(3, key.public_key)
    assert swarm.put_mutable(5, key, b"to the owners", seq=1) > 0
    swarm.advance(10)
    assert [(node, seq) for node, seq, _ in swarm.take_updates()] == [(3, 1)]
