"""The one-hop overlay simulator (``dipsea.OneHopSwarm``)."""

from __future__ import annotations

import pytest

import dipsea


def test_every_get_takes_one_round_trip_on_a_static_network() -> None:
    swarm = dipsea.OneHopSwarm(nodes=300, seed=2, partitioner="ring:16")
    swarm.run(100, 30.0)
    stats = swarm.stats()
    assert (stats["puts"], stats["gets"]) == (100, 100)
    assert stats["success_rate"] == 1.0
    assert stats["one_round_gets"] == 1.0
    assert stats["messages_per_get"] <= 1.0


def test_churn_spreads_membership_events() -> None:
    swarm = dipsea.OneHopSwarm(nodes=200, seed=4, session=600.0)
    swarm.advance(120.0)
    swarm.run(50, 30.0)
    stats = swarm.stats()
    assert stats["membership_events"] > 0
    assert stats["membership_bytes_per_node_per_s"] > 0
    assert stats["success_rate"] >= 0.99


def test_bad_arguments_raise_bad_input() -> None:
    with pytest.raises(dipsea.BadInput):
        dipsea.OneHopSwarm(nodes=2, replicas=3)
    with pytest.raises(dipsea.BadInput):
        dipsea.OneHopSwarm(partitioner="chord")
