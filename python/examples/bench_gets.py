"""Gets per second from Python on a loopback network (a benchmark, not a test).

    python python/examples/bench_gets.py [--nodes 32] [--threads 8] [--in-flight 256]

Builds a network of ``--nodes`` nodes on 127.0.0.1 (``--nodes - 1`` servers, all
``AsyncNode`` so they share the engine's one runtime, plus the client), stores
``--items`` values, then issues BEP 44 gets of random stored keys through the one
client node for ``--seconds`` each way:

- blocking: a ``dipsea.Node`` shared by ``--threads`` Python threads;
- asyncio: a ``dipsea.AsyncNode`` with ``--in-flight`` gets always outstanding.

It prints gets per second, the share that found the value, latency p50/p99,
packets sent per get by the client and the CPU time per get of the whole process
(servers included; on a busy machine this says more than gets per second).
``cargo bench -p dipsea-benches --bench python_baseline`` runs the same network and
load from the Rust API, for comparison. Build the package in release mode first
(``pip install .`` does; ``maturin develop`` without ``--release`` does not).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import threading
import time
from dataclasses import dataclass, field

import dipsea


@dataclass
class Tally:
    """What one run measured."""

    ok: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)

    def add(self, seconds: float, ok: bool) -> None:
        self.latencies.append(seconds)
        if ok:
            self.ok += 1
        else:
            self.failed += 1

    def merge(self, other: Tally) -> None:
        self.ok += other.ok
        self.failed += other.failed
        self.latencies.extend(other.latencies)

    def report(self, label: str, wall: float, cpu: float, packets: int) -> None:
        total = self.ok + self.failed
        lat = sorted(self.latencies)

        def pct(p: float) -> float:
            return lat[min(len(lat) - 1, int(p * (len(lat) - 1)))] * 1e3 if lat else 0.0

        print(
            f"{label}: {total / wall:,.0f} gets/s, found {self.ok / max(total, 1):.4f}, "
            f"p50 {pct(0.50):.2f} ms, p99 {pct(0.99):.2f} ms, "
            f"{packets / max(total, 1):.1f} packets/get, {cpu * 1e6 / max(total, 1):.1f} us CPU/get "
            f"({total} gets in {wall:.1f} s)"
        )


async def start_servers(n: int) -> list[dipsea.AsyncNode]:
    """``n`` joined server nodes on loopback, each bootstrapped from the first."""
    seed = dipsea.AsyncNode(bind="127.0.0.1:0", no_default_routers=True)
    host, port = seed.address
    nodes = [seed] + [dipsea.AsyncNode(bind="127.0.0.1:0", bootstrap=[f"{host}:{port}"]) for _ in range(n - 1)]
    for _ in range(2):  # twice, so early joiners learn of later ones
        await asyncio.gather(*(node.bootstrap() for node in nodes[1:]))
    return nodes


async def store(nodes: list[dipsea.AsyncNode], items: int) -> list[dipsea.Id]:
    """Puts ``items`` distinct values through the servers; returns their keys."""
    keys: list[dipsea.Id] = []
    for start in range(0, items, 64):
        batch = range(start, min(start + 64, items))
        keys += await asyncio.gather(*(nodes[i % len(nodes)].put(b"bench item %d" % i) for i in batch))
    return keys


def bench_blocking(seed: str, keys: list[dipsea.Id], threads: int, seconds: float) -> None:
    with dipsea.Node(bind="127.0.0.1:0", bootstrap=[seed]) as node:
        node.bootstrap()
        tallies = [Tally() for _ in range(threads)]
        deadline = time.perf_counter() + seconds

        def work(tally: Tally, rng: random.Random) -> None:
            while time.perf_counter() < deadline:
                key = rng.choice(keys)
                started = time.perf_counter()
                try:
                    ok = node.get(key) is not None
                except dipsea.DhtError:
                    ok = False
                tally.add(time.perf_counter() - started, ok)

        before = node.stats()["packets_out"]
        cpu = time.process_time()
        started = time.perf_counter()
        workers = [threading.Thread(target=work, args=(t, random.Random(i))) for i, t in enumerate(tallies)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu
        total = Tally()
        for t in tallies:
            total.merge(t)
        total.report(f"blocking Node, {threads} threads", wall, cpu, node.stats()["packets_out"] - before)


async def bench_asyncio(seed: str, keys: list[dipsea.Id], in_flight: int, seconds: float) -> None:
    async with dipsea.AsyncNode(bind="127.0.0.1:0", bootstrap=[seed]) as node:
        await node.bootstrap()
        tally = Tally()
        deadline = time.perf_counter() + seconds
        rng = random.Random(1)

        async def work() -> None:
            while time.perf_counter() < deadline:
                key = rng.choice(keys)
                started = time.perf_counter()
                try:
                    ok = await node.get(key) is not None
                except dipsea.DhtError:
                    ok = False
                tally.add(time.perf_counter() - started, ok)

        before = node.stats()["packets_out"]
        cpu = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(work() for _ in range(in_flight)))
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu
        tally.report(f"asyncio AsyncNode, {in_flight} in flight", wall, cpu, node.stats()["packets_out"] - before)


async def main_async(args: argparse.Namespace) -> None:
    servers = await start_servers(args.nodes - 1)
    host, port = servers[0].address
    seed = f"{host}:{port}"
    keys = await store(servers, args.items)
    print(f"{args.nodes} nodes on 127.0.0.1 ({args.nodes - 1} servers + the client), {len(keys)} items stored")
    # The blocking client runs its threads outside the event loop.
    await asyncio.get_running_loop().run_in_executor(
        None, bench_blocking, seed, keys, args.threads, args.seconds
    )
    await bench_asyncio(seed, keys, args.in_flight, args.seconds)
    await asyncio.gather(*(node.close() for node in servers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=32, help="nodes in the network, client included")
    parser.add_argument("--threads", type=int, default=8, help="Python threads sharing the blocking node")
    parser.add_argument("--in-flight", type=int, default=256, help="gets outstanding on the asyncio node")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each run lasts")
    parser.add_argument("--items", type=int, default=500, help="values stored before the runs")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
