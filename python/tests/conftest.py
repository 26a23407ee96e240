"""Fixtures: a loopback network of dipsea nodes started from Python."""

from __future__ import annotations

import asyncio
import faulthandler
import time
from collections.abc import Callable, Iterator

import pytest

import dipsea

# Loopback answers in microseconds: short query timeouts keep failure cases quick.
LOOPBACK_TIMEOUT = (0.05, 0.5)


# A test that hangs (a lookup that never ends, a simulator stuck in place) dumps
# every thread's stack and ends the run instead of stalling CI.
TEST_DEADLINE_S = 120


# How long a test waits for a condition (a query in flight, a counter moved) before
# it fails: loopback takes microseconds, a machine busy compiling much longer.
WAIT_S = 10.0

# Between two checks of a condition.
POLL_S = 0.005


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """Checks ``condition`` every few milliseconds until it holds; fails the test,
    naming ``what``, if it does not within ``timeout`` seconds. For synchronisation
    instead of fixed sleeps."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(POLL_S)


async def wait_until_async(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """:func:`wait_until` for a coroutine: the event loop runs between checks."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        await asyncio.sleep(POLL_S)


@pytest.fixture(autouse=True)
def deadline() -> Iterator[None]:
    faulthandler.dump_traceback_later(TEST_DEADLINE_S, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def start_network(n: int) -> list[dipsea.Node]:
    """Starts ``n`` nodes on 127.0.0.1, each bootstrapped from the first, and waits
    until each has joined (twice, so early joiners learn of later ones)."""
    seed = dipsea.Node(bind="127.0.0.1:0", no_default_routers=True, query_timeout=LOOPBACK_TIMEOUT)
    host, port = seed.address
    nodes = [seed]
    for _ in range(n - 1):
        nodes.append(
            dipsea.Node(
                bind="127.0.0.1:0", no_default_routers=True,
                bootstrap=[f"{host}:{port}"],
                query_timeout=LOOPBACK_TIMEOUT,
            )
        )
    for _ in range(2):
        for node in nodes[1:]:
            node.bootstrap()
    return nodes


def seed_address(nodes: list[dipsea.Node]) -> str:
    """``host:port`` of the network's first node, to bootstrap more nodes from."""
    host, port = nodes[0].address
    return f"{host}:{port}"


@pytest.fixture(scope="session")
def network() -> Iterator[list[dipsea.Node]]:
    """16 joined nodes on loopback, shared by the tests of the session."""
    nodes = start_network(16)
    yield nodes
    for node in nodes:
        node.close()
