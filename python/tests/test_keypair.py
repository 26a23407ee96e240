"""dipsea.Keypair: seeds, public keys, BEP 44 targets, key files."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

import dipsea
from dipsea import Id, Keypair

# RFC 8032, test 1: a secret seed and its public key.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")


def test_seed_gives_the_rfc8032_public_key() -> None:
    keypair = Keypair.from_seed(RFC8032_SEED)
    assert keypair.public_key == RFC8032_PUBLIC
    assert keypair.seed == RFC8032_SEED
    assert RFC8032_PUBLIC.hex() in repr(keypair)
    assert RFC8032_SEED.hex() not in repr(keypair)


def test_random_keypairs_differ() -> None:
    keys = {Keypair.random().public_key for _ in range(20)}
    assert len(keys) == 20
    assert all(len(k) == 32 for k in keys)


def test_target_is_sha1_of_key_and_salt() -> None:
    keypair = Keypair.random()
    assert keypair.target() == Id.sha1(keypair.public_key)
    assert keypair.target(b"salt") == Id.sha1(keypair.public_key + b"salt")


def test_a_seed_of_the_wrong_size_is_bad_input() -> None:
    with pytest.raises(dipsea.BadInput, match="32 bytes"):
        Keypair.from_seed(b"short")
    with pytest.raises(ValueError):
        Keypair.from_seed(bytes(33))


def test_key_files_round_trip_owner_only_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "key"
    keypair = Keypair.random()
    keypair.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert Keypair.load(str(path)).public_key == keypair.public_key
    with pytest.raises(dipsea.Io) as info:
        Keypair.random().save(path)
    assert info.value.errno == errno.EEXIST
    assert Keypair.load(path).public_key == keypair.public_key


def test_loading_a_garbled_or_missing_file_fails(tmp_path: Path) -> None:
    path = tmp_path / "garbled"
    with pytest.raises(dipsea.Io):
        Keypair.load(path)
    path.write_text("not a key\n")
    with pytest.raises(dipsea.BadInput, match="not a key file"):
        Keypair.load(path)
