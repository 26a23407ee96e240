"""Type stubs of the native module ``dipsea._dipsea`` (import ``dipsea`` instead)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Iterable, Sequence
from types import TracebackType
from typing import Any, Final, Literal, Union, final

from typing_extensions import Self, TypeAlias, disjoint_base

__all__ = [
    "ID_LEN",
    "__version__",
    "Id",
    "Keypair",
    "MutableItem",
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
    "Scrape",
    "Samples",
    "default_options",
    "Partitioner",
    "Ring",
    "Rendezvous",
    "XorPartitioner",
    "_shutdown_runtime",
]

ID_LEN: Final[int]
"""Bytes in an id: 20 (160 bits, the size of a SHA-1 digest)."""
__version__: Final[str]
"""The package version, the same as the Rust crate's, the C library's and the CLI's."""

def default_options() -> dict[str, bool | int | float]:
    """Every option ``Node(options=...)`` accepts, with its default (flags as
    ``bool``, counts as ``int``, durations in seconds); what each means is documented
    once, on the core's ``NodeConfig``."""

def _shutdown_runtime() -> bool:
    """Stops the runtime blocking nodes share; registered with ``atexit``."""

_Address: TypeAlias = tuple[str, int]
"""A UDP endpoint as the socket module writes it: ``(host, port)``."""

_IdLike: TypeAlias = Union["Id", bytes, str]
"""An ``Id``, its 20 raw bytes, or its 40 hex digits."""

_Contact: TypeAlias = tuple["Id", _Address]
"""A node as others know it: ``(id, (host, port))``."""

_AcceptBroadcasts: TypeAlias = Union[Literal["open", "off"], Iterable[bytes]]
"""Which broadcasts a node delivers and forwards: ``"open"`` (any correctly signed
one, within the rate limits), ``"off"`` (none, the default), or the 32-byte public
keys of the origins accepted."""

_Prefix: TypeAlias = Union[str, bytes]
"""A key range's prefix: hex digits (4 bits each) or bytes (8 bits each)."""

_Stats: TypeAlias = dict[str, Any]
"""Counters by name; ``queries_in`` is a ``dict[str, int]`` by KRPC method."""

@final
class Id:
    """A 160-bit identifier: a node id, an info-hash, or the key of a stored item."""

    def __new__(cls, value: _IdLike) -> Id: ...
    @staticmethod
    def sha1(data: bytes) -> Id:
        """The SHA-1 digest of ``data``: its content address."""
    @staticmethod
    def from_hex(s: str) -> Id:
        """Parses 40 hex digits, either case."""
    @staticmethod
    def from_bytes(data: bytes) -> Id:
        """An id from exactly 20 raw bytes, big-endian."""
    @staticmethod
    def random() -> Id:
        """A uniformly random id."""
    def hex(self) -> str:
        """The id as 40 lowercase hex digits."""
    def distance(self, other: Id) -> Id:
        """The XOR distance from this id to ``other``, as an ``Id``."""
    def common_prefix_len(self, other: Id) -> int:
        """How many leading bits this id shares with ``other`` (160 when equal)."""
    def __xor__(self, other: Id, /) -> Id: ...
    def __rxor__(self, other: Id, /) -> Id: ...
    def __bytes__(self) -> bytes: ...
    def __len__(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    def __lt__(self, other: Id, /) -> bool: ...
    def __le__(self, other: Id, /) -> bool: ...
    def __gt__(self, other: Id, /) -> bool: ...
    def __ge__(self, other: Id, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[Any, tuple[str]]: ...

@final
class Keypair:
    """An ed25519 keypair: who may publish and update a BEP 44 mutable item."""

    @staticmethod
    def random() -> Keypair:
        """A new keypair from the operating system's random source."""
    @staticmethod
    def from_seed(seed: bytes) -> Keypair:
        """The keypair whose secret is ``seed``, exactly 32 bytes."""
    @staticmethod
    def load(path: str | os.PathLike[str]) -> Keypair:
        """Reads a keypair from a file written by ``save`` (or ``dipsea keygen``)."""
    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the secret to a new file, mode 0600; never replaces a file."""
    @property
    def public_key(self) -> bytes:
        """The public key, 32 bytes."""
    @property
    def seed(self) -> bytes:
        """The secret seed, 32 bytes: keep it private."""
    def target(self, salt: bytes | None = None) -> Id:
        """Where this key's item with ``salt`` lives: ``Id.sha1(public_key + salt)``."""

@final
class MutableItem:
    """A verified version of a BEP 44 mutable item, as ``get_mutable`` returns it."""

    @property
    def value(self) -> bytes:
        """The value (its bencoding if it is not a byte string)."""
    @property
    def seq(self) -> int:
        """The sequence number: a newer version has a higher one."""
    @property
    def signature(self) -> bytes:
        """The ed25519 signature over salt, seq and value, 64 bytes."""
    @property
    def public_key(self) -> bytes:
        """The writer's public key, 32 bytes."""
    @property
    def salt(self) -> bytes:
        """The salt it was published with (``b""`` if none)."""

@final
class Scrape:
    """Estimated seeds and peers of an info-hash (BEP 33), from the bloom filters
    of the closest nodes; each counts distinct IPs."""

    @property
    def seeds(self) -> float:
        """Estimated seeds: peers that announced with ``seed=True``."""
    @property
    def peers(self) -> float:
        """Estimated other peers (downloaders)."""
    @property
    def responders(self) -> int:
        """How many of the closest nodes sent filters."""

@final
class Samples:
    """Info-hashes sampled around a target (BEP 51 ``sample_infohashes``)."""

    @property
    def info_hashes(self) -> list[Id]:
        """The info-hashes, each once, in the order first seen."""
    @property
    def responders(self) -> int:
        """Nodes that answered with samples."""
    @property
    def num(self) -> int:
        """The largest number of info-hashes one answering node stores."""
    @property
    def interval(self) -> int:
        """Seconds before the answering nodes sample for this address again."""
    def __len__(self) -> int: ...

@final
class Broadcast:
    """A broadcast delivered to this node, its signature checked."""

    @property
    def origin(self) -> bytes:
        """The origin's ed25519 public key, 32 bytes."""
    @property
    def seq(self) -> int:
        """The origin's sequence number for this broadcast."""
    @property
    def payload(self) -> bytes:
        """The message."""
    @property
    def prefix(self) -> bytes:
        """The key range's prefix, ``ceil(prefix_bits / 8)`` bytes (``b""``: all)."""
    @property
    def prefix_bits(self) -> int:
        """Leading bits of ``prefix`` that name the range (0: every node)."""
    @property
    def range(self) -> str:
        """The range as text: hex digits, ``/bits`` if not whole digits, ``*`` for all."""
    @property
    def signature(self) -> bytes:
        """The origin's signature over seq, range and payload, 64 bytes."""

@final
class Broadcasts:
    """The broadcasts a ``Node`` delivers: a blocking iterator and context manager."""

    def get(self, timeout: float | None = None) -> Broadcast | None:
        """The next broadcast, waiting at most ``timeout`` seconds (else
        ``dipsea.Timeout``); ``None`` once closed or the node has stopped."""
    def close(self) -> None:
        """Stops receiving; iteration ends."""
    @property
    def closed(self) -> bool:
        """Whether it is closed or has ended."""
    def __iter__(self) -> Self: ...
    def __next__(self) -> Broadcast: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> Literal[False]: ...

@final
class AsyncBroadcasts:
    """The broadcasts an ``AsyncNode`` delivers: an async iterator and async
    context manager."""

    def close(self) -> None:
        """Stops receiving: a pending ``__anext__`` raises ``StopAsyncIteration``."""
    @property
    def closed(self) -> bool:
        """Whether it is closed or has ended."""
    def __aiter__(self) -> Self: ...
    def __anext__(self) -> Awaitable[Broadcast]: ...
    def __aenter__(self) -> Awaitable[Self]: ...
    def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> Awaitable[Literal[False]]: ...

@final
class Subscription:
    """Versions of one mutable item (``Node.subscribe``): a blocking iterator and
    context manager; closing it ends the subscription."""

    def get(self, timeout: float | None = None) -> MutableItem | None:
        """The next version, waiting at most ``timeout`` seconds (else
        ``dipsea.Timeout``); ``None`` once closed or the node has stopped."""
    def close(self) -> None:
        """Ends the subscription; iteration ends."""
    @property
    def closed(self) -> bool:
        """Whether it is closed or has ended."""
    def __iter__(self) -> Self: ...
    def __next__(self) -> MutableItem: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> Literal[False]: ...

@final
class AsyncSubscription:
    """Versions of one mutable item (``AsyncNode.subscribe``): an async iterator
    and async context manager; it subscribes at ``__aenter__`` or the first
    ``__anext__``."""

    def close(self) -> None:
        """Ends the subscription: a pending ``__anext__`` raises ``StopAsyncIteration``."""
    @property
    def closed(self) -> bool:
        """Whether it is closed or has ended."""
    def __aiter__(self) -> Self: ...
    def __anext__(self) -> Awaitable[MutableItem]: ...
    def __aenter__(self) -> Awaitable[Self]: ...
    def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> Awaitable[Literal[False]]: ...

@final
class PeerSubscription:
    """Peers of one info-hash (``Node.subscribe_peers``), each once, as
    ``(host, port)``: a blocking iterator and context manager; closing it ends the
    subscription."""

    def get(self, timeout: float | None = None) -> _Address | None:
        """The next peer, waiting at most ``timeout`` seconds (else
        ``dipsea.Timeout``); ``None`` once closed or the node has stopped."""
    def close(self) -> None:
        """Ends the subscription; iteration ends."""
    @property
    def closed(self) -> bool:
        """Whether it is closed or has ended."""
    def __iter__(self) -> Self: ...
    def __next__(self) -> _Address: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> Literal[False]: ...

@final
class AsyncPeerSubscription:
    """Peers of one info-hash (``AsyncNode.subscribe_peers``): an async iterator
    and async context manager; it subscribes at ``__aenter__`` or the first
    ``__anext__``."""

    def close(self) -> None:
        """Ends the subscription: a pending ``__anext__`` raises ``StopAsyncIteration``."""
    @property
    def closed(self) -> bool:
        """Whether it is closed or has ended."""
    def __aiter__(self) -> Self: ...
    def __anext__(self) -> Awaitable[_Address]: ...
    def __aenter__(self) -> Awaitable[Self]: ...
    def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> Awaitable[Literal[False]]: ...

@final
class Node:
    """A running DHT node with a blocking API; thread-safe, releases the GIL."""

    def __new__(
        cls,
        bind: str | None = None,
        bootstrap: Sequence[str] | None = None,
        read_only: bool = False,
        state_path: str | os.PathLike[str] | None = None,
        *,
        bind6: str | None = None,
        id: _IdLike | None = None,
        k: int | None = None,
        alpha: int | None = None,
        workers: int | None = None,
        query_timeout: tuple[float, float] | None = None,
        max_in_flight: int | None = None,
        options: dict[str, bool | int | float] | None = None,
        no_default_routers: bool = False,
        accept_broadcasts: _AcceptBroadcasts | None = None,
        network: str | None = None,
        overlay: Literal["kademlia", "one-hop"] | None = None,
        partitioner: str | None = None,
        replicas: int | None = None,
    ) -> Node: ...
    def bootstrap(self) -> int:
        """Joins the network now and waits; returns the routing table size."""
    def put(self, value: bytes) -> Id:
        """Stores ``value`` as a BEP 44 immutable item; returns its key."""
    def get(self, key: _IdLike) -> bytes | None:
        """The value stored under ``key``, or ``None`` if no node has it."""
    def put_mutable(
        self,
        keypair: Keypair,
        value: bytes,
        *,
        salt: bytes | None = None,
        seq: int | None = None,
        cas: int | None = None,
    ) -> int:
        """Publishes ``value`` as ``keypair``'s mutable item; returns the seq stored."""
    def get_mutable(
        self, public_key: bytes, *, salt: bytes | None = None, min_seq: int | None = None
    ) -> MutableItem | None:
        """The newest verified version of a mutable item, or ``None``."""
    def broadcast(
        self,
        keypair: Keypair,
        payload: bytes,
        *,
        seq: int | None = None,
        prefix: _Prefix | None = None,
        prefix_bits: int | None = None,
    ) -> int:
        """Broadcasts ``payload`` (at most 1,024 bytes), signed by ``keypair``, to
        every node that accepts it, or with ``prefix`` to those whose ids start
        with it; ``seq`` ``None`` is automatic (milliseconds since 1970, increasing
        within the process). Returns how many nodes it was handed to."""
    def broadcasts(self) -> Broadcasts:
        """A receiver of the broadcasts this node delivers from now on."""
    def subscribe(self, public_key: bytes, *, salt: bytes | None = None) -> Subscription:
        """Subscribes to a mutable item: waits for the lookup, then yields each
        verified new version (the current one first, if stored)."""
    def subscribe_peers(self, info_hash: _IdLike) -> PeerSubscription:
        """Subscribes to the peers of an info-hash: waits for the lookup, then
        yields each peer announced (those stored already first), once."""
    def announce(
        self, info_hash: _IdLike, port: int | None = None, *, seed: bool = False
    ) -> int:
        """Announces ``info_hash`` on ``port`` (as a seed if ``seed``); returns how
        many nodes acknowledged."""
    def scrape(self, info_hash: _IdLike) -> Scrape:
        """Estimated seeds and peers of ``info_hash`` (BEP 33)."""
    def sample_infohashes(self, target: _IdLike) -> Samples:
        """Info-hashes stored by the nodes around ``target`` (BEP 51)."""
    def get_peers(self, info_hash: _IdLike) -> list[_Address]:
        """The peers announced for ``info_hash``."""
    def find_node(self, target: _IdLike) -> list[_Contact]:
        """The k nodes closest to ``target``, nearest first."""
    def ping(self, address: _Address) -> Id:
        """Pings ``(host, port)``; returns the id that answered."""
    def unpublish(self, key: _IdLike) -> bool:
        """Stops re-publishing the item ``key``."""
    def routing_table(self) -> list[_Contact]:
        """A snapshot of the routing table."""
    def stats(self) -> _Stats:
        """Counters: packets, queries by method, operations, table and store sizes,
        every drop and refusal reason (``malformed``, ``oversized``,
        ``rate_limited_ip``, ``rate_limited_global``, ``bad_token``, ``over_quota``,
        ``sample_refused``, ``foreign_network``, ``bad_signature``, ``seq_too_old``, ``cas_mismatch``,
        ``salt_too_big``, ``value_too_big``, ``target_mismatch``,
        ``unknown_method``, and ``refused`` for impossible arguments), the BEP 42
        ``external_ip`` and
        ``id_conforms`` (None until known), and ``network_size``, the number of
        nodes estimated from lookups (None before the first)."""
    @property
    def address(self) -> _Address:
        """The bound UDP address."""
    @property
    def address6(self) -> _Address | None:
        """The bound IPv6 address of a dual-stack node (BEP 32); None with one socket."""
    @property
    def id(self) -> Id:
        """The node id."""
    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
    def close(self) -> None:
        """Stops the node and frees its port."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> Literal[False]: ...

@final
class AsyncNode:
    """A running DHT node with an asyncio API: network methods return awaitables."""

    def __new__(
        cls,
        bind: str | None = None,
        bootstrap: Sequence[str] | None = None,
        read_only: bool = False,
        state_path: str | os.PathLike[str] | None = None,
        *,
        bind6: str | None = None,
        id: _IdLike | None = None,
        k: int | None = None,
        alpha: int | None = None,
        workers: int | None = None,
        query_timeout: tuple[float, float] | None = None,
        max_in_flight: int | None = None,
        options: dict[str, bool | int | float] | None = None,
        no_default_routers: bool = False,
        accept_broadcasts: _AcceptBroadcasts | None = None,
        network: str | None = None,
        overlay: Literal["kademlia", "one-hop"] | None = None,
        partitioner: str | None = None,
        replicas: int | None = None,
    ) -> AsyncNode: ...
    def bootstrap(self) -> Awaitable[int]:
        """Joins the network; resolves to the routing table size."""
    def put(self, value: bytes) -> Awaitable[Id]:
        """Stores ``value`` as a BEP 44 immutable item; resolves to its key."""
    def get(self, key: _IdLike) -> Awaitable[bytes | None]:
        """Resolves to the value stored under ``key``, or ``None``."""
    def put_mutable(
        self,
        keypair: Keypair,
        value: bytes,
        *,
        salt: bytes | None = None,
        seq: int | None = None,
        cas: int | None = None,
    ) -> Awaitable[int]:
        """Publishes ``value`` as ``keypair``'s mutable item; resolves to the seq."""
    def get_mutable(
        self, public_key: bytes, *, salt: bytes | None = None, min_seq: int | None = None
    ) -> Awaitable[MutableItem | None]:
        """Resolves to the newest verified version of a mutable item, or ``None``."""
    def broadcast(
        self,
        keypair: Keypair,
        payload: bytes,
        *,
        seq: int | None = None,
        prefix: _Prefix | None = None,
        prefix_bits: int | None = None,
    ) -> Awaitable[int]:
        """``Node.broadcast`` as an awaitable."""
    def broadcasts(self) -> AsyncBroadcasts:
        """A receiver of the broadcasts this node delivers from now on."""
    def subscribe(self, public_key: bytes, *, salt: bytes | None = None) -> AsyncSubscription:
        """A subscription to a mutable item; it subscribes at ``__aenter__`` or the
        first ``__anext__``."""
    def subscribe_peers(self, info_hash: _IdLike) -> AsyncPeerSubscription:
        """A subscription to the peers of an info-hash; it subscribes at
        ``__aenter__`` or the first ``__anext__``."""
    def announce(
        self, info_hash: _IdLike, port: int | None = None, *, seed: bool = False
    ) -> Awaitable[int]:
        """Announces ``info_hash`` (as a seed if ``seed``); resolves to how many
        nodes acknowledged."""
    def scrape(self, info_hash: _IdLike) -> Awaitable[Scrape]:
        """Resolves to the estimated seeds and peers of ``info_hash`` (BEP 33)."""
    def sample_infohashes(self, target: _IdLike) -> Awaitable[Samples]:
        """Resolves to the info-hashes stored around ``target`` (BEP 51)."""
    def get_peers(self, info_hash: _IdLike) -> Awaitable[list[_Address]]:
        """Resolves to the peers announced for ``info_hash``."""
    def find_node(self, target: _IdLike) -> Awaitable[list[_Contact]]:
        """Resolves to the k nodes closest to ``target``."""
    def ping(self, address: _Address) -> Awaitable[Id]:
        """Pings ``(host, port)``; resolves to the id that answered."""
    def unpublish(self, key: _IdLike) -> bool:
        """Stops re-publishing the item ``key``."""
    def routing_table(self) -> list[_Contact]:
        """A snapshot of the routing table."""
    def stats(self) -> _Stats:
        """Counters, as ``Node.stats()``."""
    @property
    def address(self) -> _Address:
        """The bound UDP address."""
    @property
    def address6(self) -> _Address | None:
        """The bound IPv6 address of a dual-stack node (BEP 32); None with one socket."""
    @property
    def id(self) -> Id:
        """The node id."""
    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
    def close(self) -> Awaitable[None]:
        """Stops the node and frees its port."""
    def __aenter__(self) -> Awaitable[Self]: ...
    def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> Awaitable[Literal[False]]: ...

@final
class Latency:
    """How long a simulated datagram takes between two nodes (times in seconds)."""

    @staticmethod
    def constant(latency: float) -> Latency:
        """Every link has this one-way latency."""
    @staticmethod
    def uniform(min: float, max: float) -> Latency:
        """Each link's latency is uniform between ``min`` and ``max``."""
    @staticmethod
    def long_tail(median: float, p99: float) -> Latency:
        """Log-normal link latencies with this median and 99th percentile."""

@final
class Swarm:
    """A simulated DHT network in this process, in virtual time, seeded.

    ``overlay="one-hop"`` runs one-hop nodes (on the private network ``network``,
    ``"sim-cluster"`` by default, accepting broadcasts); the subscription methods
    subscribe chosen nodes and ``take_updates``/``take_peer_updates`` read what
    they were delivered. ``threads`` run the nodes (default: the cores, at most 8);
    the results do not depend on it."""

    def __new__(
        cls,
        nodes: int = 1000,
        seed: int = 0,
        latency: Latency | None = None,
        loss: float = 0.0,
        *,
        overlay: Literal["kademlia", "one-hop"] | None = None,
        partitioner: str | None = None,
        replicas: int | None = None,
        network: str | None = None,
        threads: int | None = None,
    ) -> Swarm: ...
    def put(self, value: bytes) -> Id:
        """Puts ``value`` from a random live node; returns its key."""
    def get(self, key: _IdLike) -> bytes | None:
        """Gets the item ``key`` from a random live node."""
    def crash(self, fraction: float) -> int:
        """Crashes ``fraction`` (0 to 1) of the live nodes; returns how many."""
    def partition(self, fraction: float) -> None:
        """Splits the live nodes in two groups until ``heal()``."""
    def heal(self) -> None:
        """Lifts the partition."""
    def advance(self, seconds: float) -> None:
        """Runs the network for ``seconds`` of virtual time."""
    def join(self) -> int:
        """A new node joins; returns its index."""
    @property
    def live(self) -> int:
        """Nodes running now."""
    def is_live(self, node: int) -> bool:
        """Whether node ``node`` (an index) is running."""
    def reset_ops(self) -> None:
        """Forgets the operations behind ``stats()``'s rates and percentiles."""
    def subscribe(self, node: int, public_key: bytes, *, salt: bytes | None = None) -> list[_Contact]:
        """Node ``node`` subscribes to a mutable item; returns the storing nodes asked."""
    def subscribe_peers(self, node: int, info_hash: _IdLike) -> list[_Contact]:
        """Node ``node`` subscribes to the peers of ``info_hash``; returns the nodes asked."""
    def put_mutable(
        self, node: int, keypair: Keypair, value: bytes, *, seq: int, salt: bytes | None = None
    ) -> int:
        """Node ``node`` publishes version ``seq`` of a mutable item; returns how many nodes stored it."""
    def announce(self, node: int, info_hash: _IdLike, port: int | None = None) -> int:
        """Node ``node`` announces ``info_hash``; returns how many nodes stored it."""
    def take_updates(self) -> list[tuple[int, int, float]]:
        """``(node, seq, at)`` of each version delivered since the last call."""
    def take_peer_updates(self) -> list[tuple[int, Id, _Address, float]]:
        """``(node, info_hash, (host, port), at)`` of each peer delivered since the last call."""
    def stats(self) -> _Stats:
        """Success rate, rounds, messages, latency percentiles, packets, memory."""
    def __len__(self) -> int: ...

@disjoint_base
class Partitioner:
    """The owners of keys among members: the base of ``Ring``, ``Rendezvous`` and ``XorPartitioner``."""

    def owners(self, key: _IdLike, r: int) -> list[Id]:
        """The ``r`` owners of ``key``, first the primary; ``BadInput`` if ``r`` exceeds the members."""
    def add(self, member: _IdLike, weight: float = 1.0) -> None:
        """Adds a member (weights other than 1: ``Rendezvous`` only); ``BadInput`` on a duplicate."""
    def remove(self, member: _IdLike) -> None:
        """Removes a member; ``BadInput`` if it is not one."""
    def members(self) -> list[Id]:
        """The members, sorted."""
    def __len__(self) -> int: ...
    def __contains__(self, member: object, /) -> bool: ...

@final
class Ring(Partitioner):
    """Consistent hashing with ``vnodes`` virtual nodes per member."""

    def __new__(cls, members: Iterable[_IdLike] | None = None, vnodes: int = 64) -> Ring: ...
    @property
    def vnodes(self) -> int:
        """Virtual nodes per member."""

@final
class Rendezvous(Partitioner):
    """Rendezvous (highest random weight) hashing; weighted members allowed."""

    def __new__(cls, members: Iterable[_IdLike] | None = None) -> Rendezvous: ...

@final
class XorPartitioner(Partitioner):
    """Kademlia's partitioning: the members closest to the key by XOR distance."""

    def __new__(cls, members: Iterable[_IdLike] | None = None) -> XorPartitioner: ...

@final
class OneHopSwarm:
    """A simulated one-hop network: every member knows every other, requests go
    straight to the owners a partitioner names; virtual time, seeded."""

    def __new__(
        cls,
        nodes: int = 2000,
        seed: int = 0,
        partitioner: str = "rendezvous",
        replicas: int = 3,
        loss: float = 0.0,
        session: float | None = None,
    ) -> OneHopSwarm: ...
    def run(self, ops: int, spread: float) -> None:
        """Puts ``ops`` items, then gets them, each phase over ``spread`` seconds."""
    def advance(self, seconds: float) -> None:
        """Runs the network for ``seconds`` of virtual time."""
    def stats(self) -> _Stats:
        """Round trips per get, messages per get and put, success, membership
        traffic, memory per node."""
