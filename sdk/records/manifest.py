"""The bundle's records: one engine's converted model (:class:`EngineModel`) and the bundle's
index (:class:`Manifest`, with :class:`BundledModel`, :class:`TensorFile` and the golden and
task-sample data it points to). Standard library only."""

from __future__ import annotations

import hashlib
import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdk.records.common import variant_id
from sdk.records.jsonform import from_json, to_dict


@dataclass
class EngineModel:
    """Converted model files for one engine, and the meta the runner needs to load them."""

    engine: str
    precision: str
    files: list[Path]
    meta: dict[str, Any]

    @property
    def model_dir(self) -> Path:
        return self.files[0].parent

    @property
    def id(self) -> str:
        return variant_id(self.engine, self.precision)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = to_dict(self)
        return d


@dataclass
class TensorFile:
    """One golden tensor in the bundle: its model-side name and its ``.npy`` file."""

    name: str
    file: str  # relative to the bundle root
    shape: list[int]
    dtype: str


@dataclass
class TaskSamples:
    """Held-out calibration inputs of an int8 model with the host's outputs on them: the board
    runs them and judges its own outputs by the task (detections as detections), against the
    host's int8 outputs (the verdict) and the fp32 model's (for the report)."""

    task: dict[str, Any]  # sdk.device.tasks.TaskSpec
    inputs: list[list[TensorFile]]  # one list per sample
    host: list[list[TensorFile]]  # the host's int8 outputs
    fp32: list[list[TensorFile]]  # the same engine's fp32 model on the host
    floor: float = 0.99  # the board's task metric against the host's int8 outputs


@dataclass
class BundledModel:
    """One model variant in the bundle, with the golden outputs it must reproduce."""

    engine: str
    precision: str
    package: str  # the engine's PyPI distribution (its version is looked up on the board)
    version: str  # the engine's version on the host
    dir: str  # relative to the bundle root
    files: list[str]
    meta: dict[str, Any]
    min_cosine: float
    golden_outputs: list[TensorFile] | None = None  # None: the onnxruntime golden outputs
    task_samples: TaskSamples | None = None  # int8: judged on the board by the task

    @property
    def id(self) -> str:
        return variant_id(self.engine, self.precision)


@dataclass
class Golden:
    inputs: list[TensorFile]
    outputs: list[TensorFile]  # onnxruntime's


@dataclass
class BundledPreprocess:
    """The board makes input ``input`` from the u8 ``image`` with ``spec`` (ImageSpec)."""

    spec: dict[str, Any]
    input: str
    source: str  # the image's colour format: bgr | gray
    image: str = ""  # relative to the bundle root


@dataclass
class Manifest:
    """``manifest.json``: what the bundle holds, the sha256 of every file, how to check it."""

    format: int
    sdk_version: str
    engine_versions: dict[str, str]
    board_profile: dict[str, Any]
    model: dict[str, Any]
    models: list[BundledModel]
    golden: Golden
    wheels: dict[str, Any]
    options: dict[str, Any]
    preprocess: BundledPreprocess | None
    files: dict[str, str]  # relative path -> sha256
    bundle_id: str = ""

    NAME: typing.ClassVar[str] = "manifest.json"

    def content_id(self) -> str:
        """The bundle id: a hash of everything but the id itself."""
        doc = to_dict(self)
        doc.pop("bundle_id")
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]

    def model_by_id(self, vid: str) -> BundledModel:
        for m in self.models:
            if m.id == vid:
                return m
        raise KeyError(f"no model {vid!r} in the bundle (it has {', '.join(m.id for m in self.models)})")

    @classmethod
    def load(cls, root: Path) -> Manifest:
        return from_json(cls, (Path(root) / cls.NAME).read_text())

