"""The one-hop overlay on UDP (``Node(overlay="one-hop", ...)``): members learn each
other, a put is found by a get from any member, items outlive the members that
stored them (handed off), bad settings are refused."""

from __future__ import annotations

import asyncio

import pytest

import dipsea
from conftest import LOOPBACK_TIMEOUT, wait_until

# All members share 127.0.0.1: lift the per-IP broadcast rate, or most join
# announcements are refused.
OPTIONS: dict[str, bool | int | float] = {
    "broadcast.per_ip.per_sec": 10_000,
    "broadcast.per_ip.burst": 10_000,
}


def member(bootstrap: list[str] | None = None) -> dipsea.Node:
    return dipsea.Node(
        bind="127.0.0.1:0",
        bootstrap=bootstrap,
        no_default_routers=True,
        query_timeout=LOOPBACK_TIMEOUT,
        network="py-cluster",
        overlay="one-hop",
        partitioner="rendezvous",
        replicas=3,
        options=OPTIONS,
    )


def test_members_converge_and_gets_find_puts() -> None:
    seed = member()
    host, port = seed.address
    nodes = [seed] + [member([f"{host}:{port}"]) for _ in range(4)]
    try:
        wait_until(lambda: all(n.stats()["members"] == 5 for n in nodes), "five members everywhere", timeout=30.0)
        keys = [nodes[i].put(f"value {i}".encode()) for i in range(5)]
        for i, key in enumerate(keys):
            assert nodes[(i + 2) % 5].get(key) == f"value {i}".encode()
        assert sum(n.stats()["members_forged"] for n in nodes) == 0
    finally:
        for node in nodes:
            node.close()


def test_items_outlive_the_members_that_stored_them() -> None:
    seed = member()
    host, port = seed.address
    first = [seed] + [member([f"{host}:{port}"]) for _ in range(2)]
    later: list[dipsea.Node] = []
    try:
        wait_until(lambda: all(n.stats()["members"] == 3 for n in first), "three members", timeout=30.0)
        keys = [first[i % 3].put(f"kept {i}".encode()) for i in range(20)]
        later = [member([f"{host}:{port}"]) for _ in range(3)]
        wait_until(lambda: all(n.stats()["members"] == 6 for n in first + later), "six members", timeout=30.0)
        # Each of the three that were sent the puts hands its items on as it leaves.
        for node in first:
            node.close()
        wait_until(lambda: all(n.stats()["members"] == 3 for n in later), "three left", timeout=30.0)
        for i, key in enumerate(keys):
            assert later[i % 3].get(key) == f"kept {i}".encode()
        assert all(n.stats()["handoff_queued"] == 0 for n in later)
    finally:
        for node in first + later:
            node.close()


def test_async_node_joins_a_cluster() -> None:
    seed = member()
    host, port = seed.address

    async def run() -> bytes | None:
        node = dipsea.AsyncNode(
            bind="127.0.0.1:0",
            bootstrap=[f"{host}:{port}"],
            query_timeout=LOOPBACK_TIMEOUT,
            network="py-cluster",
            overlay="one-hop",
            replicas=2,
            options=OPTIONS,
        )
        try:
            for _ in range(2_000):
                if node.stats()["members"] == 2 and seed.stats()["members"] == 2:
                    break
                await asyncio.sleep(0.005)
            key = await node.put(b"from asyncio")
            return seed.get(key)
        finally:
            node.close()

    try:
        assert asyncio.run(run()) == b"from asyncio"
    finally:
        seed.close()


def test_bad_one_hop_settings_are_refused() -> None:
    with pytest.raises(dipsea.BadInput, match="network"):
        dipsea.Node(bind="127.0.0.1:0", no_default_routers=True, overlay="one-hop")
    with pytest.raises(dipsea.BadInput, match="one-hop"):
        dipsea.Node(bind="127.0.0.1:0", no_default_routers=True, partitioner="ring")
    with pytest.raises(dipsea.BadInput, match="overlay"):
        # Not an overlay the stubs allow: checked at run time as well.
        dipsea.Node(bind="127.0.0.1:0", no_default_routers=True, overlay="chord", network="x")  # type: ignore[arg-type]
    with pytest.raises(dipsea.BadInput, match="partitioner"):
        dipsea.Node(
            bind="127.0.0.1:0", no_default_routers=True, overlay="one-hop", network="x", partitioner="maglev"
        )
