"""dipsea.Id: construction, conversions, the XOR metric, ordering, hashing."""

from __future__ import annotations

import pickle

import pytest

import dipsea
from dipsea import Id

# BEP 44's example: the key of the immutable item "hello world".
HELLO_KEY = "6d33adc2b6b2c14c3036feefb7fedbca1a880527"


def test_sha1_matches_bep44_example() -> None:
    assert Id.sha1(b"11:hello world").hex() == HELLO_KEY


def test_hex_round_trip_and_case() -> None:
    a = Id.from_hex(HELLO_KEY.upper())
    assert a.hex() == HELLO_KEY
    assert str(a) == HELLO_KEY
    assert Id.from_hex(a.hex()) == a


def test_bytes_round_trip() -> None:
    a = Id.random()
    raw = bytes(a)
    assert len(raw) == dipsea.ID_LEN == len(a) == 20
    assert Id(raw) == a == Id.from_bytes(raw)
    assert Id(a) == a
    assert Id(a.hex()) == a


def test_random_ids_differ() -> None:
    assert len({Id.random() for _ in range(100)}) == 100


def test_xor_is_the_distance() -> None:
    a, b = Id.random(), Id.random()
    assert a ^ a == Id(bytes(20))
    assert a ^ b == b ^ a == a.distance(b)
    assert bytes(a ^ b) == bytes(x ^ y for x, y in zip(bytes(a), bytes(b)))
    assert a.common_prefix_len(a) == 160


def test_ordering_is_big_endian() -> None:
    ids = [Id.random() for _ in range(50)]
    assert sorted(ids) == sorted(ids, key=bytes)
    low, high = Id(bytes(20)), Id(b"\xff" * 20)
    assert low < high and high > low and low <= low and high >= high
    assert low != high


def test_hashing_and_equality() -> None:
    a = Id.random()
    b = Id(bytes(a))
    assert a == b and hash(a) == hash(b)
    assert {a: 1}[b] == 1
    assert a != bytes(a)  # an Id never equals its bytes


def test_repr_and_pickle() -> None:
    a = Id.from_hex(HELLO_KEY)
    assert repr(a) == f"Id('{HELLO_KEY}')"
    assert pickle.loads(pickle.dumps(a)) == a


@pytest.mark.parametrize("bad", [b"short", b"x" * 21, "abc", "g" * 40])
def test_bad_sizes_and_digits_raise_value_error(bad: bytes | str) -> None:
    with pytest.raises(ValueError) as info:
        Id(bad)
    assert isinstance(info.value, dipsea.BadInput)
    assert isinstance(info.value, dipsea.DhtError)


def test_bad_types_raise_type_error() -> None:
    with pytest.raises(TypeError, match="expected a dipsea.Id, 20 bytes or 40 hex digits, got int"):
        Id(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Id.sha1("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _ = Id.random() ^ 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        _ = Id.random() < b"x"  # type: ignore[operator]


def test_from_hex_errors_say_what_is_wrong() -> None:
    with pytest.raises(dipsea.BadInput, match="40 hex digits, got 3 characters"):
        Id.from_hex("abc")
    with pytest.raises(dipsea.BadInput, match="invalid hex digit 'g' at position 0"):
        Id.from_hex("g" * 40)


def test_error_classes_are_named_after_the_core_errors() -> None:
    # One vocabulary: OpError::NotStored is dipsea.NotStored and DIPSEA_NOT_STORED.
    names = ["NoRoute", "Timeout", "NotStored", "BadInput", "Busy", "Shutdown", "Io", "Internal"]
    assert set(names) <= set(dipsea.__all__)
    classes = [getattr(dipsea, name) for name in names]
    assert all(issubclass(c, dipsea.DhtError) and c.__name__ in names for c in classes)
    assert issubclass(dipsea.Timeout, TimeoutError)
    assert issubclass(dipsea.BadInput, ValueError)
    assert issubclass(dipsea.Io, OSError)
    assert not hasattr(dipsea, "PutFailed") and not hasattr(dipsea, "NodeClosed")
