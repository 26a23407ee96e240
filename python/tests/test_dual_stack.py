"""BEP 32 dual stack from Python: a node with an IPv4 and an IPv6 socket
(``bind6``) links an IPv4-only and an IPv6-only node on loopback."""

from __future__ import annotations

import dipsea
from conftest import LOOPBACK_TIMEOUT


def test_a_dual_stack_node_links_the_families() -> None:
    dual = dipsea.Node(
        "127.0.0.1:0", bind6="[::1]:0", query_timeout=LOOPBACK_TIMEOUT, no_default_routers=True
    )
    host4, port4 = dual.address
    address6 = dual.address6
    assert address6 is not None
    host6, port6 = address6
    assert (host4, host6, port6) == ("127.0.0.1", "::1", port4)
    v4 = dipsea.Node("127.0.0.1:0", [f"{host4}:{port4}"], query_timeout=LOOPBACK_TIMEOUT)
    v6 = dipsea.Node("[::1]:0", [f"[{host6}]:{port6}"], query_timeout=LOOPBACK_TIMEOUT)
    with dual, v4, v6:
        assert v4.address6 is None and v6.address6 is None
        assert v4.bootstrap() >= 1
        assert v6.bootstrap() >= 1
        # Put over IPv6, got over IPv4: the dual-stack node holds it for both.
        key = v6.put(b"one item, two families")
        assert v4.get(key) == b"one item, two families"
