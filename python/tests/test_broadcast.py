"""Broadcast and key-range multicast from Python: Node.broadcast, the
accept_broadcasts option, and the Broadcasts / AsyncBroadcasts receivers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

import dipsea
from conftest import LOOPBACK_TIMEOUT, WAIT_S, wait_until
from dipsea import AsyncNode, Broadcast, Keypair, Node

ORIGIN = Keypair.from_seed(b"\x01" * 32)
"""The origin every node of the module's network accepts."""


def start(n: int, accept: dipsea._dipsea._AcceptBroadcasts | None) -> list[Node]:
    """``n`` loopback nodes with ``accept_broadcasts=accept``, each bootstrapped
    from the first and joined twice."""
    seed = Node(
        bind="127.0.0.1:0", no_default_routers=True, query_timeout=LOOPBACK_TIMEOUT,
        accept_broadcasts=accept,
    )
    host, port = seed.address
    nodes = [seed]
    for _ in range(n - 1):
        nodes.append(
            Node(
                bind="127.0.0.1:0", bootstrap=[f"{host}:{port}"],
                query_timeout=LOOPBACK_TIMEOUT, accept_broadcasts=accept,
            )
        )
    for _ in range(2):
        for node in nodes[1:]:
            node.bootstrap()
    return nodes


@pytest.fixture(scope="module")
def accepting() -> Iterator[list[Node]]:
    """8 joined nodes that accept the broadcasts of ORIGIN only."""
    nodes = start(8, [ORIGIN.public_key])
    yield nodes
    for node in nodes:
        node.close()


def receive(r: dipsea.Broadcasts, payload: bytes) -> Broadcast:
    """The next broadcast of ``payload`` on ``r``, skipping others: a receiver made
    just after a delivery may still get that broadcast (the node counts a delivery
    before it hands it to the receivers)."""
    while True:
        b = r.get(timeout=WAIT_S)
        assert b is not None
        if b.payload == payload:
            return b


def assert_none_of(r: dipsea.Broadcasts, payload: bytes) -> None:
    """Fails if a broadcast of ``payload`` is waiting on ``r``; takes every waiting
    one."""
    while True:
        try:
            b = r.get(timeout=0)
        except dipsea.Timeout:
            return
        assert b is not None and b.payload != payload


def delivered(node: Node) -> int:
    value = node.stats()["broadcasts_delivered"]
    assert isinstance(value, int)
    return value


def test_a_broadcast_reaches_every_other_node_once(accepting: list[Node]) -> None:
    before = [delivered(n) for n in accepting]
    receivers = [n.broadcasts() for n in accepting[1:]]
    sent = accepting[0].broadcast(ORIGIN, b"hello, everyone", seq=7)
    assert sent >= 1
    for r in receivers:
        with r:
            b = r.get(timeout=WAIT_S)
            assert isinstance(b, Broadcast)
            assert b.origin == ORIGIN.public_key
            assert b.seq == 7
            assert b.payload == b"hello, everyone"
            assert (b.prefix, b.prefix_bits, b.range) == (b"", 0, "*")
            assert len(b.signature) == 64
            assert "seq=7" in repr(b)
            # Delivered once: nothing else waits.
            with pytest.raises(dipsea.Timeout):
                r.get(timeout=0)
        assert r.closed
        assert r.get() is None
    for node, count in zip(accepting[1:], before[1:]):
        wait_until(lambda: delivered(node) == count + 1, "one delivery per node")
    assert delivered(accepting[0]) == before[0], "the origin does not deliver to itself"
    assert accepting[0].stats()["broadcasts_started"] >= 1
    assert accepting[0].stats()["broadcasts_forwarded"] >= 1


def test_automatic_sequence_numbers_increase(accepting: list[Node]) -> None:
    with accepting[5].broadcasts() as r:
        accepting[2].broadcast(ORIGIN, b"first")
        accepting[2].broadcast(ORIGIN, b"second")
        first = receive(r, b"first")
        second = receive(r, b"second")
    assert first.seq < second.seq


def test_a_multicast_reaches_its_range_only(accepting: list[Node]) -> None:
    # The half of the id space that holds node 3: its first bit.
    prefix = bytes(accepting[3].id)[:1]
    inside = [n for n in accepting[1:] if bytes(n.id)[0] >> 7 == prefix[0] >> 7]
    outside = [n for n in accepting[1:] if n not in inside]
    receivers = [n.broadcasts() for n in inside]
    # Receivers, not delivery counts, outside: the earlier tests' broadcasts may still
    # be arriving there.
    watchers = [n.broadcasts() for n in outside]
    assert accepting[0].broadcast(ORIGIN, b"half of you", prefix=prefix, prefix_bits=1) >= 1
    for r in receivers:
        with r:
            b = receive(r, b"half of you")
            assert b.prefix_bits == 1
            assert b.prefix == bytes([prefix[0] & 0x80])
            assert b.range == f"{prefix[0] & 0x80:02x}"[0] + "/1"
    # Every node of the range has it; a stray copy outside would have come by now.
    time.sleep(0.2)
    for w in watchers:
        with w:
            assert_none_of(w, b"half of you")


def test_iteration_and_close(accepting: list[Node]) -> None:
    r = accepting[4].broadcasts()
    accepting[1].broadcast(ORIGIN, b"iterate me")
    for b in r:
        if b.payload == b"iterate me":
            break
    r.close()
    r.close()
    assert r.closed
    assert list(r) == []


def test_origins_not_allowed_are_refused(accepting: list[Node]) -> None:
    stranger = Keypair.from_seed(b"\x02" * 32)
    refused_before = sum(n.stats()["broadcasts_refused"] for n in accepting[1:])
    with accepting[6].broadcasts() as r:
        accepting[0].broadcast(stranger, b"let me in")
        wait_until(
            lambda: sum(n.stats()["broadcasts_refused"] for n in accepting[1:]) > refused_before,
            "a node refused the stranger's broadcast",
        )
        assert_none_of(r, b"let me in")


def test_closing_the_node_ends_a_blocked_iteration() -> None:
    node = Node(bind="127.0.0.1:0", no_default_routers=True, accept_broadcasts="open")
    r = node.broadcasts()
    seen: list[Broadcast] = []
    ended = threading.Event()

    def iterate() -> None:
        seen.extend(r)
        ended.set()

    thread = threading.Thread(target=iterate)
    thread.start()
    node.close()
    assert ended.wait(WAIT_S), "iteration ended with the node"
    thread.join()
    assert seen == []
    assert r.closed


def test_bad_arguments_are_bad_input(accepting: list[Node]) -> None:
    node = accepting[0]
    with pytest.raises(dipsea.BadInput):
        node.broadcast(ORIGIN, b"x" * 1025)
    with pytest.raises(dipsea.BadInput):
        node.broadcast(ORIGIN, b"x", prefix="3g")
    with pytest.raises(dipsea.BadInput):
        node.broadcast(ORIGIN, b"x", prefix=b"\x00" * 21)
    with pytest.raises(dipsea.BadInput):
        node.broadcast(ORIGIN, b"x", prefix="3a", prefix_bits=9)
    with pytest.raises(dipsea.BadInput):
        node.broadcast(ORIGIN, b"x", prefix_bits=3)
    with pytest.raises(ValueError):
        Node(bind="127.0.0.1:0", no_default_routers=True, accept_broadcasts="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Node(bind="127.0.0.1:0", no_default_routers=True, accept_broadcasts=[b"short"])
    with pytest.raises(ValueError):
        node.broadcasts().get(timeout=-1)


def test_broadcast_bounds_are_options() -> None:
    defaults = dipsea.default_options()
    assert defaults["broadcast.beta"] == 2
    assert defaults["broadcast.per_origin.burst"] == 10
    with Node(
        bind="127.0.0.1:0", no_default_routers=True,
        options={"broadcast.beta": 3, "broadcast.per_ip.per_sec": 50},
    ) as node:
        assert node.stats()["broadcasts_started"] == 0
    with pytest.raises(ValueError):
        Node(bind="127.0.0.1:0", no_default_routers=True, options={"broadcast.beta": 0})


def test_async_broadcasts(accepting: list[Node]) -> None:
    host, port = accepting[0].address

    async def main() -> None:
        async with AsyncNode(
            bind="127.0.0.1:0", bootstrap=[f"{host}:{port}"],
            query_timeout=LOOPBACK_TIMEOUT, accept_broadcasts=[ORIGIN.public_key],
        ) as node:
            await node.bootstrap()
            await node.bootstrap()
            # Received from the blocking network...
            async with node.broadcasts() as r:
                await asyncio.to_thread(accepting[2].broadcast, ORIGIN, b"to asyncio")
                b = await asyncio.wait_for(r.__anext__(), WAIT_S)
                assert b.payload == b"to asyncio"
                assert b.origin == ORIGIN.public_key
            assert r.closed
            with pytest.raises(StopAsyncIteration):
                await r.__anext__()
            # ...and sent to it.
            with accepting[7].broadcasts() as blocking:
                assert await node.broadcast(ORIGIN, b"from asyncio", prefix="") >= 1
                got = await asyncio.to_thread(receive, blocking, b"from asyncio")
                assert got.origin == ORIGIN.public_key
            # async for, and close() ending a pending wait.
            r = node.broadcasts()
            await asyncio.to_thread(accepting[3].broadcast, ORIGIN, b"loop")
            async for b in r:
                assert b.payload == b"loop"
                break
            pending = asyncio.ensure_future(r.__anext__())
            await asyncio.sleep(0)
            r.close()
            with pytest.raises(StopAsyncIteration):
                await asyncio.wait_for(pending, WAIT_S)
            # A cancelled wait loses nothing.
            r = node.broadcasts()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(r.__anext__(), 0.01)
            await asyncio.to_thread(accepting[4].broadcast, ORIGIN, b"after cancel")
            b = await asyncio.wait_for(r.__anext__(), WAIT_S)
            assert b.payload == b"after cancel"

    asyncio.run(main())
