# pymm's two entry points (see README): `make start` and `make test`.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
# Python trees that ruff checks (only those present: bench/ appears with the first benchmark).
PY_TREES := $(wildcard pymm tests bench)
CARGO ?= cargo
export PYMM_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: install start test test-rust test-python lint coverage

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
