"""Subscriptions to a mutable item from Python: Node.subscribe (a blocking iterator
and context manager) and AsyncNode.subscribe (an async iterator and async context
manager), yielding MutableItem versions as get_mutable does; Node.subscribe_peers and
AsyncNode.subscribe_peers, yielding each peer of an info-hash once as (host, port)."""

from __future__ import annotations

import asyncio

import pytest

import dipsea
from conftest import LOOPBACK_TIMEOUT, WAIT_S, seed_address
from dipsea import AsyncNode, Keypair, MutableItem, Node


def test_a_subscription_sees_each_new_version(network: list[Node]) -> None:
    keypair = Keypair.random()
    network[1].put_mutable(keypair, b"version 1", seq=1)
    with network[9].subscribe(keypair.public_key) as sub:
        network[1].put_mutable(keypair, b"version 2", seq=2)
        network[1].put_mutable(keypair, b"version 3", seq=3)
        last = 0
        while last < 3:
            item = sub.get(timeout=WAIT_S)
            assert isinstance(item, MutableItem)
            assert item.seq > last, "each version once, in order"
            assert item.value == b"version %d" % item.seq
            assert item.public_key == keypair.public_key
            assert item.salt == b""
            last = item.seq
        with pytest.raises(dipsea.Timeout):
            sub.get(timeout=0)
    assert sub.closed
    assert sub.get() is None
    assert list(sub) == []


def test_iterating_a_salted_subscription(network: list[Node]) -> None:
    keypair = Keypair.random()
    sub = network[4].subscribe(keypair.public_key, salt=b"topic")
    network[2].put_mutable(keypair, b"on topic", salt=b"topic", seq=5)
    # Another salt is another item: not delivered here.
    network[2].put_mutable(keypair, b"elsewhere", salt=b"other", seq=6)
    for item in sub:
        assert (item.seq, item.value, item.salt) == (5, b"on topic", b"topic")
        break
    sub.close()
    sub.close()
    assert sub.closed


def test_bad_subscriptions_raise(network: list[Node]) -> None:
    with pytest.raises(dipsea.BadInput):
        network[0].subscribe(b"short")
    with pytest.raises(dipsea.BadInput):
        network[0].subscribe(Keypair.random().public_key, salt=b"s" * 65)


def test_async_subscription(network: list[Node]) -> None:
    keypair = Keypair.random()

    async def main() -> None:
        async with AsyncNode(
            bind="127.0.0.1:0", bootstrap=[seed_address(network)], query_timeout=LOOPBACK_TIMEOUT
        ) as node:
            await node.bootstrap()
            async with node.subscribe(keypair.public_key, salt=b"news") as sub:
                await asyncio.to_thread(
                    network[3].put_mutable, keypair, b"version 1", salt=b"news", seq=1
                )
                first = await asyncio.wait_for(sub.__anext__(), WAIT_S)
                assert (first.seq, first.value, first.salt) == (1, b"version 1", b"news")
                await asyncio.to_thread(
                    network[3].put_mutable, keypair, b"version 2", salt=b"news", seq=2
                )
                async for item in sub:
                    assert item.seq == 2 and item.value == b"version 2"
                    break
            assert sub.closed
            with pytest.raises(StopAsyncIteration):
                await sub.__anext__()
            # Subscribing lazily: the first __anext__ subscribes; close() ends a
            # pending wait.
            lazy = node.subscribe(keypair.public_key, salt=b"news")
            pending = asyncio.ensure_future(lazy.__anext__())
            current = await asyncio.wait_for(pending, WAIT_S)
            assert current.seq == 2, "the current version comes first"
            pending = asyncio.ensure_future(lazy.__anext__())
            await asyncio.sleep(0)
            lazy.close()
            with pytest.raises(StopAsyncIteration):
                await asyncio.wait_for(pending, WAIT_S)
            # The lookup's errors are raised where it runs.
            with pytest.raises(dipsea.BadInput):
                async with node.subscribe(keypair.public_key, salt=b"s" * 65):
                    pass
            with pytest.raises(dipsea.BadInput):
                node.subscribe(b"short")

    asyncio.run(main())


def test_a_peer_subscription_sees_each_peer_once(network: list[Node]) -> None:
    info_hash = dipsea.Id.random()
    network[5].announce(info_hash, 6001)
    with network[8].subscribe_peers(info_hash) as sub:
        # The peer stored already comes first, then each one announced after.
        assert sub.get(timeout=WAIT_S) == ("127.0.0.1", 6001)
        network[6].announce(info_hash, 6002)
        network[5].announce(info_hash, 6001)
        network[7].announce(info_hash, 6003)
        got = {sub.get(timeout=WAIT_S), sub.get(timeout=WAIT_S)}
        assert got == {("127.0.0.1", 6002), ("127.0.0.1", 6003)}
        with pytest.raises(dipsea.Timeout):
            sub.get(timeout=0.2)
    assert sub.closed
    assert list(sub) == []
    with pytest.raises(dipsea.BadInput):
        network[0].subscribe_peers(b"short")


def test_async_peer_subscription(network: list[Node]) -> None:
    info_hash = dipsea.Id.random()

    async def main() -> None:
        async with AsyncNode(
            bind="127.0.0.1:0", bootstrap=[seed_address(network)], query_timeout=LOOPBACK_TIMEOUT
        ) as node:
            await node.bootstrap()
            async with node.subscribe_peers(info_hash) as sub:
                await asyncio.to_thread(network[3].announce, info_hash, 6100)
                peer = await asyncio.wait_for(sub.__anext__(), WAIT_S)
                assert peer == ("127.0.0.1", 6100)
            assert sub.closed
            with pytest.raises(StopAsyncIteration):
                await sub.__anext__()

    asyncio.run(main())
