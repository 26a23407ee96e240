"""The exceptions dipsea raises: one tree under :class:`DhtError`.

The names are the core's error names (``dipsea::Error`` and ``OpError`` in Rust,
``DIPSEA_<NAME>`` in C): ``NoRoute``, ``Timeout``, ``NotStored``, ``BadInput``,
``Busy``, ``Shutdown``, ``Io``, ``Internal``. Each class that has an exact built-in
counterpart also inherits from it, so ``except TimeoutError``, ``except ValueError``
and ``except OSError`` catch dipsea's timeouts, bad arguments and OS errors too. The
native module maps every core error onto one of these classes, in one function.
"""

from __future__ import annotations

__all__ = [
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


class DhtError(Exception):
    """Base class of every error dipsea raises about the network or its input."""


class NoRoute(DhtError):
    """The routing table is empty and no bootstrap address is known.

    Give the node a bootstrap address (``Node(bootstrap=[...])``) or wait for it to
    re-bootstrap.
    """


class Timeout(DhtError, TimeoutError):
    """No node answered in time (dead bootstrap address, network down).

    Check the addresses and the network, then retry.
    """


class NotStored(DhtError):
    """Nodes answered, but none of them accepted the put or announce."""


class CasMismatch(NotStored):
    """A mutable put was refused: the stored sequence number is not the ``cas``
    given (BEP 44 error 301). Get the item, then retry with its ``seq`` as ``cas``."""


class SeqTooOld(NotStored):
    """A mutable put was refused: the nodes hold a newer version (BEP 44 error
    302). Get the item and put with a higher ``seq`` (or none)."""


class BadInput(DhtError, ValueError):
    """An argument is invalid: an id of the wrong size, a bad hex digit, a value
    over BEP 44's 1000 bytes, an address that does not resolve, a setting out of
    range (``k=0``, a loss outside 0 to 1)."""


class Busy(DhtError):
    """The node is at a limit: too many operations running (``max_operations``) or
    too many queries awaiting an answer (``max_in_flight``); retry when some finish."""


class Shutdown(DhtError):
    """The node is closed, or was closed while the operation ran."""


class Io(DhtError, OSError):
    """The operating system refused something: binding the socket (address in use,
    permission), reading or writing the state file. ``errno`` is set when known."""


class Internal(DhtError):
    """A bug in dipsea; please report it with the message."""
