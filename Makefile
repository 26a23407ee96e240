# The commands developers and CI both run. `make help` lists them.
# `make test` is the one test command: .ci/run calls it and nothing else.

CARGO ?= cargo
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install uninstall wheel docs test-package
.PHONY: help test fmt fmt-check lint test-rust bench bench-build venv test-interop header header-check test-c test-py

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

test: fmt-check lint test-rust bench-build test-interop header-check test-c test-py ## everything CI checks: fmt, clippy, Rust tests, benches compile, libtorrent interop, C header drift, C tests under valgrind, Python tests

fmt: ## format the Rust code
	$(CARGO) fmt --all

fmt-check: ## fail if the Rust code is not formatted
	$(CARGO) fmt --all -- --check

lint: ## clippy on every target and rustdoc on the core crate, warnings are errors
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc -p dipsea --no-deps

test-rust: ## unit, property and integration tests of the workspace
	$(CARGO) test --workspace

test-interop: venv ## libtorrent (Python bindings from .venv) against dipsea nodes on loopback
	DIPSEA_INTEROP=1 DIPSEA_PYTHON=$(abspath $(PY)) $(CARGO) test -p dipsea-tests --test interop_libtorrent

test-py: venv ## build the Python package into .venv (maturin develop), pytest, mypy --strict, stubtest
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop -q
	$(PY) -m pytest python/tests -q
	$(PY) -m mypy --strict python/examples python/tests
	$(PY) -m mypy.stubtest dipsea._dipsea

# The wheel's platform tag: the oldest manylinux policy this machine's builds meet
# (glibc 2.34 symbols: Rust's std links against the merged libpthread). maturin's own
# auditwheel check fails the build if the library needs anything newer.
MANYLINUX ?= manylinux_2_34
WHEELS := target/wheels

wheel: venv ## the release abi3 wheel (CPython 3.9+, $(MANYLINUX)) and the sdist, into target/wheels
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin build --release --compatibility $(MANYLINUX) -o $(WHEELS)
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin sdist -o $(WHEELS)

PREFIX ?= /usr/local
INSTALL_PROFILE ?= release

install: ## install libdipsea (.so with soname, .a), dipsea.h, dipsea.pc and the CMake config under PREFIX (default /usr/local)
	$(MAKE) -C bindings/c install PROFILE=$(INSTALL_PROFILE) PREFIX=$(abspath $(PREFIX))

uninstall: ## remove what `make install` put under PREFIX
	$(MAKE) -C bindings/c uninstall PREFIX=$(abspath $(PREFIX))

header: ## regenerate include/dipsea.h from bindings/c with cbindgen (pinned, installed into target/tools)
	$(MAKE) -C bindings/c header

header-check: ## fail if include/dipsea.h differs from what cbindgen generates
	$(MAKE) -C bindings/c header-check

test-c: ## build libdipsea, run the C tests under valgrind, build and run the C/C++ examples
	$(MAKE) -C bindings/c test

bench-build: ## compile the benchmarks without running them
	$(CARGO) bench --workspace --no-run

bench: ## run the criterion benchmarks (slow; numbers go in issue notes)
	$(CARGO) bench -p dipsea-benches

venv: $(VENV)/.installed ## Python virtualenv with the test tools (requirements-dev.txt)

$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@
