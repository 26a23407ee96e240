"""A tour of dipsea from Python: a small DHT on this machine, blocking and asyncio.

Run it with ``python python/examples/quickstart.py`` after ``pip install .``.
It starts eight nodes on 127.0.0.1 (each joins through the first), stores and
fetches an item, announces a torrent and finds its peers, then does the same
through the asyncio API.
"""

from __future__ import annotations

import asyncio

import dipsea


def blocking_tour() -> list[dipsea.Node]:
    """Starts a network of blocking nodes and uses it; returns the nodes."""
    seed = dipsea.Node(bind="127.0.0.1:0", no_default_routers=True)
    host, port = seed.address
    nodes = [seed] + [dipsea.Node(bind="127.0.0.1:0", bootstrap=[f"{host}:{port}"]) for _ in range(7)]
    for node in nodes[1:]:
        node.bootstrap()  # joining runs in the background; this waits for it
    print(f"8 nodes on 127.0.0.1, node 1 knows {len(nodes[1].routing_table())} others")

    key = nodes[1].put(b"hello, dht")  # BEP 44 immutable item
    print(f"put -> key {key.hex()}")
    print(f"get from node 7 -> {nodes[7].get(key)!r}")

    torrent = dipsea.Id.sha1(b"a torrent's info dict")
    nodes[2].announce(torrent, port=51413)
    print(f"peers of {torrent.hex()[:8]}…: {nodes[5].get_peers(torrent)}")

    closest = nodes[0].find_node(key)
    print(f"closest node to the key: {closest[0][0].hex()[:8]}… at {closest[0][1]}")

    try:
        nodes[0].get(b"not an id")
    except dipsea.BadInput as e:  # also a ValueError
        print(f"bad key -> {type(e).__name__}: {e}")
    return nodes


async def asyncio_tour(bootstrap: str, key: dipsea.Id) -> None:
    """The same calls as awaitables; many run at once on the engine's threads."""
    async with dipsea.AsyncNode(bind="127.0.0.1:0", bootstrap=[bootstrap]) as node:
        await node.bootstrap()
        values = await asyncio.gather(*(node.get(key) for _ in range(100)))
        print(f"asyncio: 100 concurrent gets, {sum(v == b'hello, dht' for v in values)} found it")
        stats = node.stats()
        print(f"asyncio node sent {stats['packets_out']} packets, got {stats['packets_in']}")


def main() -> None:
    nodes = blocking_tour()
    host, port = nodes[0].address
    asyncio.run(asyncio_tour(f"{host}:{port}", dipsea.Id.sha1(b"10:hello, dht")))
    for node in nodes:
        node.close()


if __name__ == "__main__":
    main()
