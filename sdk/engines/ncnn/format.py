"""ncnn's model files: the text ``.param`` and the binary ``.bin``, read and written by us.

Format (read from ncnn's ``src/net.cpp`` load_param, ``src/paramdict.cpp`` and
``src/modelbin.cpp``; no code taken from there):

- ``.param``: the magic ``7767517``; ``layer_count blob_count``; then one line per layer:
  ``type name bottom_count top_count bottoms... tops... key=value...``. A key ``k`` in
  ``0..`` is a scalar (int, or float when it has ``.``/``e``); a key ``-23300 - k`` is the
  array form of ``k``: ``-233kk=n,v1,...,vn``. We keep each value as its original text and
  only ever change the keys we mean to (``8``, the int8 scale term), so every other param
  survives byte for byte.
- ``.bin``: the layers' data, concatenated in layer order with no index. Each layer reads
  its own arrays (``ModelBin::load(w, type)``): type 0 starts with a 4-byte tag (``0``:
  ``w`` float32; ``0x01306B47``: ``w`` float16 padded to 4 bytes; ``0x000D4B38``: ``w``
  int8 padded to 4 bytes; ``0x0002C056``: float32; any other non-zero: a 256-entry float
  codebook then ``w`` u8 indices), type 1 is ``w`` raw float32 with no tag.

Because the ``.bin`` has no index, how many bytes each layer owns depends on the layer's own
``load_model``. Rather than keep a table of every layer type's layout, :func:`layer_chunks`
asks ncnn itself: it loads each layer alone into a one-layer net from a reader positioned at
the layer's offset, and counts the bytes the layer consumed.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sdk.errors import SdkError

MAGIC = 7767517
TAG_FP32 = 0x00000000
TAG_FP16 = 0x01306B47
TAG_INT8 = 0x000D4B38
TAG_FP32_RAW = 0x0002C056

# Layers whose input (bottom blob) ncnn quantizes to int8 when int8_scale_term is set.
QUANTIZABLE_TYPES = ("Convolution", "ConvolutionDepthWise", "InnerProduct")

__all__ = [
    "MAGIC",
    "QUANTIZABLE_TYPES",
    "TAG_FP16",
    "TAG_FP32",
    "TAG_INT8",
    "FloatLayerData",
    "NcnnFormatError",
    "NcnnLayer",
    "NcnnParam",
    "int8_layer_chunk",
    "iter_quantizable",
    "layer_chunks",
    "parse_float_chunk",
    "quantize_symmetric",
    "weight_groups",
]


class NcnnFormatError(SdkError, ValueError):
    """The ``.param`` or ``.bin`` does not follow ncnn's format (or ncnn cannot load a layer)."""


@dataclass
class NcnnLayer:
    """One layer line of a ``.param``: params kept as their original text, in order."""

    type: str
    name: str
    bottoms: list[str]
    tops: list[str]
    params: dict[int, str] = field(default_factory=dict)

    def get_int(self, key: int, default: int = 0) -> int:
        text = self.params.get(key)
        if text is None:
            return default
        try:
            return int(text)
        except ValueError:
            return int(float(text))

    def line(self) -> str:
        head = f"{self.type:<24} {self.name:<24} {len(self.bottoms)} {len(self.tops)}"
        blobs = " ".join([*self.bottoms, *self.tops])
        params = " ".join(f"{k}={v}" for k, v in self.params.items())
        return " ".join(p for p in (head, blobs, params) if p)


@dataclass
class NcnnParam:
    """A parsed ``.param`` file."""

    layers: list[NcnnLayer]
    blob_count: int

    @classmethod
    def parse(cls, text: str, source: str = "param") -> NcnnParam:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if not lines or lines[0].split()[0] != str(MAGIC):
            found = lines[0].split()[0] if lines else "an empty file"
            raise NcnnFormatError(f"{source}: expected the ncnn magic {MAGIC}, found {found!r}")
        try:
            layer_count, blob_count = (int(x) for x in lines[1].split()[:2])
        except (IndexError, ValueError) as exc:
            raise NcnnFormatError(f"{source}: line 2 must be 'layer_count blob_count'") from exc
        layers: list[NcnnLayer] = []
        for no, ln in enumerate(lines[2:], start=3):
            f = ln.split()
            try:
                nb, nt = int(f[2]), int(f[3])
                bottoms, tops = f[4 : 4 + nb], f[4 + nb : 4 + nb + nt]
                if len(bottoms) != nb or len(tops) != nt:
                    raise ValueError("blob count")
                params: dict[int, str] = {}
                for kv in f[4 + nb + nt :]:
                    k, v = kv.split("=", 1)
                    params[int(k)] = v
            except (IndexError, ValueError) as exc:
                raise NcnnFormatError(f"{source}: line {no} is not an ncnn layer: {ln[:80]!r}") from exc
            layers.append(NcnnLayer(f[0], f[1], bottoms, tops, params))
        if len(layers) != layer_count:
            raise NcnnFormatError(
                f"{source}: header says {layer_count} layers, found {len(layers)} layer lines"
            )
        return cls(layers, blob_count)

    @classmethod
    def load(cls, path: Path) -> NcnnParam:
        return cls.parse(Path(path).read_text(), str(path))

    def text(self) -> str:
        lines = [str(MAGIC), f"{len(self.layers)} {self.blob_count}"]
        lines += [layer.line() for layer in self.layers]
        return "\n".join(lines) + "\n"

    def save(self, path: Path) -> None:
        Path(path).write_text(self.text())

    def blob_names(self) -> list[str]:
        """Every blob, in the order it is first produced."""
        return list(dict.fromkeys(t for layer in self.layers for t in layer.tops))

    def layer(self, name: str) -> NcnnLayer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)


def _capsule_pointer():  # type: ignore[no-untyped-def]
    import ctypes

    fn = ctypes.pythonapi.PyCapsule_GetPointer
    fn.restype = ctypes.c_void_p
    fn.argtypes = [ctypes.py_object, ctypes.c_char_p]
    return fn


def layer_chunks(param: NcnnParam, data: bytes) -> list[tuple[int, int]]:
    """``(offset, size)`` of each layer's bytes in ``data`` (the ``.bin``), in layer order.

    Each layer is loaded alone by ncnn from a reader over ``data`` at the running offset,
    so the sizes are exactly what ncnn itself reads, for any layer type.
    """
    import ctypes
    import tempfile

    import ncnn

    get_pointer = _capsule_pointer()

    class _Reader(ncnn.DataReader):  # type: ignore[misc]
        def __init__(self, offset: int) -> None:
            super().__init__()
            self.offset = offset

        def scan(self, fmt: str, p: object) -> int:
            return 0

        def read(self, buf: object, size: int) -> int:
            n = max(0, min(int(size), len(data) - self.offset))
            if n:
                ctypes.memmove(get_pointer(buf, None), data[self.offset : self.offset + n], n)
            self.offset += n
            return n

    chunks: list[tuple[int, int]] = []
    offset = 0
    with tempfile.TemporaryDirectory(prefix="ncnn-chunks-") as tmp:
        one = Path(tmp) / "one.param"
        for layer in param.layers:
            # feed the layer's bottoms from Input layers so ncnn finds every blob by name
            bottoms = dict.fromkeys(layer.bottoms)
            inputs = [NcnnLayer("Input", f"__in{i}", [], [b]) for i, b in enumerate(bottoms)]
            blobs = len({*layer.bottoms, *layer.tops})
            one.write_text(NcnnParam([*inputs, layer], blobs).text())
            net = ncnn.Net()
            net.opt.use_vulkan_compute = False
            net.opt.num_threads = 1
            try:
                if net.load_param(str(one)) != 0:
                    raise NcnnFormatError(f"ncnn cannot load layer {layer.name!r} ({layer.type}) alone")
                reader = _Reader(offset)
                if net.load_model(reader) != 0:
                    raise NcnnFormatError(
                        f"ncnn cannot load the weights of layer {layer.name!r} ({layer.type}) "
                        f"at offset {offset} of {len(data)} bytes"
                    )
            finally:
                net.clear()
            chunks.append((offset, reader.offset - offset))
            offset = reader.offset
    if offset != len(data):
        raise NcnnFormatError(f"the layers read {offset} bytes of a {len(data)}-byte .bin")
    return chunks


@dataclass
class FloatLayerData:
    """The fp32 weights (and bias) of one Convolution/ConvolutionDepthWise/InnerProduct."""

    weight: np.ndarray  # float32, flat, weight_data_size values
    bias: np.ndarray | None  # float32, num_output values


def _align4(n: int) -> int:
    return (n + 3) // 4 * 4


def parse_float_chunk(layer: NcnnLayer, chunk: bytes) -> FloatLayerData | None:
    """The weights of a quantizable layer whose chunk is plain fp32 (tag 0), else None.

    None means "leave this layer alone": fp16- or int8-tagged weights, a codebook, dynamic
    weights (``19=1``), an int8 scale term already set, or a size that does not add up.
    """
    if layer.type not in QUANTIZABLE_TYPES or layer.get_int(19) or layer.get_int(8):
        return None
    num_output = layer.get_int(0)
    size = layer.get_int(2 if layer.type == "InnerProduct" else 6)
    bias_term = layer.get_int(1 if layer.type == "InnerProduct" else 5)
    if num_output <= 0 or size <= 0 or size % num_output:
        return None
    expected = 4 + 4 * size + (4 * num_output if bias_term else 0)
    if len(chunk) != expected or struct.unpack_from("<I", chunk, 0)[0] != TAG_FP32:
        return None
    weight = np.frombuffer(chunk, dtype="<f4", count=size, offset=4).astype(np.float32)
    bias = None
    if bias_term:
        bias = np.frombuffer(chunk, dtype="<f4", count=num_output, offset=4 + 4 * size).astype(np.float32)
    return FloatLayerData(weight, bias)


def quantize_symmetric(x: np.ndarray, scale: np.ndarray | float) -> np.ndarray:
    """int8 of ``x * scale``: rounded half away from zero and clamped to [-127, 127] (as ncnn)."""
    v = np.asarray(x, dtype=np.float32) * np.asarray(scale, dtype=np.float32)
    r = np.sign(v) * np.floor(np.abs(v) + 0.5)
    return np.clip(r, -127, 127).astype(np.int8)


def weight_groups(layer: NcnnLayer) -> int:
    """How many weight scales ncnn loads for ``layer``: ``group`` for depthwise, else num_output."""
    if layer.type == "ConvolutionDepthWise":
        return max(1, layer.get_int(7, 1))
    return layer.get_int(0)


def int8_layer_chunk(
    layer: NcnnLayer, data: FloatLayerData, weight_scales: np.ndarray, input_scale: float
) -> bytes:
    """The ``.bin`` bytes of ``layer`` quantized, in the order its ``load_model`` reads them.

    ``[tag 0x000D4B38][weights int8, padded to 4][bias fp32 if bias_term]
    [weight scales fp32: num_output, or group for depthwise][bottom blob scale fp32]``;
    the weight and scale arrays are read with type 1 (no tag).
    """
    groups = weight_groups(layer)
    scales = np.asarray(weight_scales, dtype=np.float32).reshape(-1)
    if scales.size == 1 and groups != 1:
        scales = np.full(groups, scales[0], dtype=np.float32)
    if scales.size != groups:
        raise ValueError(
            f"layer {layer.name!r}: expected {groups} weight scales, found {scales.size}"
        )
    w = data.weight.reshape(groups, -1)
    q = quantize_symmetric(w, scales[:, None]).reshape(-1)
    parts: list[bytes] = [struct.pack("<I", TAG_INT8), q.tobytes(), b"\0" * (_align4(q.size) - q.size)]
    if data.bias is not None:
        parts.append(data.bias.astype("<f4").tobytes())
    parts.append(scales.astype("<f4").tobytes())
    parts.append(np.array([input_scale], dtype="<f4").tobytes())
    return b"".join(parts)


def iter_quantizable(param: NcnnParam, data: bytes) -> Iterator[tuple[int, NcnnLayer, FloatLayerData]]:
    """(index, layer, fp32 weights) of every layer we can quantize, in layer order."""
    for i, (layer, (off, size)) in enumerate(zip(param.layers, layer_chunks(param, data), strict=True)):
        parsed = parse_float_chunk(layer, data[off : off + size])
        if parsed is not None:
            yield i, layer, parsed
