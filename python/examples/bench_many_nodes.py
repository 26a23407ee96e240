"""Many nodes in one process: puts and gets per second from Python (a benchmark, not
a test).

    python python/examples/bench_many_nodes.py [--nodes 100] [--ops 2000] [--in-flight 64]
        [--rust target/release/examples/cpu_per_op]

Starts ``--nodes`` nodes on 127.0.0.1 in this process, each bootstrapped from the
first, and runs, for each API and each shape, a put phase (``--ops`` distinct
100-byte values) and then a get phase (``--ops`` gets of the keys just stored):

- API ``AsyncNode``: the nodes are ``dipsea.AsyncNode``; ``--in-flight`` coroutines
  each issue their next operation when the last one ends;
- API ``Node``: the nodes are blocking ``dipsea.Node`` (one shared runtime);
  ``--in-flight`` Python threads do the same;
- shape ``spread``: each operation goes through a random node;
- shape ``one node``: every operation goes through the first node.

Each line reports operations per second, the share that succeeded (a put stored on
at least one node, a get found the very value), latency p50/p99 and the threads of
the process. With ``--rust`` (the ``cpu_per_op`` example of the benches, built with
``cargo build --release -p dipsea-benches --example cpu_per_op``) the same shapes run
from Rust in the same run first, and each Python line ends with its ratio to Rust.
Build the package in release mode (``pip install .`` or ``maturin develop --release``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import dipsea

VALUE_SIZE = 100
SHAPES = ("spread", "one node")


@dataclass
class Tally:
    """What one phase measured."""

    ok: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Threads of the process while the phase ran (all of them, from /proc).
    threads: int = 0

    def add(self, seconds: float, ok: bool) -> None:
        with self.lock:
            self.latencies.append(seconds)
            if ok:
                self.ok += 1
            else:
                self.failed += 1

    def line(self, label: str, wall: float, rust: float | None) -> str:
        total = self.ok + self.failed
        lat = sorted(self.latencies)

        def pct(p: float) -> float:
            return lat[min(len(lat) - 1, int(p * (len(lat) - 1)))] * 1e3 if lat else 0.0

        rate = total / wall
        ratio = f", {rate / rust:.0%} of Rust" if rust else ""
        return (
            f"{label:<34} {rate:>8,.0f}/s  success {self.ok / max(total, 1):.4f}  "
            f"p50 {pct(0.5):6.2f} ms  p99 {pct(0.99):6.2f} ms  threads {self.threads}{ratio}"
        )


def threading_count() -> int:
    """Threads of this process (all of them, from /proc), or 0 where unknown."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


def values(n: int, salt: str) -> list[bytes]:
    """``n`` distinct values of exactly ``VALUE_SIZE`` bytes."""
    return [(f"{salt} value {i} ".encode() * 20)[:VALUE_SIZE] for i in range(n)]


def pick(shape: str, nodes: Sequence[object], rng: random.Random) -> int:
    return 0 if shape == "one node" else rng.randrange(len(nodes))


# ----------------------------------------------------------------------------
# Rust, for the ratios


def rust_rates(binary: str, ops: int, in_flight: int) -> dict[tuple[str, str], float]:
    """Puts/s and gets/s of the ``cpu_per_op`` example for each shape."""
    rates: dict[tuple[str, str], float] = {}
    for shape, arg in (("spread", "spread"), ("one node", "one")):
        out = subprocess.run(
            [binary, str(ops), arg, str(in_flight), "callers"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        print(f"Rust cpu_per_op, {shape}, {in_flight} in flight:")
        for line in out.splitlines():
            match = re.match(r"(put|get): (\d+)/(\d+) ok, (\d+) ops/s wall", line)
            if match:
                print(f"  {line}")
                rates[(shape, match.group(1))] = float(match.group(4))
    return rates


# ----------------------------------------------------------------------------
# AsyncNode


async def run_async(args: argparse.Namespace, rust: dict[tuple[str, str], float]) -> None:
    seed = dipsea.AsyncNode(bind="127.0.0.1:0", no_default_routers=True)
    host, port = seed.address
    nodes = [seed] + [
        dipsea.AsyncNode(bind="127.0.0.1:0", bootstrap=[f"{host}:{port}"]) for _ in range(args.nodes - 1)
    ]
    for _ in range(2):  # twice, so early joiners learn of later ones
        await asyncio.gather(*(node.bootstrap() for node in nodes[1:]))
    for shape in SHAPES:
        rng = random.Random(1)
        data = values(args.ops, f"async {shape}")
        keys: list[dipsea.Id | None] = [None] * len(data)

        async def phase(op: Callable[[int], Awaitable[bool]]) -> tuple[Tally, float]:
            tally = Tally()
            todo = iter(range(len(data)))

            async def caller() -> None:
                for i in todo:
                    started = time.perf_counter()
                    try:
                        ok = await op(i)
                    except dipsea.DhtError:
                        ok = False
                    tally.add(time.perf_counter() - started, ok)

            started = time.perf_counter()
            tally.threads = threading_count()
            await asyncio.gather(*(caller() for _ in range(args.in_flight)))
            return tally, time.perf_counter() - started

        async def put(i: int) -> bool:
            keys[i] = await nodes[pick(shape, nodes, rng)].put(data[i])
            return True

        async def get(i: int) -> bool:
            key = keys[i]
            return key is not None and await nodes[pick(shape, nodes, rng)].get(key) == data[i]

        tally, wall = await phase(put)
        print(tally.line(f"AsyncNode {shape} puts", wall, rust.get((shape, "put"))))
        tally, wall = await phase(get)
        print(tally.line(f"AsyncNode {shape} gets", wall, rust.get((shape, "get"))))
    await asyncio.gather(*(node.close() for node in nodes))


# ----------------------------------------------------------------------------
# Blocking Node


def run_blocking(args: argparse.Namespace, rust: dict[tuple[str, str], float]) -> None:
    seed = dipsea.Node(bind="127.0.0.1:0", no_default_routers=True)
    host, port = seed.address
    nodes = [seed] + [dipsea.Node(bind="127.0.0.1:0", bootstrap=[f"{host}:{port}"]) for _ in range(args.nodes - 1)]
    for _ in range(2):
        for node in nodes[1:]:
            node.bootstrap()
    for shape in SHAPES:
        data = values(args.ops, f"blocking {shape}")
        keys: list[dipsea.Id | None] = [None] * len(data)

        def phase(op: Callable[[int, random.Random], bool]) -> tuple[Tally, float]:
            tally = Tally()
            todo = iter(range(len(data)))
            lock = threading.Lock()

            def caller(rng: random.Random) -> None:
                while True:
                    with lock:
                        i = next(todo, None)
                    if i is None:
                        return
                    started = time.perf_counter()
                    try:
                        ok = op(i, rng)
                    except dipsea.DhtError:
                        ok = False
                    tally.add(time.perf_counter() - started, ok)

            threads = [threading.Thread(target=caller, args=(random.Random(t),)) for t in range(args.in_flight)]
            started = time.perf_counter()
            for t in threads:
                t.start()
            tally.threads = threading_count()
            for t in threads:
                t.join()
            return tally, time.perf_counter() - started

        def put(i: int, rng: random.Random) -> bool:
            keys[i] = nodes[pick(shape, nodes, rng)].put(data[i])
            return True

        def get(i: int, rng: random.Random) -> bool:
            key = keys[i]
            return key is not None and nodes[pick(shape, nodes, rng)].get(key) == data[i]

        tally, wall = phase(put)
        print(tally.line(f"Node {shape} puts, {args.in_flight} threads", wall, rust.get((shape, "put"))))
        tally, wall = phase(get)
        print(tally.line(f"Node {shape} gets, {args.in_flight} threads", wall, rust.get((shape, "get"))))
    for node in nodes:
        node.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=100, help="nodes in this process")
    parser.add_argument("--ops", type=int, default=2000, help="puts, then gets, per phase")
    parser.add_argument("--in-flight", type=int, default=64, help="coroutines or threads issuing operations")
    parser.add_argument("--rust", help="path of the cpu_per_op example, to run the Rust shapes first")
    parser.add_argument("--only", choices=("async", "blocking"), help="run one API only")
    args = parser.parse_args()
    print(f"{args.nodes} nodes on 127.0.0.1, {args.ops} operations per phase, {VALUE_SIZE}-byte values")
    rust = rust_rates(args.rust, args.ops, args.in_flight) if args.rust else {}
    if args.only != "blocking":
        asyncio.run(run_async(args, rust))
    if args.only != "async":
        run_blocking(args, rust)


if __name__ == "__main__":
    main()
