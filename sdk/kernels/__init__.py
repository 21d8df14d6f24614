"""The project's NEON pre/post-processing kernels, as plain typed Python functions.

A thin facade over the private pybind11 module ``sdk._kernels`` (C++17 core in ``kernels/``):
arrays go in without copies, shapes/dtypes are checked (``ValueError`` naming the expected and
the actual value) and the GIL is released around the work. Each op runs the variant the
dispatcher picked for this CPU (``variants()``): NEON on ARM, the scalar reference elsewhere.

Preprocessing follows ``cv2.resize(..., interpolation=cv2.INTER_LINEAR)`` coordinates
(half-pixel centres, edge clamp) with 8-bit vertical and 15-bit horizontal fixed-point weights:
the result is within 1.25 u8 LSB (x |norm|) of ``(cv2.resize(img) - mean) * norm``.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

import numpy as np
import numpy.typing as npt

from sdk.errors import SdkError

__all__ = [
    "FORMATS",
    "Detections",
    "LetterboxInfo",
    "PixelFormat",
    "argmax",
    "binarize",
    "cpu_isa",
    "decode_nms",
    "force_scalar",
    "preprocess",
    "preprocess_int8",
    "softmax",
    "topk",
    "variants",
]

PixelFormat = Literal["bgr", "rgb", "rgba", "gray", "nv12", "nv21"]
YuvRange = Literal["limited", "full"]
FORMATS: dict[str, int] = {"bgr": 0, "rgb": 1, "rgba": 2, "gray": 3, "nv12": 4, "nv21": 5}
# Channel order of each source format (NV12/NV21 convert to BGR like cv2.COLOR_YUV2BGR_NV12).
_SOURCE_RGB = {"bgr": False, "rgb": True, "rgba": True, "gray": False, "nv12": False, "nv21": False}


def _k() -> ModuleType:
    try:
        return importlib.import_module("sdk._kernels")
    except ImportError as exc:
        raise SdkError(
            "the compiled kernels (sdk._kernels) are not built",
            found=str(exc),
            fix="reinstall the SDK with 'pip install .'",
        ) from exc


@dataclass(frozen=True)
class LetterboxInfo:
    """Where the source image landed in the network input: ``src = (dst - offset) / scale``."""

    scale_x: float
    scale_y: float
    offset_x: int
    offset_y: int
    resized_width: int
    resized_height: int

    def to_source(self, boxes: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Map (N, 4) x1y1x2y2 boxes from network-input pixels back to source pixels."""
        out = np.asarray(boxes, dtype=np.float32).copy()
        out[:, 0::2] = (out[:, 0::2] - self.offset_x) / self.scale_x
        out[:, 1::2] = (out[:, 1::2] - self.offset_y) / self.scale_y
        return out

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.scale_x, self.scale_y, float(self.offset_x), float(self.offset_y))


@dataclass(frozen=True)
class Detections:
    """Detections in source-image pixels, sorted by score (descending)."""

    boxes: npt.NDArray[np.float32]  # (K, 4) x1, y1, x2, y2
    scores: npt.NDArray[np.float32]  # (K,)
    class_ids: npt.NDArray[np.int32]  # (K,)

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def _triple(name: str, v: float | Sequence[float]) -> tuple[float, float, float]:
    vals = [float(v)] * 3 if isinstance(v, int | float) else [float(x) for x in v]
    if len(vals) == 1:
        vals = vals * 3
    if len(vals) != 3:
        raise ValueError(f"{name}: expected 1 or 3 values, got {len(vals)}")
    return (vals[0], vals[1], vals[2])


def _fmt(fmt: str) -> int:
    if fmt not in FORMATS:
        raise ValueError(f"fmt: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    return FORMATS[fmt]


def _kernel_args(
    img: npt.NDArray[np.uint8],
    fmt: str,
    size: tuple[int, int] | int,
    mean: float | Sequence[float],
    norm: float | Sequence[float],
    letterbox: bool,
    pad: int,
    swap_rb: bool,
) -> tuple[object, ...]:
    """The leading arguments of _kernels.preprocess_f32 / preprocess_s8."""
    w, h = _size(size)
    rgb_out = _SOURCE_RGB.get(fmt, False) != swap_rb
    return (img, _fmt(fmt), w, h, rgb_out, _triple("mean", mean), _triple("norm", norm), letterbox, pad)


def _full_range(yuv_range: str) -> bool:
    if yuv_range not in ("limited", "full"):
        raise ValueError(f"yuv_range: expected 'limited' or 'full', got {yuv_range!r}")
    return yuv_range == "full"


def _size(size: tuple[int, int] | int) -> tuple[int, int]:
    if isinstance(size, int):
        return (size, size)
    if len(size) != 2:
        raise ValueError(f"size: expected (width, height), got {size!r}")
    return (int(size[0]), int(size[1]))


def preprocess(
    img: npt.NDArray[np.uint8],
    fmt: PixelFormat,
    size: tuple[int, int] | int,
    mean: float | Sequence[float] = 0.0,
    norm: float | Sequence[float] = 1.0,
    letterbox: bool = False,
    pad: int = 114,
    swap_rb: bool = False,
    yuv_range: YuvRange = "limited",
) -> tuple[npt.NDArray[np.float32], LetterboxInfo]:
    """One pass: u8 image -> bilinear resize to ``size`` (width, height) -> channel order ->
    ``(x - mean) * norm`` -> planar float32 (C, H, W).

    ``img``: (H, W, 3|4) for bgr/rgb/rgba, (H, W) for gray, (H * 3 / 2, W) for nv12/nv21 (any
    row stride, pixels contiguous). Output channels are in the source order (BGR for bgr,
    nv12, nv21) unless ``swap_rb`` (like ``cv2.dnn.blobFromImage(swapRB=...)``); ``mean`` and
    ``norm`` are in output order. ``letterbox`` keeps the aspect ratio, centres the image and
    fills the rest with ``pad``; the returned info maps boxes back to the source.

    nv12/nv21 colour model (``yuv_range``): ``"limited"`` is BT.601 limited range, OpenCV's
    ``COLOR_YUV2RGB_NV12`` (Y' = max(Y - 16, 0), R = 1.164 Y' + 1.596 (V - 128), ...);
    ``"full"`` is BT.601 full range (JFIF, e.g. camera JPEG-range YUV). Each source pixel
    takes the chroma of its 2x2 block and is converted and clamped before the resize, so the
    result is ``cv2.resize(cv2.cvtColor(img, COLOR_YUV2RGB_NV12))`` within 2 u8 steps.
    """
    args = _kernel_args(img, fmt, size, mean, norm, letterbox, pad, swap_rb)
    out, info = _k().preprocess_f32(*args, _full_range(yuv_range))
    return out, LetterboxInfo(*info)


def preprocess_int8(
    img: npt.NDArray[np.uint8],
    fmt: PixelFormat,
    size: tuple[int, int] | int,
    input_scale: float,
    mean: float | Sequence[float] = 0.0,
    norm: float | Sequence[float] = 1.0,
    letterbox: bool = False,
    pad: int = 114,
    swap_rb: bool = False,
    yuv_range: YuvRange = "limited",
) -> tuple[npt.NDArray[np.int8], LetterboxInfo]:
    """As :func:`preprocess`, then quantised for an int8 input blob:
    ``clip(round_half_away_from_zero(v * input_scale), -127, 127)``."""
    args = _kernel_args(img, fmt, size, mean, norm, letterbox, pad, swap_rb)
    out, info = _k().preprocess_s8(*args, float(input_scale), _full_range(yuv_range))
    return out, LetterboxInfo(*info)


def softmax(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Softmax of a 1-D float32 array (max-subtracted; NEON exp within 2e-6 + 1e-5 rel)."""
    out: npt.NDArray[np.float32] = _k().softmax(x)
    return out


def topk(x: npt.NDArray[np.float32], k: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
    """Indices and values of the ``k`` largest scores, largest first; ties: lower index first."""
    idx, val = _k().topk(x, k)
    return idx, val


def decode_nms(
    output: npt.NDArray[np.float32],
    score_threshold: float = 0.25,
    iou_threshold: float = 0.45,
    max_detections: int = 300,
    letterbox: LetterboxInfo | None = None,
    clip: tuple[float, float] | None = None,
) -> Detections:
    """YOLOv8-style anchor-free head (4 + C, N) (or (1, 4 + C, N)): rows cx, cy, w, h in
    network-input pixels, then C class scores. Keeps boxes whose best class score is
    > ``score_threshold``, runs greedy NMS per class (IoU > ``iou_threshold`` suppresses),
    returns at most ``max_detections`` mapped back through ``letterbox`` and clipped to
    ``clip`` (source width, height)."""
    if isinstance(output, np.ndarray) and output.ndim == 3 and output.shape[0] == 1:
        output = output[0]
    lb = letterbox.as_tuple() if letterbox is not None else (1.0, 1.0, 0.0, 0.0)
    cl = (float(clip[0]), float(clip[1])) if clip is not None else (0.0, 0.0)
    boxes, scores, classes = _k().decode_nms(
        output, float(score_threshold), float(iou_threshold), int(max_detections), lb, cl
    )
    return Detections(boxes, scores, classes)


def argmax(x: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    """(C, H, W) float32 scores -> (H, W) uint8 labels (first maximum wins; C <= 256)."""
    out: npt.NDArray[np.uint8] = _k().argmax(x)
    return out


def binarize(prob: npt.NDArray[np.float32], threshold: float = 0.3) -> npt.NDArray[np.uint8]:
    """DB text detector: (H, W) float32 probabilities -> uint8 mask, 255 where > threshold."""
    out: npt.NDArray[np.uint8] = _k().binarize(prob, float(threshold))
    return out


def variants() -> dict[str, str]:
    """Op name -> the kernel variant the dispatcher picked on this CPU."""
    return dict(_k().variants())


def cpu_isa() -> str:
    """'neon' or 'scalar'."""
    return str(_k().cpu_isa())


def force_scalar(on: bool) -> None:
    """Run every op on the scalar reference (for comparisons); process-wide, not thread-safe."""
    _k().force_scalar(bool(on))
