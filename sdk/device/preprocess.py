"""The image input spec of a deployment and its reference preprocessing.

One definition serves the host (calibration images for int8, golden inputs) and the board
(the runner), so calibration sees exactly the preprocessing the deployment uses. The fused
NEON kernel (``sdk._kernels``) implements the same arithmetic; this numpy version is the
reference it is tested against. numpy + stdlib only: it runs on the board.

Semantics, in order: u8 image (BGR, RGB, RGBA or GRAY, HxW[xC]) -> bilinear resize to the
target (half-pixel centres, as cv2.INTER_LINEAR without antialiasing), optionally letterboxed
(keep aspect, pad with ``pad`` in u8 units, centred or top-left) -> channel order ``color``
-> ``(x - mean) * norm`` per channel -> float32 NCHW with N = 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

COLORS = ("rgb", "bgr", "gray")
ALIGNS = ("center", "topleft")
SOURCE_FORMATS = ("bgr", "rgb", "rgba", "gray")


@dataclass(frozen=True)
class ImageSpec:
    """How a u8 image becomes the model's float input."""

    width: int
    height: int
    color: str = "rgb"
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    norm: tuple[float, ...] = (1.0, 1.0, 1.0)
    letterbox: bool = False
    align: str = "center"
    pad: float = 114.0
    input: str | None = None  # the ONNX input it feeds (None: the model's only input)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive: expected WxH > 0, got {self.width}x{self.height}")
        if self.color not in COLORS:
            raise ValueError(f"color: expected one of {', '.join(COLORS)}, got {self.color!r}")
        if self.align not in ALIGNS:
            raise ValueError(f"align: expected one of {', '.join(ALIGNS)}, got {self.align!r}")
        c = self.channels
        for name in ("mean", "norm"):
            v = tuple(float(x) for x in getattr(self, name))
            if len(v) == 1:
                v = v * c
            if len(v) != c:
                raise ValueError(f"{name}: expected 1 or {c} values for {self.color}, got {len(v)}")
            object.__setattr__(self, name, v)

    @property
    def channels(self) -> int:
        return 1 if self.color == "gray" else 3

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("extra")
        d["mean"], d["norm"] = list(self.mean), list(self.norm)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImageSpec:
        keys = set(cls.__dataclass_fields__) - {"extra"}
        args: dict[str, Any] = {k: (tuple(v) if k in ("mean", "norm") else v)
                                for k, v in d.items() if k in keys}
        return cls(**args)

    @classmethod
    def parse(cls, text: str) -> ImageSpec:
        """``size=192x48,color=rgb,mean=127.5,norm=0.0078431,letterbox=1,align=topleft,pad=127.5``."""
        kv: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            if "=" not in part:
                # a value continuing a list: mean=1:2:3 is the list syntax, so this is an error
                raise ValueError(f"expected key=value, got {part!r}")
            k, v = (s.strip() for s in part.split("=", 1))
            kv[k] = v
        if "size" not in kv:
            raise ValueError("expected size=WxH")
        try:
            w, h = (int(x) for x in kv.pop("size").lower().split("x"))
        except ValueError as exc:
            raise ValueError("size: expected WxH, e.g. size=192x48") from exc
        args: dict[str, Any] = {"width": w, "height": h}
        for k, v in kv.items():
            if k in ("mean", "norm"):
                args[k] = tuple(float(x) for x in v.split(":"))
            elif k == "letterbox":
                args[k] = v.lower() in ("1", "true", "yes", "on")
            elif k == "pad":
                args[k] = float(v)
            elif k in ("color", "align", "input"):
                args[k] = v
            else:
                raise ValueError(f"unknown preprocess key {k!r}: expected size, color, mean, norm, "
                                 "letterbox, align, pad, input")
        return cls(**args)


@dataclass
class Placement:
    """Where the resized image sits in the model input (to map boxes back)."""

    scale_x: float
    scale_y: float
    offset_x: int
    offset_y: int
    width: int  # resized content width, in input pixels
    height: int


def placement(src_w: int, src_h: int, spec: ImageSpec) -> Placement:
    if not spec.letterbox:
        return Placement(spec.width / src_w, spec.height / src_h, 0, 0, spec.width, spec.height)
    s = min(spec.width / src_w, spec.height / src_h)
    w = max(1, min(spec.width, round(src_w * s)))
    h = max(1, min(spec.height, round(src_h * s)))
    if spec.align == "topleft":
        ox, oy = 0, 0
    else:
        ox, oy = (spec.width - w) // 2, (spec.height - h) // 2
    return Placement(w / src_w, h / src_h, ox, oy, w, h)


def _axis_coords(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices (i0, i1) and weight of i1 for each destination pixel (half-pixel centres)."""
    x = (np.arange(dst, dtype=np.float64) + 0.5) * (src / dst) - 0.5
    x = np.clip(x, 0.0, None)
    i0 = np.minimum(np.floor(x).astype(np.int64), src - 1)
    i1 = np.minimum(i0 + 1, src - 1)
    return i0, i1, (x - i0).astype(np.float32)


def resize_bilinear(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """float32 HxWxC bilinear resize of a u8/float image (cv2.INTER_LINEAR semantics)."""
    src = img.astype(np.float32)
    if src.ndim == 2:
        src = src[:, :, None]
    h, w = src.shape[:2]
    y0, y1, wy = _axis_coords(h, height)
    x0, x1, wx = _axis_coords(w, width)
    top = src[y0][:, x0] * (1 - wx)[None, :, None] + src[y0][:, x1] * wx[None, :, None]
    bot = src[y1][:, x0] * (1 - wx)[None, :, None] + src[y1][:, x1] * wx[None, :, None]
    return top * (1 - wy)[:, None, None] + bot * wy[:, None, None]


def to_color(img: np.ndarray, source: str, color: str) -> np.ndarray:
    """HxWxC float in the model's channel order; ``source`` is the image's own format."""
    if source not in SOURCE_FORMATS:
        raise ValueError(f"source format: expected one of {', '.join(SOURCE_FORMATS)}, got {source!r}")
    if img.ndim == 2:
        img = img[:, :, None]
    if source == "gray":
        return img if color == "gray" else np.repeat(img, 3, axis=2)
    rgb = img[:, :, :3] if source in ("rgb", "rgba") else img[:, :, 2::-1]
    if color == "rgb":
        return rgb
    if color == "bgr":
        return rgb[:, :, ::-1]
    # gray: ITU-R BT.601 luma, as cv2.COLOR_RGB2GRAY
    return (rgb[:, :, 0:1] * 0.299 + rgb[:, :, 1:2] * 0.587 + rgb[:, :, 2:3] * 0.114)


def preprocess(img: np.ndarray, spec: ImageSpec, source: str = "bgr") -> tuple[np.ndarray, Placement]:
    """The reference preprocessing: u8 image -> float32 1xCxHxW model input."""
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim not in (2, 3):
        raise ValueError(f"image: expected a uint8 HxW or HxWxC array, got {img.dtype} {img.shape}")
    h, w = img.shape[:2]
    pl = placement(w, h, spec)
    resized = resize_bilinear(img, pl.width, pl.height)
    colored = to_color(resized, source, spec.color)
    canvas = np.full((spec.height, spec.width, spec.channels), spec.pad, dtype=np.float32)
    canvas[pl.offset_y:pl.offset_y + pl.height, pl.offset_x:pl.offset_x + pl.width] = colored
    mean = np.asarray(spec.mean, dtype=np.float32)
    norm = np.asarray(spec.norm, dtype=np.float32)
    out = (canvas - mean) * norm
    return np.ascontiguousarray(out.transpose(2, 0, 1)[None]), pl


# The fused kernel's source formats (sdk._kernels ids); NV12/NV21 are camera formats the
# bundle's golden image does not use.
KERNEL_FORMATS = {"bgr": 0, "rgb": 1, "rgba": 2, "gray": 3}
KERNEL_NAME = "preprocess (BGR/RGB/RGBA/GRAY)"


def kernel_limitation(spec: ImageSpec, source: str) -> str | None:
    """Why the fused kernel cannot run ``spec`` (None: it can)."""
    if source not in KERNEL_FORMATS:
        return f"source format {source} is not a kernel format"
    if (spec.color == "gray") != (source == "gray"):
        return "colour to gray conversion is reference-only"
    if spec.letterbox and spec.align != "center":
        return "the kernel letterboxes centred only"
    if spec.pad != int(spec.pad):
        return "the kernel pads with a whole u8 value"
    return None


def preprocess_fast(img: np.ndarray, spec: ImageSpec, source: str = "bgr") -> tuple[np.ndarray, str]:
    """The fused NEON kernel when ``sdk._kernels`` is there and ``spec`` fits it, else the
    reference; returns the 1xCxHxW input and the name of the implementation used."""
    try:
        from sdk import _kernels  # type: ignore[attr-defined]
    except ImportError:
        return preprocess(img, spec, source)[0], "numpy reference (no sdk._kernels)"
    why = kernel_limitation(spec, source)
    if why:
        return preprocess(img, spec, source)[0], f"numpy reference ({why})"
    mean = spec.mean * 3 if len(spec.mean) == 1 else spec.mean
    norm = spec.norm * 3 if len(spec.norm) == 1 else spec.norm
    out, _ = _kernels.preprocess_f32(np.ascontiguousarray(img), KERNEL_FORMATS[source], spec.width,
                                     spec.height, spec.color == "rgb", mean, norm, spec.letterbox,
                                     int(spec.pad))
    return out[None], str(_kernels.variants()[KERNEL_NAME])
