"""Builds the Python API reference (HTML) of the installed ``dipsea`` package with pdoc.

Usage: ``python docs/python_api.py OUTPUT_DIR`` (``make docs`` runs it with the Python
of ``.venv``, after ``maturin develop``).

The classes live in the native module ``dipsea._dipsea`` and present themselves as
members of ``dipsea``; their types are written in ``dipsea/_dipsea.pyi``. pdoc reads a
module's stub from ``<module>.pyi``, so for ``dipsea`` it is pointed at
``_dipsea.pyi``: signatures and annotations come from the stub, while docstrings stay
the runtime ones (the native module's own, which are the longer; the stub's serve
only where the runtime has none).

Warnings are errors, and so is a public class, function, method, property or
constant without a docstring.
"""

from __future__ import annotations

import html
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import pdoc
import pdoc.doc
import pdoc.doc_pyi
import pdoc.render

import dipsea

STUB = Path(dipsea.__file__).with_name("_dipsea.pyi")

_find_stub_file = pdoc.doc_pyi.find_stub_file
_patch_doc = pdoc.doc_pyi._patch_doc


def find_stub_file(module_name: str) -> Path | None:
    if module_name == "dipsea":
        return STUB
    return _find_stub_file(module_name)


def patch_doc(target_doc: pdoc.doc.Doc[Any], stub_mod: pdoc.doc.Module) -> None:
    runtime = target_doc.docstring
    _patch_doc(target_doc, stub_mod)
    if runtime:
        target_doc.docstring = runtime


def undocumented(ns: pdoc.doc.Namespace[Any]) -> list[str]:
    missing = []
    for member in ns.members.values():
        if member.name.startswith("_"):
            continue
        if isinstance(member, pdoc.doc.Variable) and member.name != member.name.upper():
            # Plain attributes (e.g. exception fields) need no docstring of their own.
            continue
        if member.taken_from[0] not in ("dipsea", "dipsea._dipsea", "dipsea.errors"):
            continue  # inherited from the standard library (Exception, ...)
        if not member.docstring.strip():
            missing.append(member.fullname)
        if isinstance(member, pdoc.doc.Class):
            missing += undocumented(member)
    return missing


def main() -> None:
    out = Path(sys.argv[1])
    warnings.simplefilter("error")
    pdoc.doc_pyi.find_stub_file = find_stub_file  # type: ignore[assignment]
    pdoc.doc_pyi._patch_doc = patch_doc
    pdoc.render.configure(
        docformat="restructuredtext",
        footer_text=f"dipsea {dipsea.__version__}",
        search=True,
        show_source=False,
    )
    module = pdoc.doc.Module(dipsea)
    missing = undocumented(module)
    if missing:
        sys.exit("undocumented public items:\n  " + "\n  ".join(missing))
    pdoc.pdoc("dipsea", output_directory=out)
    page = html.unescape(re.sub(r"<[^>]+>", "", (out / "dipsea.html").read_text()))
    # The stub's types reached the page (and so did the runtime's docstrings).
    for expected in ["put(self, value: bytes) -> Id", "Awaitable[", "BEP 44", dipsea.__version__]:
        if expected not in page:
            sys.exit(f"{out / 'dipsea.html'} lacks {expected!r}: the stub was not applied")
    print(f"Python API reference: {out / 'index.html'}")


if __name__ == "__main__":
    main()
