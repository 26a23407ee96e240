"""dipsea.Ring, dipsea.Rendezvous, dipsea.XorPartitioner: owners, membership, errors."""

from __future__ import annotations

import threading

import pytest

import dipsea
from dipsea import Id, Rendezvous, Ring, XorPartitioner


def servers(n: int) -> list[Id]:
    return [Id.sha1(f"server-{i}".encode()) for i in range(n)]


def kinds(members: list[Id]) -> list[dipsea.Partitioner]:
    return [Ring(members, vnodes=16), Rendezvous(members), XorPartitioner(members)]


def test_owners_are_distinct_members_in_a_stable_order() -> None:
    members = servers(10)
    key = Id.sha1(b"user:42")
    for p in kinds(members):
        owners = p.owners(key, 3)
        assert len(owners) == 3 == len(set(owners))
        assert all(o in p for o in owners)
        assert p.owners(key, 3) == owners
        assert p.owners(key, 1) == owners[:1]
        assert p.owners(key.hex(), 3) == owners
        assert p.owners(bytes(key), 3) == owners
        assert p.owners(key, 0) == []


def test_owners_do_not_depend_on_member_order() -> None:
    members = servers(20)
    key = Id.sha1(b"k")
    for a, b in zip(kinds(members), kinds(list(reversed(members)))):
        assert a.owners(key, 4) == b.owners(key, 4)
        assert a.members() == b.members() == sorted(members)


def test_xor_owners_are_the_closest() -> None:
    members = servers(50)
    key = Id.sha1(b"k")
    closest = sorted(members, key=lambda m: m ^ key)[:5]
    assert XorPartitioner(members).owners(key, 5) == closest


def test_add_and_remove_move_only_that_members_keys() -> None:
    members = servers(30)
    keys = [Id.sha1(str(i).encode()) for i in range(300)]
    newcomer = Id.sha1(b"newcomer")
    for p in kinds(members):
        before = [p.owners(k, 1)[0] for k in keys]
        p.add(newcomer)
        assert len(p) == 31 and newcomer in p
        after = [p.owners(k, 1)[0] for k in keys]
        assert all(a in (b, newcomer) for a, b in zip(after, before))
        p.remove(newcomer)
        assert [p.owners(k, 1)[0] for k in keys] == before
        leaver = members[0]
        p.remove(leaver)
        assert len(p) == 29 and leaver not in p
        gone = [p.owners(k, 1)[0] for k in keys]
        assert all(g == b for g, b in zip(gone, before) if b != leaver)


def test_weighted_rendezvous_shares() -> None:
    members = servers(4)
    p = Rendezvous(members[1:])
    p.add(members[0], weight=3.0)
    won = sum(p.owners(Id.sha1(str(i).encode()), 1)[0] == members[0] for i in range(6000))
    # Expected 3/6 of the keys; the standard deviation is about 40.
    assert 2700 < won < 3300


def test_errors_are_value_errors_with_the_core_message() -> None:
    a, b = servers(2)
    for p in kinds([a]):
        with pytest.raises(dipsea.BadInput, match="duplicate member"):
            p.add(a)
        with pytest.raises(ValueError, match="unknown member"):
            p.remove(b)
        with pytest.raises(ValueError, match="asked for 2 owners among 1 members"):
            p.owners(a, 2)
        assert len(p) == 1
    with pytest.raises(ValueError, match="duplicate member"):
        Rendezvous([a, b, a])
    with pytest.raises(ValueError, match="virtual nodes"):
        Ring([a], vnodes=0)
    with pytest.raises(ValueError, match="does not take weights"):
        Ring([a]).add(b, weight=2.0)
    with pytest.raises(ValueError, match="weight must be finite and positive"):
        Rendezvous().add(b, weight=-1.0)
    with pytest.raises(ValueError):
        Ring(["not hex"])
    with pytest.raises(TypeError):
        Ring([42])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        dipsea.Partitioner()


def test_repr_len_and_properties() -> None:
    # The default the stubs and the signature show is the core's.
    assert Ring().vnodes == 64
    r = Ring(servers(3), vnodes=32)
    assert r.vnodes == 32
    assert len(r) == 3
    assert repr(r) == "<Ring: 3 members, 32 vnodes>"
    assert repr(Rendezvous()) == "<Rendezvous: 0 members>"
    assert isinstance(XorPartitioner(), dipsea.Partitioner)
    assert 42 not in r


def test_lookups_from_threads() -> None:
    p = Rendezvous(servers(1000))
    keys = [Id.sha1(str(i).encode()) for i in range(200)]
    expected = [p.owners(k, 3) for k in keys]
    results: list[bool] = []

    def worker() -> None:
        results.append([p.owners(k, 3) for k in keys] == expected)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 4
