"""Typed records the steps hand each other, shared by the host and the board.

Standard library only: the on-board runner imports this package from the bundle. Every
record is a dataclass with one JSON form (:func:`to_dict` / :func:`from_dict`), so what the
host writes is what the board reads and the other way round:

- :class:`EngineModel`: one engine's converted model files and the meta its runner needs;
- :class:`Manifest` (with :class:`BundledModel`, :class:`TensorFile`): the bundle's index;
- :class:`BoardResult` (with :class:`EngineResult`): what the runner found on the board;
- :class:`QuantResult` (with :class:`Accuracy`, :class:`LayerStat`): an int8 quantization;
- :class:`BenchPlan` / :class:`BenchRun` (with :class:`BenchResult`): the on-board bench.

Model variants are keyed by (engine, precision) — :func:`variant_id` is their one string
form, used for directory names only; nobody parses it back.

One module per concern: ``common`` (exit codes, agreement floors, sha256, variant ids),
``jsonform`` (the JSON form), ``manifest`` (models and the bundle's index), ``board`` (the
runner's results), ``int8`` (quantization), ``profiling`` (the bench); import the records
from here.
"""

from __future__ import annotations

from sdk.records.board import BoardResult, EngineResult, Latency, OutputCheck
from sdk.records.common import AGREEMENT_FLOORS, ExitCode, sha256_file, variant_id
from sdk.records.int8 import Accuracy, LayerStat, QuantResult
from sdk.records.jsonform import from_dict, from_json, to_dict, to_json
from sdk.records.manifest import (
    BundledModel,
    BundledPreprocess,
    EngineModel,
    Golden,
    Manifest,
    TaskSamples,
    TensorFile,
)
from sdk.records.profiling import (
    BenchConfig,
    BenchPlan,
    BenchResult,
    BenchRun,
    ClockSample,
    CpuInfo,
    Difference,
    LayerTime,
    Summary,
    Topology,
)

__all__ = [
    "AGREEMENT_FLOORS",
    "Accuracy",
    "BenchConfig",
    "BenchPlan",
    "BenchResult",
    "BenchRun",
    "BoardResult",
    "BundledModel",
    "BundledPreprocess",
    "ClockSample",
    "CpuInfo",
    "Difference",
    "EngineModel",
    "EngineResult",
    "ExitCode",
    "Golden",
    "Latency",
    "LayerStat",
    "LayerTime",
    "Manifest",
    "OutputCheck",
    "QuantResult",
    "Summary",
    "TaskSamples",
    "TensorFile",
    "Topology",
    "from_dict",
    "from_json",
    "sha256_file",
    "to_dict",
    "to_json",
    "variant_id",
]
