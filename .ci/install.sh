#!/usr/bin/env bash
# Installs everything lutsearch needs on a fresh Debian/Ubuntu machine with Python >= 3.10:
# the EDA tools (Yosys, Verilator, Icarus) and headless Chromium through .ci/install_hw.sh, PostgreSQL's
# server binaries through .ci/services.sh, then the Python package.
# torch is pinned first to the CPU wheel (any other torch spec would pull CUDA packages).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f .ci/install_hw.sh ]; then
  bash .ci/install_hw.sh
fi
# PostgreSQL's server binaries (apt, if missing): tests/test_postgres.py starts a throwaway server with them
bash .ci/services.sh install
python3 -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
python3 -m pip install --quiet --disable-pip-version-check -e ".[test]"
