"""The exceptions dipsea raises: one tree under :class:`DhtError`.

Each class that has an exact built-in counterpart also inherits from it, so
``except TimeoutError`` and ``except ValueError`` catch dipsea's timeouts and bad
arguments too. The native module maps every core error onto one of these classes.
"""

from __future__ import annotations

__all__ = [
    "DhtError",
    "NoRoute",
    "DhtTimeout",
    "PutFailed",
    "CasMismatch",
    "SeqTooOld",
    "BadInput",
    "Busy",
    "NodeClosed",
    "DhtOSError",
    "InternalError",
]


class DhtError(Exception):
    """Base class of every error dipsea raises about the network or its input."""


class NoRoute(DhtError):
    """The routing table is empty and no bootstrap address is known.

    Give the node a bootstrap address (``Node(bootstrap=[...])``) or wait for it to
    re-bootstrap.
    """


class DhtTimeout(DhtError, TimeoutError):
    """No node answered in time (dead bootstrap address, network down).

    Check the addresses and the network, then retry.
    """


class PutFailed(DhtError):
    """Nodes answered, but none of them accepted the put or announce."""


class CasMismatch(PutFailed):
    """A mutable put was refused: the stored sequence number is not the ``cas``
    given (BEP 44 error 301). Get the item, then retry with its ``seq`` as ``cas``."""


class SeqTooOld(PutFailed):
    """A mutable put was refused: the nodes hold a newer version (BEP 44 error
    302). Get the item and put with a higher ``seq`` (or none)."""


class BadInput(DhtError, ValueError):
    """An argument is invalid: an id of the wrong size, a bad hex digit, a value
    over BEP 44's 1000 bytes, an address that does not resolve."""


class Busy(DhtError):
    """Too many operations are running on this node; retry when some finish."""


class NodeClosed(DhtError):
    """The node is closed, or was closed while the operation ran."""


class DhtOSError(DhtError, OSError):
    """The operating system refused something: binding the socket (address in use,
    permission), reading or writing the state file. ``errno`` is set when known."""


class InternalError(DhtError):
    """A bug in dipsea; please report it with the message."""
