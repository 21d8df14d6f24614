#!/usr/bin/env bash
# The whole test suite: Python tests (unit + integration on the emulated rk3399 over SSH),
# then the C++ kernel tests cross-compiled and run under QEMU for every CPU model.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
status=0
$PY -m ruff check sdk tests || status=1
$PY -m mypy sdk || status=1
$PY -m pytest -q --durations=25 "$@" || status=1
bash cross/run-kernel-tests.sh || status=1
exit $status
