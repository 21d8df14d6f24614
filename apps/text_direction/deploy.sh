#!/usr/bin/env bash
# Deploy the real PP-OCR text-direction classifier (shipped in rapidocr_onnxruntime 1.4.4)
# to the emulated RK3399 on both engines and print the report.
set -euo pipefail
PY=${PYTHON:-python3}
MODEL=$($PY -m sdk.tools.demo_models cls)
exec $PY -m sdk deploy "$MODEL" --engine all --input-shape x=1,3,48,192 "$@"
