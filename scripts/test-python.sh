#!/usr/bin/env bash
# The Python binding's step of the tests (scripts/test-all.sh runs it): a
# virtual environment in target/python-venv with maturin, pytest and numpy
# from PyPI, the package built from bindings-python/ and installed there as
# `pip install` would on any machine, then its pytest suite, with Python
# against the Rust conformance peer (built here) and the C and Go ones when
# SHMLANE_PEER_C and SHMLANE_PEER_GO name them (test-all.sh builds them
# first). Needs Python 3.11 or later as `python3` (or $PYTHON) with its venv
# module. Under a minute on two cores, the first run included.
set -euo pipefail
cd "$(dirname "$0")/.."

python="${PYTHON:-python3}"
venv="$PWD/target/python-venv"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "bindings-python needs Python 3.11 or later; $python is $("$python" --version 2>&1)" >&2
    exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
# maturin comes from the venv's bin (the build backend runs it by name).
export PATH="$venv/bin:$PATH"
pip install --quiet --disable-pip-version-check "maturin>=1.9,<2" "pytest>=8" "numpy>=1.26"

# The same build as `pip install ./bindings-python`, with the venv's maturin
# instead of one fetched into an isolated environment; reinstalled every run,
# since the version number does not change with the code.
pip install --quiet --disable-pip-version-check --no-build-isolation \
    --force-reinstall --no-deps ./bindings-python

# The Rust peer of conformance/README.md, for tests/test_conformance.py.
cargo build --quiet --release -p shmlane-conformance --bin shmlane-peer
export SHMLANE_PEER_RUST="${SHMLANE_PEER_RUST:-${CARGO_TARGET_DIR:-$PWD/target}/release/shmlane-peer}"
export SHMLANE_PEERS_REQUIRED="${SHMLANE_PEERS_REQUIRED:-rust}"

# From the tests' folder, so that `import shmlane` finds the installed
# package, not the source tree; the cache stays out of the checkout.
cd bindings-python/tests
python -m pytest -q -p no:cacheprovider "$@"
