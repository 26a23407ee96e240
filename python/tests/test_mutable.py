"""BEP 44 mutable items from Python: put_mutable and get_mutable on Node and
AsyncNode, salts, automatic and explicit sequence numbers, CAS and stale-seq errors.

These tests run on a network of their own: the refusals they provoke (301, 302) would
show in the counters other tests check on the shared one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

import dipsea
from conftest import LOOPBACK_TIMEOUT, seed_address, start_network
from dipsea import AsyncNode, Keypair, MutableItem, Node


@pytest.fixture(scope="module")
def network() -> Iterator[list[Node]]:
    """12 joined nodes on loopback for this module's tests."""
    nodes = start_network(12)
    yield nodes
    for node in nodes:
        node.close()


def test_put_update_and_get_from_other_nodes(network: list[Node]) -> None:
    keypair = Keypair.random()
    assert network[1].put_mutable(keypair, b"first") == 1
    assert network[2].put_mutable(keypair, b"second") == 2
    item = network[5].get_mutable(keypair.public_key)
    assert isinstance(item, MutableItem)
    assert (item.value, item.seq) == (b"second", 2)
    assert len(item.signature) == 64
    assert (item.public_key, item.salt) == (keypair.public_key, b"")
    assert "seq=2" in repr(item)


def test_salts_are_separate_items(network: list[Node]) -> None:
    keypair = Keypair.random()
    assert network[3].put_mutable(keypair, b"online", salt=b"status") == 1
    item = network[7].get_mutable(keypair.public_key, salt=b"status")
    assert item is not None and item.value == b"online" and item.salt == b"status"
    assert network[7].get_mutable(keypair.public_key, salt=b"other") is None
    assert network[7].get_mutable(keypair.public_key, salt=b"status", min_seq=2) is None


def test_cas_mismatch_and_old_seq_are_typed_errors(network: list[Node]) -> None:
    keypair = Keypair.random()
    assert network[4].put_mutable(keypair, b"ten", seq=10) == 10
    with pytest.raises(dipsea.CasMismatch):
        network[4].put_mutable(keypair, b"eleven", seq=11, cas=9)
    with pytest.raises(dipsea.SeqTooOld) as info:
        network[4].put_mutable(keypair, b"five", seq=5)
    assert isinstance(info.value, dipsea.NotStored)
    assert network[4].put_mutable(keypair, b"eleven", cas=10) == 11
    item = network[9].get_mutable(keypair.public_key, min_seq=11)
    assert item is not None and item.value == b"eleven"


def test_bad_arguments_are_bad_input(network: list[Node]) -> None:
    keypair = Keypair.random()
    with pytest.raises(dipsea.BadInput):
        network[1].put_mutable(keypair, b"x", salt=bytes(65))
    with pytest.raises(dipsea.BadInput):
        network[1].put_mutable(keypair, bytes(1000))
    with pytest.raises(ValueError):
        network[1].get_mutable(b"short")


def test_async_put_and_get_mutable(network: list[Node]) -> None:
    async def main() -> None:
        async with AsyncNode(
            bind="127.0.0.1:0", no_default_routers=True, bootstrap=[seed_address(network)], query_timeout=LOOPBACK_TIMEOUT
        ) as node:
            await node.bootstrap()
            keypair = Keypair.random()
            assert await node.put_mutable(keypair, b"async", salt=b"s") == 1
            item = network[6].get_mutable(keypair.public_key, salt=b"s")
            assert item is not None and item.value == b"async"
            assert network[6].put_mutable(keypair, b"sync", salt=b"s") == 2
            got = await node.get_mutable(keypair.public_key, salt=b"s")
            assert got is not None and (got.value, got.seq) == (b"sync", 2)
            with pytest.raises(dipsea.CasMismatch):
                await node.put_mutable(keypair, b"stale", salt=b"s", cas=1)

    asyncio.run(main())
