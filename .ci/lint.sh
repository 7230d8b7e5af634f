#!/usr/bin/env bash
# Code health: ruff (lint + format check) over the repository, mypy over the package (settings in
# pyproject.toml). Installs the pinned tools itself (the `lint` extra).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e ".[lint]"
ruff check .
ruff format --check .
mypy
