"""dipsea: a Kademlia DHT engine speaking the BitTorrent Mainline DHT protocol.

Start a node, store and fetch immutable items (BEP 44), announce and find peers
(BEP 5)::

    import dipsea

    with dipsea.Node(bootstrap=["router.example.org:6881"]) as node:
        node.bootstrap()
        key = node.put(b"hello")
        assert node.get(key) == b"hello"

:class:`Node` blocks (and releases the GIL while it waits, so threads can share
one); :class:`AsyncNode` offers the same methods as awaitables for asyncio;
:class:`Id` is a 160-bit id; :class:`Swarm` simulates a whole network in this
process, in virtual time; :class:`Ring`, :class:`Rendezvous` and
:class:`XorPartitioner` name the owners of a key among members of your own. Errors
derive from :class:`DhtError`.
"""

from __future__ import annotations

from ._dipsea import (
    ID_LEN,
    AsyncBroadcasts,
    AsyncNode,
    Broadcast,
    Broadcasts,
    Id,
    Keypair,
    Latency,
    MutableItem,
    Node,
    Samples,
    Scrape,
    Subscription,
    AsyncSubscription,
    PeerSubscription,
    AsyncPeerSubscription,
    Swarm,
    OneHopSwarm,
    __version__,
    default_options,
    Partitioner,
    Rendezvous,
    Ring,
    XorPartitioner,
)
from .errors import (
    BadInput,
    Busy,
    CasMismatch,
    DhtError,
    Internal,
    Io,
    NoRoute,
    NotStored,
    SeqTooOld,
    Shutdown,
    Timeout,
)

__all__ = [
    "__version__",
    "ID_LEN",
    "Id",
    "Keypair",
    "MutableItem",
    "Scrape",
    "Samples",
    "Node",
    "AsyncNode",
    "Broadcast",
    "Broadcasts",
    "AsyncBroadcasts",
    "Subscription",
    "AsyncSubscription",
    "PeerSubscription",
    "AsyncPeerSubscription",
    "Swarm",
    "OneHopSwarm",
    "Latency",
    "default_options",
    "Partitioner",
    "Ring",
    "Rendezvous",
    "XorPartitioner",
    "DhtError",
    "NoRoute",
    "Timeout",
    "NotStored",
    "CasMismatch",
    "SeqTooOld",
    "BadInput",
    "Busy",
    "Shutdown",
    "Io",
    "Internal",
]
