"""The package's version is the crate's: the one in Cargo.toml, the installed
distribution's metadata, and dipsea.__version__ agree."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import dipsea

CARGO_TOML = Path(__file__).resolve().parents[2] / "Cargo.toml"


def test_version_is_the_distributions() -> None:
    assert dipsea.__version__ == metadata.version("dipsea")


def test_version_is_the_workspace_crate_version() -> None:
    text = CARGO_TOML.read_text()
    section = text.split("[workspace.package]", 1)[1]
    match = re.search(r'^version = "([^"]+)"', section, re.MULTILINE)
    assert match is not None
    assert dipsea.__version__ == match.group(1)
