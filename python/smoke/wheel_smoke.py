"""Smoke test of an installed dipsea wheel, run by ``make test-package`` with the
Python of a fresh virtualenv, on a PATH with no cargo or rustc.

Checks that ``dipsea`` is imported from the installed wheel (not the source tree),
that its version is the one expected, then starts two blocking nodes on loopback and
puts and gets a value, and does the same through the asyncio API. Only the standard
library and the wheel are needed.

Usage: ``python wheel_smoke.py VERSION [START]``: VERSION is the version the package
must report; START, a ``time.time()`` taken before ``pip install``, makes it print
the seconds from the install's start to the first successful ``put``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from importlib import metadata

import dipsea


def blocking(started: float | None) -> dipsea.Id:
    with dipsea.Node(bind="127.0.0.1:0", no_default_routers=True) as seed:
        host, port = seed.address
        with dipsea.Node(bind="127.0.0.1:0", bootstrap=[f"{host}:{port}"]) as node:
            node.bootstrap()
            key = node.put(b"hello from the wheel")
            if started is not None:
                print(f"pip install to first put: {time.time() - started:.2f} s")
            assert seed.get(key) == b"hello from the wheel"
            assert node.get(key) == b"hello from the wheel"
            assert seed.stats()["packets_in"] > 0
            return key


async def asynchronous() -> None:
    async with dipsea.AsyncNode(bind="127.0.0.1:0", no_default_routers=True) as seed:
        host, port = seed.address
        async with dipsea.AsyncNode(bind="127.0.0.1:0", bootstrap=[f"{host}:{port}"]) as node:
            await node.bootstrap()
            keys = await asyncio.gather(*(node.put(b"async %d" % i) for i in range(4)))
            values = await asyncio.gather(*(seed.get(key) for key in keys))
            assert values == [b"async %d" % i for i in range(4)], values


def main() -> None:
    expected = sys.argv[1]
    started = float(sys.argv[2]) if len(sys.argv) > 2 else None
    assert "site-packages" in (dipsea.__file__ or ""), f"not the installed wheel: {dipsea.__file__}"
    assert dipsea.__version__ == expected, (dipsea.__version__, expected)
    assert metadata.version("dipsea") == expected
    blocking(started)
    asyncio.run(asynchronous())
    print(f"dipsea {dipsea.__version__} wheel: blocking and asyncio put/get on loopback passed")


if __name__ == "__main__":
    main()
