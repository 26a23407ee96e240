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


def test_same_seed_same_run(values: list[bytes]) -> None:
    def run() -> dict[str, object]:
        swarm = Swarm(nodes=300, seed=3, latency=Latency.long_tail(0.03, 0.3), loss=0.02)
        for v in values[:10]:
            swarm.put(v)
        swarm.crash(0.2)
        swarm.advance(60)
        stats = swarm.stats()
        del stats["build_wall_ms"], stats["wall_ms"]
        return stats

    assert run() == run()


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
    with pytest.raises(ValueError, match="fraction must be between 0 and 1"):
        swarm.crash(1.5)
    with pytest.raises(ValueError, match="fraction must be between 0 and 1"):
        swarm.partition(-0.5)
    assert swarm.live == 20
