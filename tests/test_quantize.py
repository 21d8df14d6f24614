"""int8 end to end: the quantize flow (both engines' adapters), mixed precision, per-layer
analysis, the CLI's one-line errors, and an int8 deploy on the emulated board."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from cli_util import board_results, host_rows, one_error_line, run_cli

from sdk.boards import BoardEntry
from sdk.convert import prepare
from sdk.device.preprocess import preprocess
from sdk.quantize import quantize
from sdk.tools.synth import PPOCR_SPECS, render_text_lines, write_images

CLS_PRE = "size=192x48,color=bgr,mean=127.5,norm=0.0078431,letterbox=1,align=topleft,pad=127.5"






@pytest.fixture(scope="module")
def cls_calib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cls_calib")
    write_images(render_text_lines(40, seed=7), d)
    return d


@pytest.mark.slow
def test_mixed_precision_reaches_a_budget_plain_int8_misses(cls_model: Path, cls_calib: Path,
                                                            tmp_path: Path) -> None:
    prep = prepare(cls_model, tmp_path, {"x": (1, 3, 48, 192)})
    (res,) = quantize(prep, ["ncnn"], cls_calib, tmp_path / "q", spec=PPOCR_SPECS["cls"],
                      method="kl", budget=0.995, analyze=True).values()
    assert res.ok, res.error
    plain, final = res.int8_accuracy, res.accuracy
    assert plain is not None and final is not None
    assert plain.cosine < 0.995 <= final.cosine, (plain.cosine, final.cosine)
    assert res.met and res.fp32_layers and res.error is None
    # the trajectory is what the report shows: plain int8 first, the kept model last
    assert res.trajectory[0]["fp32_layers"] == [] and res.trajectory[-1]["fp32_layers"] == res.fp32_layers
    assert res.trajectory[-1]["cosine"] == pytest.approx(final.cosine)
    assert res.fp32_bytes > res.int8_bytes > 0
    # the returned layers really are float in the written model: no int8 scale term (8=)
    param = next(f for f in res.model.files if f.suffix == ".param").read_text().splitlines()
    for name in res.fp32_layers:
        (line,) = [ln for ln in param if ln.split()[1:2] == [name]]
        assert " 8=" not in f" {line}", line


@pytest.mark.slow
def test_analysis_names_layers_with_numbers(cls_model: Path, cls_calib: Path, tmp_path: Path) -> None:
    prep = prepare(cls_model, tmp_path, {"x": (1, 3, 48, 192)})
    (res,) = quantize(prep, ["ncnn"], cls_calib, tmp_path / "q", spec=PPOCR_SPECS["cls"],
                      budget=0.5, analyze=True).values()
    assert res.ok and len(res.layers) >= 20
    fp32_param = (tmp_path / "q" / "ncnn-fp32" / "model.ncnn.param")
    names = {ln.split()[1] for ln in fp32_param.read_text().splitlines()[2:]}
    for s in res.layers:
        assert s.name in names
        assert -1.0 <= s.cosine <= 1.0 and math.isfinite(s.max_abs) and math.isfinite(s.added_error)
    added = [s.added_error for s in res.layers]
    assert added == sorted(added, reverse=True)
    assert res.layers[-1].cosine > 0.9  # most layers are close to fp32


@pytest.mark.slow
def test_mnn_budget_miss_is_reported_with_numbers(cls_model: Path, cls_calib: Path, tmp_path: Path) -> None:
    """MNN's own quantizer cannot keep this real model near fp32: say so, with numbers."""
    prep = prepare(cls_model, tmp_path, {"x": (1, 3, 48, 192)})
    (res,) = quantize(prep, ["mnn"], cls_calib, tmp_path / "q", spec=PPOCR_SPECS["cls"],
                      method="mnn-kl", budget=0.999, max_fp32_layers=2).values()
    assert res.method == "mnn-kl" and "mnn_calib" not in {p.name for p in (tmp_path / "q").rglob("*")}
    assert res.ok and res.accuracy is not None and res.int8_accuracy is not None
    assert res.accuracy.cosine >= res.int8_accuracy.cosine  # never returns a worse candidate
    if not res.met:
        assert res.error and "budget 0.999" in res.error and f"{res.accuracy.cosine:.5f}" in res.error


@pytest.mark.slow
def test_mnn_weight_only_convs_do_not_count_as_int8(cls_model: Path, tmp_path: Path) -> None:
    """Without output scales in the message, MNN's converter writes weight-only convs (int8
    weights, float compute, the input scales ignored): they must not pass for int8."""
    from sdk.convert import convert_engine
    from sdk.engines.mnn.params import (
        _convert,
        _pipeline_class,
        calibrate_mnn,
        compression_params,
        count_int8_convs,
        mnn_json,
        write_mnn_int8,
    )

    prep = prepare(cls_model, tmp_path, {"x": (1, 3, 48, 192)})
    fp32 = convert_engine("mnn", prep, tmp_path / "fp32", "fp32")
    feeds = [{"x": preprocess(im, PPOCR_SPECS["cls"])[0]} for im in render_text_lines(4, seed=5)]
    cal = calibrate_mnn(fp32.files[0], feeds, ["x"], method="percentile", onnx_path=prep.path,
                        workdir=tmp_path / "probe")
    full, done = write_mnn_int8(prep.path, cal, tmp_path / "full")
    assert count_int8_convs(full) == len(done) > 20
    msg = _pipeline_class()()
    msg.ParseFromString(compression_params(cal)[0])
    for layer in msg.algo[0].quant_params.layer:
        del layer.output[:]
    (tmp_path / "wo").mkdir()
    pfile = tmp_path / "wo" / "compression.params"
    pfile.write_bytes(msg.SerializeToString())
    wo = tmp_path / "wo" / "model.mnn"
    _convert(["-f", "ONNX", "--modelFile", str(prep.path), "--MNNModel", str(wo), "--bizCode", "sdk",
              "--compressionParamsFile", str(pfile)], tmp_path / "wo", "weight-only", wo)
    with_weights = [op for op in mnn_json(wo)["oplists"] if op.get("main", {}).get("quanParameter")]
    assert len(with_weights) == len(done)  # int8 weights everywhere ...
    assert count_int8_convs(wo) == 0  # ... but no activation scale: not int8 inference


@pytest.mark.slow
def test_mnn_int8_from_sdk_calibration(cls_model: Path, cls_calib: Path, tmp_path: Path) -> None:
    """MNN int8 built by MNN's converter from our scales: real int8 convs, and mixed precision
    (convs left out of the compression message) brings it to the budget on held-out lines."""
    from sdk.engines.mnn.params import POOLED_INPUT, count_int8_convs, mnn_convs, mnn_json, pooled_convs
    from sdk.quantize import run_model
    from sdk.quantize.metrics import top1_agreement

    prep = prepare(cls_model, tmp_path, {"x": (1, 3, 48, 192)})
    (res,) = quantize(prep, ["mnn"], cls_calib, tmp_path / "q", spec=PPOCR_SPECS["cls"],
                      budget=0.999).values()
    assert res.ok and res.method in ("percentile", "mse"), res.error
    assert set(res.method_trials) == {"percentile", "mse"}  # auto: both tried, the closer kept
    assert res.method_trials[res.method] == max(res.method_trials.values())
    assert res.met and res.accuracy is not None and res.accuracy.cosine >= 0.999
    assert res.int8_accuracy is not None and res.int8_accuracy.cosine < res.accuracy.cosine
    assert res.fp32_bytes > 1.5 * res.int8_bytes
    assert res.model is not None and res.trajectory[-1]["fp32_layers"] == res.fp32_layers
    fp32_convs = {c.name for c in mnn_convs(mnn_json(tmp_path / "q" / "mnn-fp32" / "model.mnn"))}
    assert set(res.fp32_layers) <= fp32_convs
    n_int8 = count_int8_convs(res.model.files[0])
    assert n_int8 == len(fp32_convs) - len(res.fp32_layers) > 20
    # the convs on a global pool (9 SE blocks and the classifier): MNN garbles the pooled
    # vector in int8, so the flow tried them float and kept that (measured, not assumed)
    doc = mnn_json(tmp_path / "q" / "mnn-fp32" / "model.mnn")
    pooled = set(pooled_convs(doc, mnn_convs(doc)))
    assert len(pooled) == 10 and any(n.endswith("matmul_converted") for n in pooled)
    # the pooled inputs stay float for that reason; the task-aware search may keep a culprit or
    # two besides (the last layer before an output), each with its reason, all in fp32_layers
    assert {k for k, v in res.kept_float.items() if v == POOLED_INPUT} == pooled <= set(res.fp32_layers)
    assert set(res.kept_float) <= set(res.fp32_layers) and all(res.kept_float.values())
    tried = next(t for t in res.trajectory if t.get("reason") == POOLED_INPUT)
    assert tried["cosine"] > res.int8_accuracy.cosine + 0.003
    # held-out lines (another seed, half of them upside down): the class rarely changes
    lines = render_text_lines(60, seed=11)
    feeds = [{"x": preprocess(im if i % 2 else np.ascontiguousarray(im[::-1, ::-1]), PPOCR_SPECS["cls"])[0]}
             for i, im in enumerate(lines)]
    fp32 = res.model.__class__("mnn", "fp32", [tmp_path / "q" / "mnn-fp32" / "model.mnn"],
                               {**res.model.meta, "precision": "fp32", "files": {"model": "model.mnn"}})
    ref, got = run_model(fp32, feeds), run_model(res.model, feeds)
    name = next(iter(ref[0]))
    assert top1_agreement([r[name] for r in ref], [g[name] for g in got]) >= 0.98


def test_quantize_cli_json_on_tiny_model(tiny_classifier: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    calib = tmp_path / "calib"
    write_images([rng.integers(0, 256, (40, 50, 3), dtype=np.uint8) for _ in range(10)], calib)
    r = run_cli("quantize", str(tiny_classifier), "--engine", "ncnn", "--calib", str(calib),
                "--preprocess", "size=32x32,color=rgb,norm=0.0039216", "--analyze", "--json", "-q",
                "--out", str(tmp_path / "work"))
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    res = doc["engines"]["ncnn"]
    assert res["ok"] and res["calib_images"] + res["eval_images"] >= 10
    assert res["accuracy"]["cosine"] >= 0.99 and res["layers"]
    # a softmax output: the budget is judged on its decision margins
    assert res["margin_outputs"] == ["prob"] and set(res["accuracy"]["per_output"]) == {"prob"}
    assert (tmp_path / "work" / "int8" / "quantize.json").is_file()


def test_softmax_outputs_are_last_axis_softmax_through_identity(tmp_path: Path) -> None:
    """Class scores (softmax over the last axis, maybe behind Identity) are judged on their
    margins; a per-pixel softmax over channels or a sigmoid map is not."""
    import onnx
    from onnx import TensorProto, helper

    from sdk.quantize import softmax_outputs

    def model(nodes: list[onnx.NodeProto], outs: dict[str, list[int]], opset: int = 13) -> Path:
        vi = helper.make_tensor_value_info
        g = helper.make_graph(nodes, "g", [vi("x", TensorProto.FLOAT, [1, 4, 2, 3])],
                              [vi(n, TensorProto.FLOAT, s) for n, s in outs.items()])
        path = tmp_path / f"m{len(list(tmp_path.iterdir()))}.onnx"
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]), str(path))
        return path

    node = helper.make_node
    last = model([node("Softmax", ["x"], ["s"]), node("Identity", ["s"], ["cls"]),
                  node("Softmax", ["x"], ["seg"], axis=1), node("Sigmoid", ["x"], ["p"])],
                 {"cls": [1, 4, 2, 3], "seg": [1, 4, 2, 3], "p": [1, 4, 2, 3]})
    assert softmax_outputs(last) == ["cls"]
    # before opset 13 a Softmax without an axis is over axis 1: the last one only for [N, C]
    old = model([node("Softmax", ["x"], ["s"])], {"s": [1, 4, 2, 3]}, opset=11)
    assert softmax_outputs(old) == []


def test_calibration_errors_are_one_line(tiny_classifier: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    line = one_error_line(run_cli("quantize", str(tiny_classifier), "--calib", str(empty), "-q"))
    assert "no usable files" in line
    line = one_error_line(run_cli("quantize", str(tiny_classifier), "--calib", str(tmp_path / "nope"), "-q"))
    assert "nope" in line
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    line = one_error_line(run_cli("quantize", str(tiny_classifier), "--calib", str(bad), "-q"))
    assert "broken.png" in line
    wrong = tmp_path / "wrong"
    write_images([np.zeros((20, 24, 3), np.uint8)], wrong)
    line = one_error_line(run_cli("quantize", str(tiny_classifier), "--calib", str(wrong), "-q"))
    assert "32x32" in line and "24x20" in line and "--preprocess" in line


def test_int8_needs_calib_and_calib_needs_int8(tiny_classifier: Path, tmp_path: Path) -> None:
    line = one_error_line(run_cli("deploy", str(tiny_classifier), "--precision", "int8"))
    assert "--calib" in line
    line = one_error_line(run_cli("deploy", str(tiny_classifier), "--calib", str(tmp_path)))
    assert "--precision int8" in line


@pytest.mark.emulated
@pytest.mark.slow
def test_deploy_int8_on_the_board(emulated_board: BoardEntry, cls_model: Path, cls_calib: Path,
                                  tmp_path: Path) -> None:
    r = run_cli("deploy", str(cls_model), "--board", emulated_board.name, "--engine", "all",
                "--input-shape", "x=1,3,48,192", "--preprocess", CLS_PRE, "--precision", "int8",
                "--calib", str(cls_calib), "--runs", "3", "--warmup", "1", "--json", "-q",
                "--report-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    eng = board_results(doc["device"])
    assert set(eng) == {("ncnn", "int8"), ("ncnn", "fp32"), ("mnn", "int8"), ("mnn", "fp32")}
    for (e, p), res in eng.items():
        assert res["engine"] == e and res["precision"] == p
    for res in eng.values():
        assert res["ok"] and res["latency_ms"]["p50"] > 0
    for e in ("ncnn", "mnn"):
        # the board (ARM int8 kernels) reproduces the host's int8 run; the host measured
        # int8 against fp32
        int8 = eng[(e, "int8")]
        assert all(o["cosine"] >= 0.99 for o in int8["outputs"]), (e, int8["outputs"])
        q = doc["quantization"][e]
        assert q["met"] and q["accuracy"]["cosine"] >= 0.99 and q["int8_bytes"] < q["fp32_bytes"], e
        assert q["margin_outputs"] == [o["output"] for o in host_rows(doc)[(e, "int8")]["outputs"]]
        # on the board, held-out images judged by the task (a classifier: decision margins)
        t = int8["task"]
        assert t["task"] == "classify" and t["images"] == 4 and q["task"]["task"] == "classify"
        assert t["vs_host"]["metric"] >= t["floor"] == q["budget"] and t["vs_fp32"]["top1"] >= 0.75
    assert any("decision margins" in n for n in doc["notes"]), doc["notes"]
