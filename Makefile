# The commands developers and CI both run. `make help` lists them.
# `make test` is the one test command: .ci/run calls it and nothing else.

CARGO ?= cargo
VENV ?= .venv
PY := $(VENV)/bin/python
ROOT := $(CURDIR)
# VERSION (from [workspace.package] in Cargo.toml, the one place that sets it), ABI, SONAME.
include bindings/c/version.mk

.PHONY: install uninstall wheel docs test-package
.PHONY: help test fmt fmt-check lint test-rust bench bench-build venv test-interop header header-check test-c test-py

help: ## list targets
	@grep -hE '^[a-z-]+:.*## ' $(firstword $(MAKEFILE_LIST)) | sed 's/:.*## /\t/' | sort

test: fmt-check lint test-rust bench-build test-interop header-check test-c test-py test-package ## everything CI checks: fmt, clippy, Rust tests, benches compile, libtorrent interop, C header drift, C tests under valgrind, Python tests, the shipped packages and docs

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
	# The module is abi3 (_dipsea.abi3.so); a _dipsea.cpython-*.so left by an older build
	# would shadow it on import.
	rm -f python/dipsea/_dipsea.cpython-*.so
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

DOCS := target/docs

docs: venv ## API docs, warnings are errors: Rust (target/doc), Python (pdoc) and C (from dipsea.h) in target/docs
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps -p dipsea
	rm -f python/dipsea/_dipsea.cpython-*.so
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop -q
	rm -rf $(DOCS)/python $(DOCS)/c
	$(PY) docs/python_api.py $(DOCS)/python
	$(PY) docs/c_api.py include/dipsea.h $(DOCS)/c
	$(PY) -m mypy --strict docs/python_api.py docs/c_api.py python/smoke/wheel_smoke.py
	@echo "Rust API: target/doc/dipsea/index.html; user guide: docs/guide.md"

# The wheel in the dev profile: it reuses what `make test-py` built (same features,
# same profile), where a release build would cost minutes; packaging, platform tag
# (maturin's auditwheel check) and abi3 are the same as `make wheel`'s.
DEV_WHEELS := target/wheels-dev

test-package: venv ## the shipped packages as users get them: the wheel in fresh virtualenvs, libdipsea installed and used through pkg-config and CMake, cargo package, the crate's examples, make docs
	rm -rf $(DEV_WHEELS)
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin build --profile dev --compatibility $(MANYLINUX) -o $(DEV_WHEELS)
	python/smoke/test_wheel.sh $(DEV_WHEELS)/dipsea-$(VERSION)-cp39-abi3-$(MANYLINUX)_$(shell uname -m).whl $(VERSION)
	command -v cmake >/dev/null || test -x $(VENV)/bin/cmake || $(PY) -m pip install -q cmake
	$(MAKE) -C bindings/c test-install PROFILE=debug \
		CMAKE="$$(command -v cmake || echo $(abspath $(VENV))/bin/cmake)"
	# --allow-dirty: a developer's uncommitted work must not fail the check (CI's clone is clean).
	$(CARGO) package -p dipsea --allow-dirty
	$(CARGO) run -q -p dipsea --example node -- 127.0.0.1:0 1
	$(CARGO) run -q -p dipsea --example put_get
	$(CARGO) run -q -p dipsea --example swarm -- 500
	$(MAKE) docs

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
