# pymm's two entry points (see README): `make start` and `make test`.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
# Python trees that ruff checks (only those present: bench/ appears with the first benchmark).
PY_TREES := $(wildcard pymm tests bench)
CARGO ?= cargo
export PYMM_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: install start test test-rust test-python lint coverage efvi-shim

install:
	./scripts/install-system-packages
	$(PIP) install --quiet --disable-pip-version-check -e '.[dev,ops,thirdparty]'

start: install
	pymm start

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --workspace --all-targets --features python -- -D warnings
	$(PYTHON) -m ruff check $(PY_TREES)
	$(PYTHON) -m ruff format --check $(PY_TREES)

test-rust:
	$(CARGO) test --workspace

test-python: install
	$(PYTHON) -m mypy.stubtest pymm._native
	$(PYTHON) -m pytest -q

test: install lint test-rust test-python

# Line coverage for Python (pytest-cov) and Rust (cargo-llvm-cov); not part of every CI pass.
coverage: install
	$(PYTHON) -m pytest -q --cov=pymm --cov-report=term-missing
	$(CARGO) install --quiet --locked cargo-llvm-cov
	rustup component add llvm-tools-preview
	$(CARGO) llvm-cov --workspace --summary-only

# Opt-in, on a host with an Onload source tree (docs/ops/ef_vi.md): pymm's ef_vi shim, linked
# statically against libciul (whose ABI moves between Onload releases). The engine loads it at run
# time (PYMM_EFVI_SHIM, else libpymm_efvi.so on the loader path) and falls back to kernel sockets
# without it. ONLOAD_DIR: the Onload tree; CIUL_LIB: its built libciul1.a.
ONLOAD_DIR ?=
CIUL_LIB ?= $(firstword $(wildcard $(ONLOAD_DIR)/build/gnu_x86_64/lib/ciul/libciul1.a))
efvi-shim:
	@test -n "$(ONLOAD_DIR)" && test -f "$(ONLOAD_DIR)/src/include/etherfabric/ef_vi.h" || \
	  { echo "efvi-shim: set ONLOAD_DIR to an Onload tree (src/include/etherfabric/ef_vi.h)"; exit 2; }
	@test -f "$(CIUL_LIB)" || \
	  { echo "efvi-shim: libciul1.a not found; build Onload (scripts/onload_build) or set CIUL_LIB"; exit 2; }
	mkdir -p build
	$(CC) -shared -fPIC -O2 -Wall -Wextra -o build/libpymm_efvi.so native/shim/efvi_shim.c \
	  -Inative/shim -I$(ONLOAD_DIR)/src/include -Wl,--whole-archive $(CIUL_LIB) -Wl,--no-whole-archive
	@echo "built build/libpymm_efvi.so; export PYMM_EFVI_SHIM=$$(pwd)/build/libpymm_efvi.so"
