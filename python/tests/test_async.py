"""dipsea.AsyncNode: the same operations as awaitables on the engine's runtime."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Awaitable

import pytest

import dipsea
from conftest import LOOPBACK_TIMEOUT, seed_address, wait_until_async
from dipsea import AsyncNode, Id, Node


def test_async_node_joins_and_does_everything(network: list[Node]) -> None:
    async def main() -> None:
        async with AsyncNode(
            bind="127.0.0.1:0", no_default_routers=True, bootstrap=[seed_address(network)], query_timeout=LOOPBACK_TIMEOUT
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
            bind="127.0.0.1:0", no_default_routers=True,
            bootstrap=[seed_address(network)],
            query_timeout=LOOPBACK_TIMEOUT,
        ) as node:
            await node.bootstrap()
            return await asyncio.gather(*(node.get(keys[i % len(keys)]) for i in range(1000)))

    results = asyncio.run(main())
    assert results == [values[i % len(values)] for i in range(1000)]


def test_async_errors_are_the_same_classes() -> None:
    async def main() -> None:
        node = AsyncNode(bind="127.0.0.1:0", no_default_routers=True)
        with pytest.raises(dipsea.NoRoute):
            await node.put(b"nowhere")
        with pytest.raises(ValueError):
            node.get(b"short")
        with pytest.raises(TypeError):
            node.put("text")  # type: ignore[arg-type]
        await node.close()
        with pytest.raises(dipsea.Shutdown):
            node.get(Id.random())

    asyncio.run(main())


def test_async_timeout_and_cancellation() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    host, port = silent.getsockname()

    async def main() -> None:
        node = AsyncNode(bind="127.0.0.1:0", no_default_routers=True, bootstrap=[f"{host}:{port}"], query_timeout=(0.1, 0.1))
        with pytest.raises(dipsea.Timeout):
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
        node = AsyncNode(bind="127.0.0.1:0", no_default_routers=True, bootstrap=[f"{host}:{port}"], query_timeout=(5.0, 5.0))
        address = node.address
        pending = asyncio.ensure_future(node.bootstrap())
        await wait_until_async(lambda: node.stats()["in_flight"] > 0, "the bootstrap query is in flight")
        await node.close()
        with pytest.raises(dipsea.Shutdown):
            await asyncio.wait_for(pending, timeout=5)
        return address

    host2, port2 = asyncio.run(main())
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind((host2, port2))
    probe.close()
    silent.close()


def test_a_node_built_outside_a_loop_works_inside_one(network: list[Node]) -> None:
    node = AsyncNode(bind="127.0.0.1:0", no_default_routers=True, bootstrap=[seed_address(network)], query_timeout=LOOPBACK_TIMEOUT)
    key = network[0].put(b"outside")

    async def main() -> bytes | None:
        await node.bootstrap()
        value = await node.get(key)
        await node.close()
        return value

    assert asyncio.run(main()) == b"outside"


def silent_peer() -> socket.socket:
    """A UDP socket on loopback that never answers: a ping to it stays in flight
    until its query timeout."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    return silent


def test_cancelling_in_flight_calls_leaves_the_loop_and_node_working(network: list[Node]) -> None:
    silent = silent_peer()
    key = network[5].put(b"after the cancellations")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop_errors: list[dict[str, object]] = []
        loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
        # Pings to the silent peer stay in flight for a few query timeouts (retries).
        node = AsyncNode(bind="127.0.0.1:0", no_default_routers=True, bootstrap=[seed_address(network)], query_timeout=(0.3, 0.3))
        await node.bootstrap()
        pings = [asyncio.ensure_future(node.ping(silent.getsockname())) for _ in range(100)]
        tasks = [asyncio.ensure_future(node.ping(silent.getsockname())) for _ in range(100)]
        await wait_until_async(lambda: node.stats()["in_flight"] >= 200, "the 200 pings are in flight")
        assert not any(p.done() for p in pings + tasks)
        # Cancel the futures themselves, and tasks that wait on them (wait_for).
        for p in pings[::2]:
            assert p.cancel()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(node.ping(silent.getsockname()), timeout=0.01)
        results = await asyncio.gather(*pings, *tasks, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results[:100:2])
        # The others time out: the same exception class as before the cancellations.
        assert all(isinstance(r, dipsea.Timeout) for r in results[1:100:2] + results[100:])
        # The cancelled calls' queries time out after their futures were cancelled:
        # nothing is delivered for them, and nothing reported to the loop. The get
        # runs the loop past the moment a late result would have come.
        await wait_until_async(lambda: node.stats()["in_flight"] == 0, "every ping's query is over")
        assert await node.get(key) == b"after the cancellations"
        assert loop_errors == []
        await node.close()

    asyncio.run(main())
    silent.close()


def test_exceptions_of_many_calls_keep_their_classes() -> None:
    silent = silent_peer()

    async def main() -> None:
        lonely = AsyncNode(bind="127.0.0.1:0", no_default_routers=True)
        results = await asyncio.gather(*(lonely.get(Id.random()) for _ in range(200)), return_exceptions=True)
        assert len(results) == 200
        assert all(type(r) is dipsea.NoRoute for r in results)
        node = AsyncNode(bind="127.0.0.1:0", no_default_routers=True, query_timeout=(0.05, 0.05))
        timeouts = await asyncio.gather(*(node.ping(silent.getsockname()) for _ in range(50)), return_exceptions=True)
        assert all(type(r) is dipsea.Timeout for r in timeouts)
        with pytest.raises(TimeoutError):
            await node.ping(silent.getsockname())
        await asyncio.gather(lonely.close(), node.close())

    asyncio.run(main())
    silent.close()


def test_closing_the_node_fails_every_pending_call() -> None:
    silent = silent_peer()

    async def main() -> None:
        node = AsyncNode(bind="127.0.0.1:0", no_default_routers=True, query_timeout=(5.0, 5.0))
        pending = [asyncio.ensure_future(node.ping(silent.getsockname())) for _ in range(300)]
        await wait_until_async(lambda: node.stats()["in_flight"] >= 300, "the 300 pings are in flight")
        assert not any(p.done() for p in pending)
        started = asyncio.get_running_loop().time()
        await node.close()
        results = await asyncio.gather(*pending, return_exceptions=True)
        assert all(type(r) is dipsea.Shutdown for r in results)
        assert asyncio.get_running_loop().time() - started < 2.0
        with pytest.raises(dipsea.Shutdown):
            node.ping(silent.getsockname())

    asyncio.run(main())
    silent.close()


def test_a_loop_closed_with_calls_pending_does_not_break_the_next(network: list[Node]) -> None:
    silent = silent_peer()
    node = AsyncNode(bind="127.0.0.1:0", no_default_routers=True, bootstrap=[seed_address(network)], query_timeout=(0.1, 0.1))
    key = network[7].put(b"second loop")
    started: list[asyncio.Task[dipsea.Id]] = []
    calls: list[Awaitable[dipsea.Id]] = []

    async def ping() -> dipsea.Id:
        call = node.ping(silent.getsockname())
        calls.append(call)
        return await call

    async def leave_pending() -> None:
        await node.bootstrap()
        # asyncio.run cancels the tasks left and closes the loop; the results come later.
        started.extend(asyncio.create_task(ping()) for _ in range(50))
        await wait_until_async(lambda: len(calls) == 50, "the 50 pings are sent")

    async def next_loop() -> bytes | None:
        # The first loop's pings time out meanwhile.
        await wait_until_async(lambda: node.stats()["in_flight"] == 0, "every ping's query is over")
        value = await node.get(key)
        await node.close()
        return value

    asyncio.run(leave_pending())
    assert len(started) == 50 and all(t.cancelled() for t in started)
    assert asyncio.run(next_loop()) == b"second loop"
    silent.close()


def test_one_node_serves_loops_in_several_threads(network: list[Node]) -> None:
    values = [os.urandom(16) for _ in range(40)]
    keys = [network[i % len(network)].put(v) for i, v in enumerate(values)]
    node = AsyncNode(bind="127.0.0.1:0", no_default_routers=True, bootstrap=[seed_address(network)], query_timeout=LOOPBACK_TIMEOUT)
    results: dict[int, list[bytes | None]] = {}

    async def gets() -> list[bytes | None]:
        await node.bootstrap()
        return await asyncio.gather(*(node.get(k) for k in keys * 5))

    def run(i: int) -> None:
        results[i] = asyncio.run(gets())

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, 1, 2, 3]
    assert all(r == values * 5 for r in results.values())

    async def close() -> None:
        await node.close()

    asyncio.run(close())
    assert node.closed


def test_calls_need_a_running_loop() -> None:
    node = AsyncNode(bind="127.0.0.1:0", no_default_routers=True)
    with pytest.raises(RuntimeError):
        node.get(Id.random())

    async def close() -> None:
        await node.close()

    asyncio.run(close())
    assert node.closed


def test_cancelling_a_call_cancels_its_operation() -> None:
    """A cancelled call sends nothing more: its query is not retried.

    This runs on real sockets and real time, since what it checks is the binding's
    path from a cancelled asyncio future to the node; a short query timeout (0.1 s)
    keeps it quick, and a deadline bounds every wait. That a cancelled operation sends
    no retry is also checked in virtual time on the sans-I/O node
    (``tests/node_cancel.rs``)."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    silent.setblocking(False)
    host, port = silent.getsockname()

    async def main() -> None:
        # No bootstrap address: the node sends nothing of its own accord.
        async with AsyncNode(bind="127.0.0.1:0", no_default_routers=True, query_timeout=(0.1, 0.1)) as node:
            call = asyncio.ensure_future(node.ping((host, port)))
            await wait_until_async(lambda: node.stats()["in_flight"] == 1, "the ping is in flight")
            call.cancel()
            # The query times out (0.1 s) and is counted as a timeout. Had the
            # operation lived on, the query would have been sent again at that moment
            # (counted in "retries") and counted as a timeout only after the retry.
            await wait_until_async(lambda: node.stats()["timeouts"] >= 1, "the ping's query timed out")
            await wait_until_async(lambda: node.stats()["in_flight"] == 0, "nothing is in flight")
            assert node.stats()["retries"] == 0

    asyncio.run(main())
    received = 0
    while True:
        try:
            silent.recv(1500)
        except BlockingIOError:
            break
        received += 1
    silent.close()
    assert received == 1


def test_calls_follow_the_loop_running_now() -> None:
    """A thread's calls go to the loop running at the time: one loop run, stopped
    and run again, another loop in between, and no loop at all between runs. (The
    bridge remembers a thread's last loop; a future made for a loop that is not
    the running one would fail the await with RuntimeError.)"""
    node = AsyncNode(bind="127.0.0.1:0", no_default_routers=True)
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()

    async def call() -> None:
        # No contacts: the put fails at once, through the running loop's bridge.
        with pytest.raises(dipsea.NoRoute):
            await node.put(b"which loop")

    async def close() -> None:
        await node.close()

    try:
        for loop in (first, first, second, first):
            loop.run_until_complete(call())
            with pytest.raises(RuntimeError):
                node.get(Id.random())
        first.run_until_complete(close())
    finally:
        first.close()
        second.close()
    assert node.closed
