#!/usr/bin/env bash
# Installs a dipsea wheel into fresh virtualenvs, one per Python found (the default
# python3 and, where the machine has it, the oldest supported: 3.9), on a PATH with no
# cargo or rustc, and runs wheel_smoke.py there: two nodes on loopback, put and get,
# blocking and asyncio. Called by `make test-package`.
#
# Usage: python/smoke/test_wheel.sh WHEEL VERSION
set -euo pipefail
wheel=$(realpath "$1")
version=$2
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# The interpreters: python3 itself (resolved past pyenv's shims), and 3.9 if present.
pythons=("$(python3 -c 'import sys; print(sys.executable)')")
for candidate in python3.9 "$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/3.9*/bin/python3.9; do
    if exe=$("$candidate" -c 'import sys; print(sys.executable)' 2>/dev/null); then
        pythons+=("$exe")
        break
    fi
done

for python in "${pythons[@]}"; do
    venv="$scratch/venv-$(basename "$python")"
    "$python" -m venv "$venv"
    # Only the venv and the system's own tools: no ~/.cargo/bin, no pyenv.
    clean_path="$venv/bin:/usr/bin:/bin"
    if env PATH="$clean_path" sh -c 'command -v cargo || command -v rustc'; then
        echo "a Rust toolchain is on the clean PATH; the test would prove nothing"
        exit 1
    fi
    echo "== $("$venv/bin/python" --version) in a fresh virtualenv, PATH=$clean_path"
    started=$("$venv/bin/python" -c 'import time; print(time.time())')
    (
        cd "$scratch" # away from the source tree, so `import dipsea` finds the wheel
        env -i HOME="$scratch" PATH="$clean_path" "$venv/bin/python" -m pip install \
            --quiet --no-index --disable-pip-version-check "$wheel"
        env -i HOME="$scratch" PATH="$clean_path" "$venv/bin/python" \
            "$here/wheel_smoke.py" "$version" "$started"
    )
done
