"""Calibration data: a directory of images and/or ``.npy`` tensors -> model feeds.

Images go through :func:`sdk.device.preprocess.preprocess`, the one preprocessing the
deployment uses on the board, so int8 scales are computed on exactly what the model sees.
Without a spec, images must already have the model input's size and are only converted to
float NCHW (no resize, no normalisation): a silent resize would calibrate on inputs the
deployment never produces.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from sdk.device.preprocess import ImageSpec, preprocess
from sdk.errors import SdkError

__all__ = [
    "IMAGE_SUFFIXES",
    "TENSOR_SUFFIXES",
    "CalibrationError",
    "calibration_files",
    "calibration_sha",
    "load_calibration",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
TENSOR_SUFFIXES = (".npy",)


class CalibrationError(SdkError):
    """The calibration data is missing, empty, unreadable or does not fit the model."""


def _check_dir(calib_dir: Path) -> Path:
    d = Path(calib_dir)
    if not d.exists():
        raise CalibrationError(
            f"calibration directory {d} does not exist",
            expected="a directory of images or .npy tensors",
            found="nothing at that path",
            fix="pass --calib DIR with an existing directory",
        )
    if not d.is_dir():
        raise CalibrationError(
            f"calibration path {d} is not a directory",
            expected="a directory of images or .npy tensors",
            found="a file",
            fix="pass the directory that holds the calibration files",
        )
    return d


def calibration_files(calib_dir: Path) -> list[Path]:
    """The usable files of ``calib_dir`` (images and .npy), sorted by name; hidden files skipped."""
    d = _check_dir(calib_dir)
    accepted = IMAGE_SUFFIXES + TENSOR_SUFFIXES
    files = sorted(
        (
            p
            for p in d.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in accepted
        ),
        key=lambda p: p.name,
    )
    if not files:
        raise CalibrationError(
            f"calibration directory {d} has no usable files",
            expected=f"files ending in {', '.join(accepted)}",
            found=f"{sum(1 for _ in d.iterdir())} other entries",
            fix="put calibration images (or preprocessed .npy tensors) in it, e.g. 100 typical inputs",
        )
    return files


def calibration_sha(calib_dir: Path) -> str:
    """sha256 over the names and contents of the usable files, in load order (for caching)."""
    h = hashlib.sha256()
    for p in calibration_files(calib_dir):
        h.update(p.name.encode() + b"\0")
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def _read_image(path: Path) -> np.ndarray:
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise CalibrationError(
            f"calibration image {path.name} cannot be read",
            expected="a valid PNG, JPEG or BMP file",
            found=f"{data.size} bytes that do not decode",
            fix=f"replace or remove {path}",
        )
    if img.dtype != np.uint8:  # 16-bit PNGs: keep the high byte, as an 8-bit image
        img = (img // 256 if img.dtype == np.uint16 else np.clip(img, 0, 255)).astype(np.uint8)
    return img


def _source_format(img: np.ndarray) -> str:
    if img.ndim == 2 or img.shape[2] == 1:
        return "gray"
    return "bgra" if img.shape[2] == 4 else "bgr"


def _image_feed(
    img: np.ndarray, path: Path, input_shape: tuple[int, ...], spec: ImageSpec | None
) -> np.ndarray:
    import cv2

    fmt = _source_format(img)
    if fmt == "bgra":  # preprocess knows rgba, not bgra
        img, fmt = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA), "rgba"
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if spec is not None:
        x, _ = preprocess(img, spec, source=fmt)
        return x
    # no spec: the image must already be the model input's size; only HWC->NCHW float
    if len(input_shape) != 4:
        raise CalibrationError(
            f"calibration image {path.name} cannot feed a rank-{len(input_shape)} input",
            expected="a 4-D NCHW image input, or .npy tensors",
            found=f"input shape {tuple(input_shape)}",
            fix="save preprocessed inputs as .npy files",
        )
    c, h, w = (int(d) for d in input_shape[1:])
    if img.shape[:2] != (h, w):
        raise CalibrationError(
            f"calibration images of the wrong size: {path.name}",
            expected=f"{w}x{h} (the model input)",
            found=f"{img.shape[1]}x{img.shape[0]}",
            fix=f"pass --preprocess size={w}x{h},... so images are resized as the deployment does",
        )
    color = "gray" if c == 1 else "bgr"
    identity = ImageSpec(width=w, height=h, color=color)
    x, _ = preprocess(img, identity, source=fmt)
    return x


def _tensor_feed(path: Path, input_shape: tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.load(str(path), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise CalibrationError(
            f"calibration tensor {path.name} cannot be read",
            expected="a .npy file written by numpy.save",
            found=" ".join(str(exc).split())[:120] or type(exc).__name__,
            fix=f"replace or remove {path}",
        ) from None
    shape = tuple(int(d) for d in input_shape)
    ok_shape = arr.shape == shape or (len(shape) > 1 and shape[0] == 1 and arr.shape == shape[1:])
    if not ok_shape or arr.dtype not in (np.float32, np.float64, np.float16):
        raise CalibrationError(
            f"calibration tensor {path.name} does not fit the model input",
            expected=f"float32 {shape}",
            found=f"{arr.dtype} {arr.shape}",
            fix="save the preprocessed input exactly as the model takes it (numpy.save, float32 NCHW)",
        )
    return np.ascontiguousarray(arr.reshape(shape), dtype=np.float32)


def load_calibration(
    calib_dir: Path,
    input_name: str,
    input_shape: tuple[int, ...],
    spec: ImageSpec | None,
    *,
    limit: int | None = None,
) -> list[dict[str, np.ndarray]]:
    """Model feeds ``{input_name: float32 array of input_shape}``, one per file, sorted by name.

    Images (png, jpg, jpeg, bmp) go through ``preprocess(img, spec)``; ``.npy`` files are taken
    as already preprocessed. ``limit`` keeps the first ``limit`` files. Raises
    :class:`CalibrationError` (one line, naming the file) for anything unusable.
    """
    files = calibration_files(calib_dir)
    if limit is not None:
        if limit < 1:
            raise CalibrationError(
                "calibration limit must be at least 1",
                expected=">= 1",
                found=str(limit),
                fix="pass a count >= 1",
            )
        files = files[:limit]
    shape = tuple(int(d) for d in input_shape)
    if spec is not None and len(shape) == 4 and (shape[2], shape[3]) != (spec.height, spec.width):
        raise CalibrationError(
            "the preprocessing size does not match the model input",
            expected=f"{shape[3]}x{shape[2]}",
            found=f"size={spec.width}x{spec.height}",
            fix=f"pass --preprocess size={shape[3]}x{shape[2]},...",
        )
    feeds: list[dict[str, np.ndarray]] = []
    for path in files:
        if path.suffix.lower() in TENSOR_SUFFIXES:
            x = _tensor_feed(path, shape)
        else:
            x = _image_feed(_read_image(path), path, shape, spec)
            if x.shape != shape:
                raise CalibrationError(
                    f"calibration image {path.name} does not fit the model input after preprocessing",
                    expected=str(shape),
                    found=str(x.shape),
                    fix="check the color (channels) and size of --preprocess",
                )
        feeds.append({input_name: x})
    return feeds
