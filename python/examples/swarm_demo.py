"""A simulated 2,000-node DHT in this process: store, crash a third, partition, heal.

Run it with ``python python/examples/swarm_demo.py``. Everything runs in virtual
time on one thread and repeats exactly for the same seed.
"""

from __future__ import annotations

import dipsea


def found(swarm: dipsea.Swarm, keys: list[dipsea.Id]) -> int:
    """How many of ``keys`` a get from a random live node finds (a lookup that
    nobody answers, e.g. across a partition, counts as not found)."""
    count = 0
    for key in keys:
        try:
            count += swarm.get(key) is not None
        except dipsea.DhtError:
            pass
    return count


def main() -> None:
    swarm = dipsea.Swarm(nodes=2000, seed=42, latency=dipsea.Latency.long_tail(0.04, 0.3), loss=0.01)
    print(f"built {swarm!r} in {swarm.stats()['build_wall_ms']} ms of wall time")

    keys = [swarm.put(b"item %d" % i) for i in range(100)]
    print(f"100 puts, then {found(swarm, keys)}/100 gets found their item")

    crashed = swarm.crash(1 / 3)
    print(f"crashed {crashed} nodes at once: {found(swarm, keys)}/100 still found")

    swarm.partition(0.5)
    print(f"partitioned in halves: {found(swarm, keys)}/100 found from a random side")
    swarm.heal()
    swarm.advance(600)  # ten virtual minutes: timeouts, table repair, re-publishing
    print(f"healed, ten minutes later: {found(swarm, keys)}/100 found")

    s = swarm.stats()
    print(
        f"success {s['success_rate']:.3f}, rounds p50 {s['rounds_p50']:.0f} p99 {s['rounds_p99']:.0f}, "
        f"latency p50 {s['latency_p50_ms']:.0f} ms p99 {s['latency_p99_ms']:.0f} ms (virtual), "
        f"~{s['memory_per_node']} bytes per node"
    )


if __name__ == "__main__":
    main()
