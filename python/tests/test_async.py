"""dipsea.AsyncNode: the same operations as awaitables on the engine's runtime."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

import dipsea
from conftest import LOOPBACK_TIMEOUT, seed_address
from dipsea import AsyncNode, Id, Node


def test_async_node_joins_and_does_everything(network: list[Node]) -> None:
    async def main() -> None:
        async with AsyncNode(
            bind="127.0.0.1:0", bootstrap=[seed_address(network)], query_timeout=LOOPBACK_TIMEOUT
        ) as node:
            assert await node.bootstrap() >= 8
            key = await node.put(b"from asyncio")
            assert network[11].get(key) == b"from asyncio"
            assert await node.get(network[12].put(b"to asyncio")) == b"to asyncio"
            assert await node.get(Id.random()) is None
            info_hash = Id.random()
            assert await node.announce(info_hash, port=7000) >= 1
            assert ("127.0.0.1", 7000) in await node.get_peers(info_hash)
            found = await node.find_node(network[3].id)
            assert found[0] == (network[3].id, network[3].address)
            assert await node.ping(network[0].address) == network[0].id
            assert node.stats()["ops_done"] >= 8
            assert len(node.routing_table()) >= 8
        assert node.closed

    asyncio.run(main())


def test_gather_of_1000_gets(network: list[Node]) -> None:
    values = [os.urandom(24) for _ in range(50)]
    keys = [network[i % len(network)].put(v) for i, v in enumerate(values)]

    async def main() -> list[bytes | None]:
        # 1,000 lookups want up to 3,000 queries in flight, more than the default
        # bound of 1,024: the node paces them and every get still succeeds.
        async with AsyncNode(
            bind="127.0.0.1:0",
            bootstrap=[seed_address(network)],
            query_timeout=LOOPBACK_TIMEOUT,
        ) as node:
            await node.bootstrap()
            return await asyncio.gather(*(node.get(keys[i % len(keys)]) for i in range(1000)))

    results = asyncio.run(main())
    assert results == [values[i % len(values)] for i in range(1000)]


def test_async_errors_are_the_same_classes() -> None:
    async def main() -> None:
        node = AsyncNode(bind="127.0.0.1:0")
        with pytest.raises(dipsea.NoRoute):
            await node.put(b"nowhere")
        with pytest.raises(ValueError):
            node.get(b"short")
        with pytest.raises(TypeError):
            node.put("text")  # type: ignore[arg-type]
        await node.close()
        with pytest.raises(dipsea.NodeClosed):
            node.get(Id.random())

    asyncio.run(main())


def test_async_timeout_and_cancellation() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    host, port = silent.getsockname()

    async def main() -> None:
        node = AsyncNode(bind="127.0.0.1:0", bootstrap=[f"{host}:{port}"], query_timeout=(0.1, 0.1))
        with pytest.raises(dipsea.DhtTimeout):
            await node.bootstrap()
        # Cancelling abandons the wait; the node keeps working.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(node.bootstrap(), timeout=0.01)
        with pytest.raises(TimeoutError):
            await node.bootstrap()
        await node.close()

    asyncio.run(main())
    silent.close()


def test_close_fails_awaits_in_flight_and_frees_the_port() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    host, port = silent.getsockname()

    async def main() -> tuple[str, int]:
        node = AsyncNode(bind="127.0.0.1:0", bootstrap=[f"{host}:{port}"], query_timeout=(5.0, 5.0))
        address = node.address
        pending = asyncio.ensure_future(node.bootstrap())
        await asyncio.sleep(0.1)
        await node.close()
        with pytest.raises(dipsea.NodeClosed):
            await asyncio.wait_for(pending, timeout=5)
        return address

    host2, port2 = asyncio.run(main())
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind((host2, port2))
    probe.close()
    silent.close()


def test_a_node_built_outside_a_loop_works_inside_one(network: list[Node]) -> None:
    node = AsyncNode(bind="127.0.0.1:0", bootstrap=[seed_address(network)], query_timeout=LOOPBACK_TIMEOUT)
    key = network[0].put(b"outside")

    async def main() -> bytes | None:
        await node.bootstrap()
        value = await node.get(key)
        await node.close()
        return value

    assert asyncio.run(main()) == b"outside"
