"""Prepare, convert and validate with the real engines (pnnx/ncnn, MNN) against onnxruntime."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from _fix_models import SUPPORTED_ENGINE, UNSUPPORTED_ENGINE, UNSUPPORTED_OP
from audit_util import assert_offline, run_audited, site_state

import sdk.convert as C
from sdk.engines import names as engine_names
from sdk.errors import ConvertError, ModelError

REPO = Path(__file__).resolve().parents[1]


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text, text
    return text


def _convert_all(
    model: Path,
    work: Path,
    shapes: dict[str, tuple[int, ...]] | None = None,
    precision: str = "fp32",
    engines: tuple[str, ...] = engine_names(),
):
    prepared = C.prepare(model, work, shapes)
    feeds = C.make_golden_inputs(prepared, seed=0)
    reference = C.run_reference(prepared, feeds)
    results = C.convert(prepared, engines, precision, work, feeds=feeds, reference=reference)
    return prepared, results


def _assert_ok(results: dict[str, C.ConversionResult], min_cosine: float) -> dict[str, float]:
    cosines = {}
    for engine, r in results.items():
        assert r.ok, f"{engine}: {r.error}"
        assert r.error is None
        assert r.metrics, engine
        for m in r.metrics:
            assert m.cosine >= min_cosine, (engine, m)
        cosines[engine] = min(m.cosine for m in r.metrics)
    print({k: f"{v:.9f}" for k, v in cosines.items()})
    return cosines


# --- prepare: user errors are one-line ModelErrors ----------------------------------------


def test_prepare_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as ei:
        C.prepare(tmp_path / "nope.onnx", tmp_path / "work")
    assert "does not exist" in _one_line(ei.value)


def test_prepare_not_onnx(not_onnx_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError) as ei:
        C.prepare(not_onnx_file, tmp_path)
    assert "is not an ONNX model" in _one_line(ei.value)


def test_prepare_truncated_onnx(tiny_classifier: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.onnx"
    data = tiny_classifier.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError) as ei:
        C.prepare(cut, tmp_path / "work")
    assert "is not an ONNX model" in _one_line(ei.value)


def test_prepare_dynamic_dim_without_shape(cls_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError) as ei:
        C.prepare(cls_model, tmp_path)
    line = _one_line(ei.value)
    assert "'x'" in line
    assert "dim" in line and "0" in line
    assert "--input-shape x=" in line


def test_prepare_dynamic_dim_names_symbolic_dim(rec_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError) as ei:
        C.prepare(rec_model, tmp_path, {})
    assert "p2o.DynamicDimension.0" in _one_line(ei.value)


@pytest.mark.parametrize("spec", ["x", "x=", "=1,3", "x=1,a,3", "x=1,-3", "x=1,,3", "x:1,3"])
def test_parse_input_shapes_bad_syntax(spec: str) -> None:
    with pytest.raises(ModelError) as ei:
        C.parse_input_shapes([spec])
    assert "NAME=1,3,224,224" in _one_line(ei.value)


def test_parse_input_shapes_ok() -> None:
    assert C.parse_input_shapes(["x=1,3,48,192", "mask = 1x1x8"]) == {
        "x": (1, 3, 48, 192),
        "mask": (1, 1, 8),
    }


def test_prepare_unknown_input_and_wrong_rank(cls_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError) as ei:
        C.prepare(cls_model, tmp_path, {"image": (1, 3, 48, 192)})
    line = _one_line(ei.value)
    assert "'image'" in line and "'x'" in line
    with pytest.raises(ModelError) as ei:
        C.prepare(cls_model, tmp_path, {"x": (1, 3, 48)})
    assert "rank" in _one_line(ei.value)


def test_prepare_records_concrete_shapes(cls_model: Path, tmp_path: Path) -> None:
    prepared = C.prepare(cls_model, tmp_path, {"x": (1, 3, 48, 192)})
    assert prepared.path.is_file() and prepared.path.parent == tmp_path
    assert prepared.inputs == [C.TensorSpec("x", (1, 3, 48, 192), "float32")]
    assert [o.shape for o in prepared.outputs] == [(1, 2)]
    assert len(prepared.sha256) == 64 and prepared.opset == 11
    json.dumps(prepared.to_dict())


# --- conversion on both engines ------------------------------------------------------------


def test_tiny_classifier_both_engines(tiny_classifier: Path, tmp_path: Path) -> None:
    _, results = _convert_all(tiny_classifier, tmp_path)
    assert set(results) == {"ncnn", "mnn"}
    _assert_ok(results, 0.999)
    for r in results.values():
        assert r.metrics[0].top1 == 1.0
        assert r.model is not None and all(f.is_file() for f in r.model.files)
        json.dumps(r.to_dict())


@pytest.mark.slow
def test_cls_model_both_engines(cls_model: Path, tmp_path: Path) -> None:
    _, results = _convert_all(cls_model, tmp_path, {"x": (1, 3, 48, 192)})
    _assert_ok(results, 0.999)


@pytest.mark.slow
def test_rec_model_both_engines(rec_model: Path, tmp_path: Path) -> None:
    _, results = _convert_all(rec_model, tmp_path, {"x": (1, 3, 48, 320)})
    _assert_ok(results, 0.999)
    # ncnn needs the batch-keeping rewrite of paddle2onnx's flattened MatMuls
    ncnn_model = results["ncnn"].model
    assert ncnn_model is not None
    assert any("keep the batch axis" in r for r in ncnn_model.meta["onnx_rewrites"])


@pytest.mark.slow
def test_rec_model_free_width_both_engines(rec_model: Path, tmp_path: Path) -> None:
    """One conversion with the width free (pnnx traced at 320 and 640; MNN as the ONNX is)
    agrees with onnxruntime at widths it was not traced at, the output's time axis following."""
    from sdk.convert.prepare import prepare_free

    prepared = prepare_free(rec_model, tmp_path / "free", {"x": [1, 3, 48, 320]}, {"x": [1, 3, 48, 640]})
    assert [t.shape for t in prepared.inputs] == [(1, 3, 48, -1)]
    assert [t.shape for t in prepared.outputs] == [(1, -1, 6625)]
    for w in (160, 1024):
        feeds = {"x": np.random.default_rng(w).standard_normal((1, 3, 48, w)).astype(np.float32)}
        ref = C.run_reference(prepared, feeds)
        results = C.convert(prepared, ["ncnn", "mnn"], "fp32", tmp_path / "free", feeds=feeds, reference=ref)
        for r in results.values():
            assert r.ok and r.metrics[0].cosine > 0.99999 and r.metrics[0].top1 == 1.0, (w, r.engine, r.error)
            assert r.model is not None and r.model.meta["inputs"][0]["shape"] == [1, 3, 48, -1]
    with pytest.raises(Exception, match="wrong shape"):  # only the free dim is free
        C.engines.open_runner("mnn", results["mnn"].model.model_dir, results["mnn"].model.meta).run(
            {"x": np.zeros((1, 3, 32, 320), np.float32)})


def test_one_engine_unsupported(one_engine_unsupported_model: Path, tmp_path: Path) -> None:
    _, results = _convert_all(one_engine_unsupported_model, tmp_path)
    bad, good = results[UNSUPPORTED_ENGINE], results[SUPPORTED_ENGINE]
    assert not bad.ok and bad.model is None
    assert bad.error is not None and UNSUPPORTED_OP in bad.error
    assert "\n" not in bad.error
    assert good.ok, good.error
    assert good.metrics[0].cosine >= 0.999


def test_convert_engine_raises_convert_error(one_engine_unsupported_model: Path, tmp_path: Path) -> None:
    prepared = C.prepare(one_engine_unsupported_model, tmp_path)
    with pytest.raises(ConvertError) as ei:
        C.convert_engine(UNSUPPORTED_ENGINE, prepared, tmp_path / "x")
    assert UNSUPPORTED_OP in _one_line(ei.value)


def test_tiny_classifier_fp16(tiny_classifier: Path, tmp_path: Path) -> None:
    _, results = _convert_all(tiny_classifier, tmp_path, precision="fp16")
    _assert_ok(results, 0.99)
    for r in results.values():
        assert r.model is not None and r.model.meta["precision"] == "fp16"


def test_disagreement_is_reported(tiny_classifier: Path, tmp_path: Path) -> None:
    prepared = C.prepare(tiny_classifier, tmp_path)
    feeds = C.make_golden_inputs(prepared)
    reference = {k: v[..., ::-1].copy() for k, v in C.run_reference(prepared, feeds).items()}
    results = C.convert(prepared, ["ncnn"], "fp32", tmp_path, feeds=feeds, reference=reference)
    r = results["ncnn"]
    assert not r.ok and r.error is not None
    assert "'prob'" in r.error and "cosine" in r.error and "max-abs" in r.error


def test_unknown_engine_suggests(tmp_path: Path, tiny_classifier: Path) -> None:
    prepared = C.prepare(tiny_classifier, tmp_path)
    with pytest.raises(ConvertError) as ei:
        C.convert_engine("nccn", prepared, tmp_path)
    assert "'ncnn'" in _one_line(ei.value)


def test_golden_inputs_seeded(tiny_classifier: Path, tmp_path: Path) -> None:
    prepared = C.prepare(tiny_classifier, tmp_path)
    a, b = C.make_golden_inputs(prepared, 3), C.make_golden_inputs(prepared, 3)
    assert a["input"].dtype == np.float32 and a["input"].shape == (1, 3, 32, 32)
    np.testing.assert_array_equal(a["input"], b["input"])
    assert not np.array_equal(a["input"], C.make_golden_inputs(prepared, 4)["input"])


# --- MNN: nothing installed, no network, never MNN.tools ----------------------------------

def test_audit_harness_sees_a_connect(tmp_path: Path) -> None:
    code = (
        "import socket\n"
        "s = socket.socket()\n"
        "try:\n    s.connect(('127.0.0.1', 9))\nexcept OSError:\n    pass\n"
    )
    proc, events = run_audited(code, tmp_path, timeout=60)
    assert proc.returncode == 0 and any("NET socket.connect" in e for e in events)


def test_mnn_conversion_installs_nothing_and_opens_no_socket(tiny_classifier: Path, tmp_path: Path) -> None:
    before = site_state()
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        import sdk.convert as C
        from sdk.engines.mnn.convert import convert_mnn
        from sdk.engines import open_runner
        work = Path({str(tmp_path / "work")!r})
        prepared = C.prepare(Path({str(tiny_classifier)!r}), work)
        feeds = C.make_golden_inputs(prepared)
        model = convert_mnn(prepared, work / "mnn")
        with open_runner("mnn", model.model_dir, model.meta) as runner:
            out = runner.run(feeds)
        bad = sorted(m for m in sys.modules if m.startswith("MNN.tools"))
        assert not bad, bad
        print("OK", list(out))
        """
    )
    proc, events = run_audited(code, tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "OK ['prob']" in proc.stdout
    # the converter ran in a child Python: the hook saw it start (so the child was audited)
    assert_offline(events, child="_tools")
    assert site_state() == before


def test_in_process_conversion_never_imports_mnn_tools(tiny_classifier: Path, tmp_path: Path) -> None:
    _, results = _convert_all(tiny_classifier, tmp_path, engines=("mnn",))
    assert results["mnn"].ok, results["mnn"].error
    assert not [m for m in sys.modules if m.startswith("MNN.tools")]


# --- command line --------------------------------------------------------------------------


def _sdk(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-c", "from sdk.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def test_cli_json(tiny_classifier: Path, tmp_path: Path) -> None:
    proc = _sdk("convert", str(tiny_classifier), "--out", str(tmp_path / "o"), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # engine banners must not leak into stdout
    assert data["ok"] is True
    assert {k: v["ok"] for k, v in data["results"].items()} == {"ncnn": True, "mnn": True}


def test_cli_all_engines_failed_exits_1(one_engine_unsupported_model: Path, tmp_path: Path) -> None:
    proc = _sdk(
        "convert",
        str(one_engine_unsupported_model),
        "--engine",
        UNSUPPORTED_ENGINE,
        "--out",
        str(tmp_path / "o"),
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert UNSUPPORTED_OP in proc.stdout
    assert proc.stderr.strip().startswith("error:")
    assert "Traceback" not in proc.stderr


def test_cli_dynamic_shape_error(cls_model: Path, tmp_path: Path) -> None:
    proc = _sdk("convert", str(cls_model), "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--input-shape x=" in lines[0], proc.stderr


def test_ncnn_names_op_it_lacks(tmp_path: Path) -> None:
    """pnnx passes ONNX Softsign through unconverted; ncnn has no such layer."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Softsign", ["x"], ["y"])],
        "softsign",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "softsign.onnx"
    onnx.save(model, str(path))
    _, results = _convert_all(path, tmp_path / "work", engines=("ncnn",))
    r = results["ncnn"]
    assert not r.ok and r.error is not None and "Softsign" in r.error, r.error
