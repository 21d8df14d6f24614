"""The engine protocol: a capability record, the runner base class, and the backend.

Board code too (the bundle ships this file): standard library and numpy only. Each engine
is a folder ``sdk/engines/<name>/`` with

- ``__init__.py``: ``BACKEND``, a :class:`Backend` with the engine's :class:`Capabilities`
  and its host-side steps (convert, int8), imported lazily so the registry stays cheap;
- ``runner.py``: ``RUNNER``, the engine's :class:`Runner` (stdlib + numpy + the engine),
  the one runner host validation, calibration and the board all use;
- ``convert.py`` and its int8 modules (host only).

The registry (:mod:`sdk.engines`) imports the backends; the board finds a runner by the
engine's name alone (:func:`open_runner`), so the bundle needs no registry.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from sdk.records import AGREEMENT_FLOORS

if TYPE_CHECKING:
    from sdk.convert.prepare import PreparedModel
    from sdk.quantize.engine import Int8Engine
    from sdk.records import EngineModel

# How the board installs an engine's wheel: with its dependencies, or without them (armv7:
# ncnn declares numpy, which has no armv7 wheel; the board's Debian numpy serves).
WHEEL = "wheel"
WHEEL_NO_DEPS = "wheel-no-deps"


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do, as data the CLI and the flow consult (no if/else on names)."""

    name: str  # the CLI's and the manifest's name: ncnn, mnn
    label: str  # how people write it: ncnn, MNN
    runtime_package: str  # the PyPI distribution the runner imports
    converter_package: str  # the PyPI distribution whose converter the host runs
    board_install: Mapping[str, str]  # arch with a build -> WHEEL | WHEEL_NO_DEPS
    precisions: tuple[str, ...]  # what the SDK can deploy with it
    floors: Mapping[str, float] = field(default_factory=lambda: dict(AGREEMENT_FLOORS))
    layer_timing: bool = False  # the runner can time each layer (Runner.layer_times)
    intermediate_tensors: bool = True  # the runner can return any tensor (Runner.tensors)
    int8_methods: tuple[str, ...] = ()  # the engine's own calibration methods, beyond the SDK's

    @property
    def arches(self) -> tuple[str, ...]:
        return tuple(self.board_install)

    def floor(self, precision: str) -> float:
        return float(self.floors.get(precision, AGREEMENT_FLOORS["fp32"]))


class InputMismatch(ValueError):
    """Feeds that do not fit the model's inputs (names, shapes)."""


def check_feeds(meta: Mapping[str, Any], feeds: Mapping[str, np.ndarray]) -> None:
    """Every input of ``meta`` is fed, with its shape."""
    names = [t["name"] for t in meta["inputs"]]
    missing = [n for n in names if n not in feeds]
    if missing:
        raise InputMismatch(f"missing inputs {missing}: expected {names}, found {sorted(feeds)}")
    for t in meta["inputs"]:
        arr = np.asarray(feeds[t["name"]])
        if "shape" in t and not _fits(arr.shape, t["shape"]):
            raise InputMismatch(f"input {t['name']!r} has the wrong shape: expected "
                                f"{tuple(t['shape'])}, found {tuple(arr.shape)}")


def _fits(shape: Sequence[int], spec: Sequence[int]) -> bool:
    """``shape`` is ``spec``'s, where a -1 in ``spec`` (a free dim) takes any size."""
    return len(shape) == len(spec) and all(d == s or s == -1 for d, s in zip(shape, spec, strict=True))


class Runner:
    """One model loaded in one engine, keyed by the ONNX tensor names; a context manager.

    ``meta`` is the JSON-able dict written at conversion time (see each engine's
    ``convert.py``): its files, and its inputs/outputs as ``{"name": ONNX name, "blob":
    engine name, "shape": [...], "dtype": ...}``. :meth:`run` checks the feeds against it
    before the engine sees them (Polygraphy's BaseRunner does the same).
    """

    engine = ""

    def __init__(self, model_dir: Path, meta: Mapping[str, Any], threads: int = 1) -> None:
        self.model_dir = Path(model_dir)
        self.meta = dict(meta)
        self.threads = int(threads)

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The model's outputs for ``feeds``, shaped and typed as ``meta`` says."""
        check_feeds(self.meta, feeds)
        return self._run(feeds)

    def tensors(self, feeds: Mapping[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
        """Intermediate tensors by the engine's own names (for calibration and analysis)."""
        raise NotImplementedError(f"{self.engine} cannot return intermediate tensors")

    def layer_times(self, feeds: Mapping[str, np.ndarray],
                    repeats: int = 3) -> tuple[list[tuple[str, str, float]], str]:
        """Per layer (name, type, median ms) and how it was measured (``Capabilities.layer_timing``)."""
        raise NotImplementedError(f"{self.engine} cannot time layers")

    def bare(self, feeds: Mapping[str, np.ndarray]) -> Callable[[], None]:
        """One step of the engine's own minimal loop over ``feeds`` (inputs converted once,
        outputs computed, nothing checked or copied): the baseline of the runner's overhead."""
        raise NotImplementedError

    def _run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        """Free the engine's memory; the runner is unusable afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def shaped_output(engine: str, t: Mapping[str, Any], out: np.ndarray) -> np.ndarray:
    """``out`` in the shape and dtype the output spec ``t`` promises (one error when it cannot)."""
    if "shape" not in t:
        return out
    shape = tuple(int(d) for d in t["shape"])
    size = int(np.prod(shape))
    if -1 in shape:  # a free dim: any size that fills it
        fixed = max(-size, 1)
        if shape.count(-1) > 1 or out.size % fixed:
            raise RuntimeError(f"{engine} output {t['name']!r}: expected {shape} (-1 free), "
                               f"found {out.size} values {out.shape}")
    elif out.size != size:
        raise RuntimeError(f"{engine} output {t['name']!r}: expected {size} values {shape}, "
                           f"found {out.size} {out.shape}")
    return out.reshape(shape).astype(t.get("dtype", "float32"))


_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def open_runner(engine: str, model_dir: Path, meta: Mapping[str, Any], threads: int = 1,
                **options: Any) -> Runner:
    """The runner of ``engine`` (``sdk/engines/<engine>/runner.py``) over ``model_dir``."""
    if not _NAME.match(engine):
        raise ValueError(f"bad engine name {engine!r}")
    try:
        mod = importlib.import_module(f"sdk.engines.{engine}.runner")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(f"sdk.engines.{engine}"):
            raise ValueError(f"unknown engine {engine!r}: no sdk/engines/{engine}/runner.py") from None
        raise
    runner: Runner = mod.RUNNER(Path(model_dir), meta, threads, **options)
    return runner


class Backend:
    """One engine on the host: its capabilities, its converter and its int8 parts."""

    caps: Capabilities

    def open_runner(self, model_dir: Path, meta: Mapping[str, Any], threads: int = 1,
                    **options: Any) -> Runner:
        return open_runner(self.caps.name, model_dir, meta, threads, **options)

    def convert(self, prepared: PreparedModel, workdir: Path, precision: str) -> EngineModel:
        """Convert ``prepared`` into ``workdir`` (no validation); raises ConvertError."""
        raise NotImplementedError

    def conversion_code(self) -> list[Path]:
        """The source files a conversion depends on (part of its cache key)."""
        raise NotImplementedError

    def int8(self, method: str) -> type[Int8Engine]:
        """The int8 adapter for calibration ``method`` (see :mod:`sdk.quantize.engine`)."""
        raise NotImplementedError(f"{self.caps.label} has no int8 path")
