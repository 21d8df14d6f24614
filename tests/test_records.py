"""The typed records the steps hand each other round-trip through their one JSON form."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sdk.records import (
    AGREEMENT_FLOORS,
    Accuracy,
    BoardResult,
    BundledModel,
    BundledPreprocess,
    EngineModel,
    EngineResult,
    ExitCode,
    Golden,
    Latency,
    LayerStat,
    Manifest,
    OutputCheck,
    QuantResult,
    TensorFile,
    from_dict,
    from_json,
    to_json,
    variant_id,
)


def _manifest() -> Manifest:
    golden = Golden(inputs=[TensorFile("x", "golden/inputs/0.npy", [1, 3, 48, 192], "float32")],
                    outputs=[TensorFile("y", "golden/outputs/0.npy", [1, 2], "float32")])
    models = [
        BundledModel("ncnn", "fp32", "ncnn", "1.0.2", "models/ncnn-fp32",
                     ["model.ncnn.param", "model.ncnn.bin"],
                     {"files": {"param": "model.ncnn.param", "bin": "model.ncnn.bin"}, "inputs": []}, 0.999),
        BundledModel("ncnn", "int8", "ncnn", "1.0.2", "models/ncnn-int8", ["model.ncnn.param"], {}, 0.99,
                     golden_outputs=[TensorFile("y", "golden/ncnn-int8/outputs/0.npy", [1, 2], "float32")]),
    ]
    m = Manifest(format=2, sdk_version="0.1.0", engine_versions={"ncnn": "1.0.2"},
                 board_profile={"name": "rk3399", "arch": "aarch64"}, model={"name": "cls"}, models=models,
                 golden=golden, wheels={"requirements": ["ncnn==1.0.2"], "set_sha256": "ab"},
                 options={"threads": 2},
                 preprocess=BundledPreprocess({"width": 192}, "x", "bgr", "golden/image.npy"),
                 files={"manifest-less": "00"})
    m.bundle_id = m.content_id()
    return m


def test_manifest_round_trips_and_its_id_covers_the_content() -> None:
    m = _manifest()
    again = from_json(Manifest, to_json(m))
    assert again == m
    assert again.model_by_id("ncnn-int8").golden_outputs[0].file == "golden/ncnn-int8/outputs/0.npy"  # type: ignore[index]
    assert to_json(again) == to_json(m)  # deterministic: an unchanged bundle resends nothing
    other = from_json(Manifest, to_json(m))
    other.models[1].min_cosine = 0.98
    assert other.content_id() != m.bundle_id
    with pytest.raises(KeyError, match="ncnn-fp16"):
        m.model_by_id("ncnn-fp16")


def test_board_result_round_trips() -> None:
    r = EngineResult("mnn", "fp32", ok=True, threads=2, runs=5, warmup=1, cpus=[4, 5], load_ms=12.5,
                     outputs=[OutputCheck("y", cosine=0.9999, max_abs=1e-4, top1=1.0),
                              OutputCheck("z", error="missing from engine outputs")],
                     latency_ms=Latency(1.0, 2.0, 3.0, 1.5, 0.5, 3.5), peak_rss_mb=80.0,
                     preprocess={"impl": "neon"})
    doc = BoardResult("abc", True, {"machine": "aarch64"}, [r, EngineResult("ncnn", "int8", error="x")], 3.0)
    again = from_json(BoardResult, to_json(doc))
    assert again == doc
    assert again.result("mnn", "fp32") == r and again.result("mnn", "int8") is None
    assert not again.ok  # one variant failed
    again.results = [r]
    assert again.ok


def test_quant_result_round_trips_with_its_model(tmp_path: Path) -> None:
    model = EngineModel("ncnn", "int8", [tmp_path / "m.param", tmp_path / "m.bin"], {"precision": "int8"})
    q = QuantResult("ncnn", True, "mse", True, 0.99, model=model,
                    accuracy=Accuracy(0.995, 0.1, 0.98, {"y": 0.995}),
                    int8_accuracy=Accuracy(0.98, 0.3, None),
                    met=True, fp32_layers=["conv1"], layers=[LayerStat("conv1", 0.97, 0.2, 0.01)],
                    trajectory=[{"fp32_layers": [], "cosine": 0.98}])
    doc = json.loads(json.dumps(q.to_dict()))  # what `sdk quantize --json` prints
    again = from_dict(QuantResult, doc)
    assert again == q
    assert again.model is not None and again.model.files == model.files and again.model.id == "ncnn-int8"


def test_unknown_fields_and_non_objects_are_errors() -> None:
    with pytest.raises(ValueError, match=r"unknown field.*colour"):
        from_dict(Latency, {"p50": 1, "p90": 1, "p99": 1, "mean": 1, "min": 1, "max": 1, "colour": 1})
    with pytest.raises(ValueError, match="expected a JSON object"):
        from_dict(Latency, [1, 2])  # type: ignore[arg-type]


def test_one_table_of_floors_and_named_exit_codes() -> None:
    from sdk import engines

    assert AGREEMENT_FLOORS == {"fp32": 0.999, "fp16": 0.99, "int8": 0.99}
    for name in engines.names():
        caps = engines.get(name).caps
        floors = {p: caps.floor(p) for p in caps.precisions}
        assert floors == {p: AGREEMENT_FLOORS[p] for p in caps.precisions}
    assert (ExitCode.OK, ExitCode.USAGE, ExitCode.CORRUPT, ExitCode.FAILED) == (0, 2, 3, 4)
    assert variant_id("mnn", "fp16") == "mnn-fp16"


def test_records_import_only_the_standard_library() -> None:
    """The board imports sdk.records from the bundle: nothing outside the stdlib."""
    code = ("import sys; before = set(sys.modules); import sdk.records; "
            "print(sorted(m for m in set(sys.modules) - before "
            "if m.split('.')[0] not in sys.stdlib_module_names and m.split('.')[0] != 'sdk'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
