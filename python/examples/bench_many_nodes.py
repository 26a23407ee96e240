"""Many nodes in one process: puts and gets per second from Python, as a ratio to
the same load from Rust in the same run (a benchmark, not a test).

    python python/examples/bench_many_nodes.py [--nodes 100] [--ops 2000] [--in-flight 64]
        [--rust cargo|PATH|none] [--only async|blocking] [--rounds 1]

Starts ``--nodes`` nodes on 127.0.0.1 in this process, each bootstrapped from the
first and joined in two passes (as the Rust benchmarks' ``dipsea_tests::network``
does, with its loopback query timeouts), and runs, for each API and each shape, a
put phase (``--ops`` distinct 100-byte values) and then a get phase (``--ops`` gets
of the keys just stored):

- API ``AsyncNode``: the nodes are ``dipsea.AsyncNode``; ``--in-flight`` coroutines
  each issue their next operation when the last one ends;
- API ``Node``: the nodes are blocking ``dipsea.Node`` (one shared runtime);
  ``--in-flight`` Python threads do the same;
- shape ``spread``: each operation goes through a random node;
- shape ``one node``: every operation goes through the first node.

Each line reports operations per second, the share that succeeded (a put stored
without error, a get found the very value), latency p50/p99, datagrams sent by all
nodes per operation (so a Python line and a Rust line compare the same work), CPU
time of the process per operation and its threads.

Rust in the same run: before the Python phases, the ``cpu_per_op`` example of the
benches runs the same shapes (100 nodes, ``--in-flight`` caller tasks, ``--ops``
100-byte puts and then gets, each shape its own network), and each Python line ends
with its ratio to the Rust rate of that shape and operation. ``--rust cargo`` (the
default) builds and runs it with ``cargo run --release``; ``--rust PATH`` runs a
built binary (``target/release/examples/cpu_per_op``); ``--rust none`` skips it.
``--rounds N`` repeats the whole sequence (Rust, then Python) N times, for a busy
machine. Build the package in release mode (``maturin develop --release``).

On a machine busy with other work the rates follow the CPU share the scheduler
grants, which grows with a process's thread count (64 caller threads outweigh the
Rust run's 3): compare the CPU-per-operation ratio, or run the script at real-time
priority (``chrt -r 1 python ...``, briefly: it starves everything else) to stand
for an idle machine. It stands for one only in part: real-time threads of equal
priority do not preempt each other, and ``AsyncNode`` (an event loop thread beside
the runtime's two) fares far better so (88-99% of Rust's gets/s on the busy 2-core
machine, against 49-63% on the idle one at normal priority) while ``Node`` and Rust
move less.
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
from typing import Union

import dipsea

VALUE_SIZE = 100
SHAPES = ("spread", "one node")
#: The Rust tests' loopback query timeouts (``dipsea_tests::LOOPBACK_TIMEOUT``).
QUERY_TIMEOUT = (0.25, 2.0)

AnyNode = Union[dipsea.Node, dipsea.AsyncNode]


@dataclass
class Rust:
    """What the Rust run measured for one shape and operation."""

    rate: float
    cpu_us: float


@dataclass
class Tally:
    """What one phase measured."""

    ok: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Threads of the process while the phase ran (all of them, from /proc).
    threads: int = 0
    #: Datagrams sent by all nodes during the phase.
    packets: int = 0
    #: CPU seconds of the whole process during the phase.
    cpu: float = 0.0
    #: CPU seconds of the Python threads that made the calls (the event loop's, or
    #: the callers'): the binding's share, with the script's own Python code.
    py_cpu: float = 0.0
    #: Wall-clock seconds of the phase.
    wall: float = 0.0

    def add(self, seconds: float, ok: bool) -> None:
        with self.lock:
            self.latencies.append(seconds)
            if ok:
                self.ok += 1
            else:
                self.failed += 1

    def rate(self) -> float:
        return (self.ok + self.failed) / self.wall if self.wall else 0.0

    def line(self, label: str, rust: Rust | None) -> str:
        total = max(self.ok + self.failed, 1)
        lat = sorted(self.latencies)

        def pct(p: float) -> float:
            return lat[min(len(lat) - 1, int(p * (len(lat) - 1)))] * 1e3 if lat else 0.0

        ratio = ""
        if rust:
            # The CPU ratio is what the rate ratio would be were both runs bound by
            # the same CPU (an idle machine): on a busy one the rates follow how much
            # CPU time the scheduler grants, which differs with the thread count.
            cpu_ratio = rust.cpu_us / (self.cpu * 1e6 / total) if self.cpu else 0.0
            ratio = f"  {self.rate() / rust.rate:4.0%} of Rust (by CPU/op {cpu_ratio:4.0%})"
        return (
            f"{label:<30} {self.rate():>7,.0f}/s  ok {self.ok / total:6.2%}  "
            f"p50 {pct(0.5):5.2f} ms  p99 {pct(0.99):6.2f} ms  "
            f"{self.packets / total:4.1f} pkts/op  {self.cpu * 1e6 / total:4.0f} us CPU/op "
            f"({self.py_cpu * 1e6 / total:3.0f} in Python threads)  "
            f"threads {self.threads}{ratio}"
        )


def thread_count() -> int:
    """Threads of this process (all of them, from /proc), or 0 where unknown."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


def packets_sent(nodes: Sequence[AnyNode]) -> int:
    return sum(int(node.stats()["packets_out"]) for node in nodes)


def values(n: int, salt: str) -> list[bytes]:
    """``n`` distinct values of exactly ``VALUE_SIZE`` bytes."""
    return [(f"{salt} value {i} ".encode() * 20)[:VALUE_SIZE] for i in range(n)]


def pick(shape: str, count: int, rng: random.Random) -> int:
    return 0 if shape == "one node" else rng.randrange(count)


# ----------------------------------------------------------------------------
# Rust, for the ratios


def rust_rates(how: str, ops: int, in_flight: int) -> dict[tuple[str, str], Rust]:
    """Puts/s and gets/s of the ``cpu_per_op`` example for each shape."""
    if how == "cargo":
        command = ["cargo", "run", "--release", "-q", "-p", "dipsea-benches", "--example", "cpu_per_op", "--"]
    else:
        command = [how]
    rates: dict[tuple[str, str], Rust] = {}
    for shape, arg in (("spread", "spread"), ("one node", "one")):
        out = subprocess.run(
            [*command, str(ops), arg, str(in_flight), "callers", str(VALUE_SIZE)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for line in out.splitlines():
            match = re.match(
                r"(put|get): (\d+)/(\d+) ok, (\d+) ops/s wall, p50 ([\d.]+) ms, p99 ([\d.]+) ms, "
                r"([\d.]+) us CPU per op, ([\d.]+) packets/op",
                line,
            )
            if match:
                op, ok, total, rate, p50, p99, cpu, packets = match.groups()
                rates[(shape, op)] = Rust(float(rate), float(cpu))
                print(
                    f"{f'Rust {shape} {op}s':<30} {float(rate):>7,.0f}/s  ok {int(ok) / int(total):6.2%}  "
                    f"p50 {float(p50):5.2f} ms  p99 {float(p99):6.2f} ms  {float(packets):4.1f} pkts/op  "
                    f"{float(cpu):4.0f} us CPU/op"
                )
    return rates


# ----------------------------------------------------------------------------
# AsyncNode


async def run_async(args: argparse.Namespace, rust: dict[tuple[str, str], Rust]) -> None:
    seed = dipsea.AsyncNode(bind="127.0.0.1:0", no_default_routers=True, query_timeout=QUERY_TIMEOUT)
    host, port = seed.address
    nodes = [seed] + [
        dipsea.AsyncNode(bind="127.0.0.1:0", bootstrap=[f"{host}:{port}"], query_timeout=QUERY_TIMEOUT)
        for _ in range(args.nodes - 1)
    ]
    for _ in range(2):  # two passes, so early joiners learn of later ones
        for node in nodes[1:]:
            await node.bootstrap()
    await asyncio.sleep(1.0)  # let the refreshes the joins started end
    for shape in SHAPES:
        rng = random.Random(1)
        data = values(args.ops, f"async {shape} {random.random()}")
        keys: list[dipsea.Id | None] = [None] * len(data)

        async def phase(op: Callable[[int], Awaitable[bool]]) -> Tally:
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

            packets, cpu, started = packets_sent(nodes), time.process_time(), time.perf_counter()
            py_cpu = time.thread_time()
            tally.threads = thread_count()
            await asyncio.gather(*(caller() for _ in range(args.in_flight)))
            tally.wall = time.perf_counter() - started
            tally.cpu = time.process_time() - cpu
            tally.py_cpu = time.thread_time() - py_cpu
            tally.packets = packets_sent(nodes) - packets
            return tally

        async def put(i: int) -> bool:
            keys[i] = await nodes[pick(shape, len(nodes), rng)].put(data[i])
            return True

        async def get(i: int) -> bool:
            key = keys[i]
            return key is not None and await nodes[pick(shape, len(nodes), rng)].get(key) == data[i]

        tally = await phase(put)
        print(tally.line(f"AsyncNode {shape} puts", rust.get((shape, "put"))))
        tally = await phase(get)
        print(tally.line(f"AsyncNode {shape} gets", rust.get((shape, "get"))))
    for node in nodes:
        await node.close()


# ----------------------------------------------------------------------------
# Blocking Node


def run_blocking(args: argparse.Namespace, rust: dict[tuple[str, str], Rust]) -> None:
    seed = dipsea.Node(bind="127.0.0.1:0", no_default_routers=True, query_timeout=QUERY_TIMEOUT)
    host, port = seed.address
    nodes = [seed] + [
        dipsea.Node(bind="127.0.0.1:0", bootstrap=[f"{host}:{port}"], query_timeout=QUERY_TIMEOUT)
        for _ in range(args.nodes - 1)
    ]
    for _ in range(2):
        for node in nodes[1:]:
            node.bootstrap()
    time.sleep(1.0)
    for shape in SHAPES:
        data = values(args.ops, f"blocking {shape} {random.random()}")
        keys: list[dipsea.Id | None] = [None] * len(data)

        def phase(op: Callable[[int, random.Random], bool]) -> Tally:
            tally = Tally()
            todo = iter(range(len(data)))
            lock = threading.Lock()

            def caller(rng: random.Random) -> None:
                py_cpu = time.thread_time()
                while True:
                    with lock:
                        i = next(todo, None)
                    if i is None:
                        with lock:
                            tally.py_cpu += time.thread_time() - py_cpu
                        return
                    started = time.perf_counter()
                    try:
                        ok = op(i, rng)
                    except dipsea.DhtError:
                        ok = False
                    tally.add(time.perf_counter() - started, ok)

            threads = [threading.Thread(target=caller, args=(random.Random(t),)) for t in range(args.in_flight)]
            packets, cpu, started = packets_sent(nodes), time.process_time(), time.perf_counter()
            for t in threads:
                t.start()
            tally.threads = thread_count()
            for t in threads:
                t.join()
            tally.wall = time.perf_counter() - started
            tally.cpu = time.process_time() - cpu
            tally.packets = packets_sent(nodes) - packets
            return tally

        def put(i: int, rng: random.Random) -> bool:
            keys[i] = nodes[pick(shape, len(nodes), rng)].put(data[i])
            return True

        def get(i: int, rng: random.Random) -> bool:
            key = keys[i]
            return key is not None and nodes[pick(shape, len(nodes), rng)].get(key) == data[i]

        label = f"Node {shape}"
        tally = phase(put)
        print(tally.line(f"{label} puts", rust.get((shape, "put"))))
        tally = phase(get)
        print(tally.line(f"{label} gets", rust.get((shape, "get"))))
    for node in nodes:
        node.close()


def load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=100, help="nodes in this process")
    parser.add_argument("--ops", type=int, default=2000, help="puts, then gets, per phase")
    parser.add_argument("--in-flight", type=int, default=64, help="coroutines or threads issuing operations")
    parser.add_argument(
        "--rust",
        default="cargo",
        help="'cargo' (build and run the cpu_per_op example), its path, or 'none'",
    )
    parser.add_argument("--only", choices=("async", "blocking"), help="run one API only")
    parser.add_argument("--rounds", type=int, default=1, help="repeat everything this many times")
    args = parser.parse_args()
    print(
        f"{args.nodes} nodes on 127.0.0.1, {args.ops} operations per phase, {VALUE_SIZE}-byte values, "
        f"{args.in_flight} in flight ({args.in_flight} coroutines for AsyncNode, threads for Node), "
        f"{os.cpu_count()} cores, dipsea {dipsea.__version__}"
    )
    for round in range(args.rounds):
        print(f"-- round {round + 1}, load average {load()}")
        rust = rust_rates(args.rust, args.ops, args.in_flight) if args.rust != "none" else {}
        if args.only != "blocking":
            asyncio.run(run_async(args, rust))
        if args.only != "async":
            run_blocking(args, rust)


if __name__ == "__main__":
    main()
