#!/usr/bin/env bash
# Create .venv (if missing) and install the project with its pipeline and dev tools.
# TORCH_SPEC picks the torch build: the default pin takes a CPU wheel where one is cached locally;
# on a GPU box use e.g. TORCH_SPEC="torch==2.13.0" with the CUDA index of your choice.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.installed-$(cat pyproject.toml | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    # torch first, pinned: an unpinned resolve may pull a multi-GB CUDA build
    "$VENV/bin/python" -m pip install -q "$TORCH_SPEC"
    "$VENV/bin/python" -m pip install -q -e ".[dev]"
    touch "$stamp"
fi
echo "environment ready: $VENV ($("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
