"""Blocking nodes share one runtime: threads do not grow with the number of nodes,
and the runtime stops with the last node or at interpreter exit.

Each case runs in a fresh interpreter, so the threads it counts are its own."""

from __future__ import annotations

import subprocess
import sys
import textwrap

COUNT_THREADS = """
import os, time

def dipsea_threads() -> int:
    names = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as f:
                names.append(f.read().strip())
        except OSError:
            pass
    return sum(1 for n in names if n.startswith("dipsea-"))

def wait_for_no_threads() -> int:
    deadline = time.monotonic() + 10
    while dipsea_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    return dipsea_threads()

timeout = (0.05, 0.5)
"""


def run(script: str) -> str:
    code = COUNT_THREADS + textwrap.dedent(script)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_hundred_nodes_run_on_a_thread_per_core() -> None:
    out = run(
        """
        import dipsea
        seed = dipsea.Node(bind="127.0.0.1:0", query_timeout=timeout, no_default_routers=True)
        host, port = seed.address
        nodes = [seed] + [
            dipsea.Node(bind="127.0.0.1:0", bootstrap=[f"{host}:{port}"], query_timeout=timeout)
            for _ in range(99)
        ]
        for node in nodes[1:]:
            node.bootstrap()
        key = nodes[5].put(b"one runtime")
        assert nodes[50].get(key) == b"one runtime"
        threads = dipsea_threads()
        assert 1 <= threads <= os.cpu_count() + 8, threads
        for node in nodes:
            node.close()
        del nodes, seed, node
        assert wait_for_no_threads() == 0
        print(threads)
        """
    )
    assert int(out) >= 1


def test_workers_gives_a_node_its_own_runtime() -> None:
    run(
        """
        import dipsea
        shared = dipsea.Node(bind="127.0.0.1:0", query_timeout=timeout, no_default_routers=True)
        own = dipsea.Node(bind="127.0.0.1:0", workers=1, query_timeout=timeout, no_default_routers=True)
        assert own.ping(shared.address) == shared.id
        deadline = time.monotonic() + 10
        while dipsea_threads() < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert dipsea_threads() >= 2
        own.close()
        shared.close()
        del own, shared
        assert wait_for_no_threads() == 0
        """
    )


def test_interpreter_exit_stops_the_shared_runtime() -> None:
    # Nodes left open: the atexit hook stops the runtime and the process ends.
    out = run(
        """
        import atexit
        def check() -> None:
            assert wait_for_no_threads() == 0
            print("stopped")
        # Registered before dipsea's own hook, so it runs after it (last in, first out).
        atexit.register(check)
        import dipsea
        nodes = [dipsea.Node(bind="127.0.0.1:0", query_timeout=timeout, no_default_routers=True) for _ in range(10)]
        assert dipsea_threads() >= 0
        """
    )
    assert out.strip() == "stopped"
