"""Private networks (``Node(network=...)``): nodes of one network join each other and
refuse, and count, nodes of another or of the public DHT."""

from __future__ import annotations

import pytest

import dipsea
from conftest import LOOPBACK_TIMEOUT


def start(network: str | None, bootstrap: list[str] | None = None) -> dipsea.Node:
    return dipsea.Node(
        bind="127.0.0.1:0",
        bootstrap=bootstrap,
        no_default_routers=True,
        query_timeout=LOOPBACK_TIMEOUT,
        network=network,
    )


def test_networks_never_mix() -> None:
    blue = start("blue")
    host, port = blue.address
    seed = [f"{host}:{port}"]
    blue2 = start("blue", seed)
    green = start("green", seed)
    public = start(None, seed)
    try:
        assert blue2.bootstrap() == 1
        for stray in (green, public):
            try:
                joined = stray.bootstrap()
            except dipsea.DhtError:
                joined = 0
            assert joined == 0
        assert [c[0] for c in blue.routing_table()] == [blue2.id]
        assert blue.stats()["foreign_network"] >= 2
        key = blue2.put(b"blue only")
        assert blue.get(key) == b"blue only"
        assert green.stats()["items"] == 0
    finally:
        for node in (blue, blue2, green, public):
            node.close()


def test_bad_network_names_are_refused() -> None:
    with pytest.raises(dipsea.BadInput):
        start("")
    with pytest.raises(dipsea.BadInput):
        start("x" * 256)
