"""Conversion never crashes and always says why: isolation, normalization, golden inputs,
messages, and a sample of ONNX's own node conformance tests through the real CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from cli_util import run_cli
from onnx import TensorProto, helper

import sdk.convert as C
from sdk.convert.lower import converter_input
from sdk.convert.normalize import normalize
from sdk.engines.ncnn.pnnx_input import pnnx_input
from sdk.errors import ModelError
from sdk.tools import conformance


def _model(node: onnx.NodeProto, x: list[int], y: list[int] | None, inits: list[onnx.TensorProto] = (),  # type: ignore[assignment]
           ir: int = 8, opset: int = 13) -> onnx.ModelProto:
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, y)], list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = ir
    return m


def _ort(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(sess.run(None, {"x": x})[0])


# --- isolation: a native crash is one line, the other engine survives -----------------------


def test_native_crash_is_one_line_and_other_engine_survives(tmp_path: Path) -> None:
    # MNN divides by zero running a MaxPool with no strides attribute: bypass the
    # normalization that writes it out, to show what isolation alone does with the crash
    raw = _model(helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3]), [1, 3, 8, 8], [1, 3, 6, 6])
    path = tmp_path / "pool.onnx"
    onnx.save(raw, str(path))
    prepared = C.prepare(path, tmp_path / "work")
    onnx.save(raw, str(prepared.path))  # the unnormalized model, as today's converters see it
    feeds = C.make_golden_inputs(prepared)
    reference = C.run_reference(prepared, feeds)
    results = C.convert(prepared, ["mnn", "ncnn"], "fp32", tmp_path / "work", feeds=feeds,
                        reference=reference)
    assert results["mnn"].error == "mnn crashed (SIGFPE) running the converted model"
    assert results["ncnn"].ok, results["ncnn"].error
    # MNN's chatter went to its log, not to our stdout
    log = (tmp_path / "work" / "mnn-fp32" / "validate.log").read_text()
    assert "MNN use high precision" in log or "The device supports" in log


def test_convert_keeps_native_chatter_off_the_terminal(tmp_path: Path) -> None:
    m = _model(helper.make_node("Relu", ["x"], ["y"]), [1, 3, 4, 4], [1, 3, 4, 4])
    onnx.save(m, str(tmp_path / "relu.onnx"))
    r = run_cli("convert", str(tmp_path / "relu.onnx"), "--json", "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert all(res["ok"] for res in doc["results"].values()), doc["results"]
    assert "The device supports" not in r.stdout + r.stderr
    assert "MNN use high precision" not in r.stdout + r.stderr


# --- normalization ----------------------------------------------------------------------------


@pytest.mark.parametrize("auto_pad", ["SAME_LOWER", "SAME_UPPER", "VALID"])
def test_auto_pad_resolved_to_pads_keeps_outputs(auto_pad: str) -> None:
    rng = np.random.default_rng(1)
    w = helper.make_tensor("w", TensorProto.FLOAT, [2, 3, 3, 3], rng.standard_normal(54).astype(np.float32))
    node = helper.make_node("Conv", ["x", "w"], ["y"], auto_pad=auto_pad, strides=[2, 2])
    m = onnx.shape_inference.infer_shapes(_model(node, [1, 3, 7, 8], None, [w]))
    x = rng.standard_normal((1, 3, 7, 8)).astype(np.float32)
    before = _ort(m, x)
    done = normalize(m)
    attrs = {a.name: helper.get_attribute_value(a) for a in m.graph.node[0].attribute}
    assert "auto_pad" not in attrs and len(attrs["pads"]) == 4, (done, attrs)
    assert attrs["dilations"] == [1, 1] and attrs["kernel_shape"] == [3, 3]
    np.testing.assert_allclose(_ort(m, x), before, rtol=1e-6, atol=1e-6)


def test_ir_version_lowered_for_pnnx() -> None:
    m = _model(helper.make_node("Relu", ["x"], ["y"]), [1, 3], [1, 3], ir=14)
    assert any("IR version 14 -> 10" in d for d in normalize(m))
    assert m.ir_version == 10
    onnx.checker.check_model(m)


def _prepared(tmp_path: Path, model: onnx.ModelProto, name: str = "m") -> C.PreparedModel:
    onnx.save(model, str(tmp_path / f"{name}.onnx"))
    return C.prepare(tmp_path / f"{name}.onnx", tmp_path / "w")


def test_reductions_lowered_to_attribute_axes(tmp_path: Path) -> None:
    # ReduceMean-18 takes its axes as an input: pnnx reads it as one int its ncnn pass drops
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [2])
    node = helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=0)
    prepared = _prepared(tmp_path, _model(node, [1, 3, 4, 5], [1, 3, 5], [axes], opset=18))
    path, done = converter_input(prepared, tmp_path / "low.onnx", 26)
    assert done == ["opset 18 -> 17"] and path == tmp_path / "low.onnx"
    low = onnx.load(str(path))
    reduce = next(n for n in low.graph.node if n.op_type == "ReduceMean")
    assert [helper.get_attribute_value(a) for a in reduce.attribute if a.name == "axes"] == [[2]]
    x = np.random.default_rng(0).standard_normal((1, 3, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(_ort(low, x), x.mean(axis=2), rtol=1e-5, atol=1e-6)
    # nothing to lower, nothing to fix: the converter reads the prepared model itself
    relu = _prepared(tmp_path, _model(helper.make_node("Relu", ["x"], ["y"]), [1, 3], [1, 3]), "relu")
    assert converter_input(relu, tmp_path / "relu-low.onnx", 26) == (relu.path, [])


def test_ncnn_rewrites_keep_the_outputs(tmp_path: Path) -> None:
    # Mean of three inputs (no ncnn layer) and Selu (none either) feeding Max of three
    nodes = [helper.make_node("Mean", ["x", "a", "b"], ["m"]), helper.make_node("Selu", ["m"], ["s"]),
             helper.make_node("Max", ["s", "a", "b"], ["y"])]
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 6]) for n in ("x", "a", "b")]
    g = helper.make_graph(nodes, "g", ins, [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    prepared = _prepared(tmp_path, m)
    path, done = pnnx_input(prepared, tmp_path / "pnnx.onnx")
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert "Mean" not in ops and "Selu" not in ops and ops.count("Max") == 2, (ops, done)
    rng = np.random.default_rng(3)
    feeds = {n: rng.standard_normal((1, 6)).astype(np.float32) for n in ("x", "a", "b")}
    mean = (feeds["x"] + feeds["a"] + feeds["b"]) / 3
    selu = 1.0507009873554805 * np.where(mean > 0, mean, 1.6732632423543772 * np.expm1(mean))
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    want = np.maximum(np.maximum(selu, feeds["a"]), feeds["b"])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_pad_axes_folded_into_pads() -> None:
    pads = helper.make_tensor("pads", TensorProto.INT64, [4], [1, 2, 0, 3])
    axes = helper.make_tensor("axes", TensorProto.INT64, [2], [1, -1])
    node = helper.make_node("Pad", ["x", "pads", "", "axes"], ["y"])
    m = onnx.shape_inference.infer_shapes(_model(node, [1, 2, 3, 4], None, [pads, axes], opset=18))
    x = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    done = normalize(m)
    assert any("axes folded into pads" in d for d in done) and len(m.graph.node[0].input) == 2
    np.testing.assert_array_equal(_ort(m, x), np.pad(x, [(0, 0), (1, 0), (0, 0), (2, 3)]))


# --- golden inputs in the op's domain ------------------------------------------------------------


def test_golden_retried_in_domain_for_sqrt(tmp_path: Path) -> None:
    m = _model(helper.make_node("Sqrt", ["x"], ["y"]), [1, 3, 4, 4], [1, 3, 4, 4])
    onnx.save(m, str(tmp_path / "sqrt.onnx"))
    prepared = C.prepare(tmp_path / "sqrt.onnx", tmp_path / "w")
    assert not np.isfinite(C.run_reference(prepared, C.make_golden_inputs(prepared))["y"]).all()
    feeds, reference = C.golden_and_reference(prepared)
    assert (feeds["x"] >= 0).all() and (feeds["x"] == 0).any() and np.isfinite(reference["y"]).all()
    np.testing.assert_allclose(reference["y"], np.sqrt(feeds["x"]), rtol=1e-6)


def test_golden_file_gives_real_inputs(tmp_path: Path) -> None:
    m = _model(helper.make_node("Log", ["x"], ["y"]), [1, 2, 3], [1, 2, 3])
    onnx.save(m, str(tmp_path / "log.onnx"))
    x = np.arange(1, 7, dtype=np.float32).reshape(1, 2, 3)
    np.savez(tmp_path / "g.npz", x=x)
    r = run_cli("convert", str(tmp_path / "log.onnx"), "--engine", "mnn", "--json", "--golden",
                str(tmp_path / "g.npz"), "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["results"]["mnn"]["ok"]
    prepared = C.prepare(tmp_path / "log.onnx", tmp_path / "w")
    _, ref = C.golden_and_reference(prepared, tmp_path / "g.npz")
    np.testing.assert_allclose(ref["y"], np.log(x), rtol=1e-6)
    np.savez(tmp_path / "bad.npz", z=x)
    with pytest.raises(ModelError, match="has no array for input 'x'"):
        C.golden_and_reference(prepared, tmp_path / "bad.npz")


# --- precise messages ------------------------------------------------------------------------------


def test_ncnn_refuses_batch_above_one(tmp_path: Path) -> None:
    m = _model(helper.make_node("Relu", ["x"], ["y"]), [2, 3, 4, 4], [2, 3, 4, 4])
    onnx.save(m, str(tmp_path / "b2.onnx"))
    prepared = C.prepare(tmp_path / "b2.onnx", tmp_path / "w")
    feeds, ref = C.golden_and_reference(prepared)
    res = C.convert(prepared, ["ncnn", "mnn"], "fp32", tmp_path / "w", feeds=feeds, reference=ref)
    assert "ncnn runs batch 1" in (res["ncnn"].error or ""), res["ncnn"].error
    assert res["mnn"].ok, res["mnn"].error


def test_output_size_mismatch_is_named() -> None:
    with pytest.raises(C.ConvertError, match="output 'y' has the wrong size"):
        C._check_outputs("ncnn", {"y": np.zeros((1, 4))}, {"y": np.zeros((1, 3))})
    with pytest.raises(C.ConvertError, match="gives 0 output"):
        C._check_outputs("mnn", {"y": np.zeros((1, 4))}, {})


# --- ONNX's node conformance tests, through the real CLI ---------------------------------------------

# the cases behind the findings (MNN SIGFPE on pools, NaN references, pnnx's IR
# version, auto_pad, ncnn's missing layers, Dropout, size mismatches, ReduceMean-18's axes
# input, a Mean of three); the full sample is `python -m sdk.tools.conformance`
CI_CASES = (
    "maxpool_2d_default", "conv_with_autopad_same", "sqrt", "pow", "argmax_keepdims_example",
    "dropout_default_ratio", "top_k", "reduce_mean_do_not_keepdims_example", "mean_example",
)


@pytest.mark.slow
def test_conformance_sample_never_crashes_and_no_wrong_ok(tmp_path: Path) -> None:
    by_name = {c.name: c for c in conformance.cases()}
    chosen = [by_name[n] for n in CI_CASES if n in by_name]
    assert len(chosen) == len(CI_CASES), sorted(set(CI_CASES) - set(by_name))
    outcomes = [conformance.run_case(c, tmp_path / c.name) for c in chosen]
    print(conformance.table(outcomes), file=sys.stderr)
    for o in outcomes:
        assert o.status in ("json", "error"), (o.name, o.status, o.line)
        for engine, state in o.engines.items():
            assert state != "wrong-ok", (o.name, engine, o.errors.get(engine))
            if state == "failed":
                err = o.errors[engine]
                assert err and "\n" not in err and "Traceback" not in err, (o.name, engine, err)
                assert "cosine nan" not in err, (o.name, engine, err)
    s = conformance.summary(outcomes)
    # the fixes of this issue: pools with default strides, Sqrt/Log on N(0,1), auto_pad on ncnn
    ok = {o.name: o.engines for o in outcomes}
    assert ok["maxpool_2d_default"] == {"ncnn": "ok", "mnn": "ok"}, ok["maxpool_2d_default"]
    assert ok["sqrt"] == {"ncnn": "ok", "mnn": "ok"}, ok["sqrt"]
    # ncnn's Pow(0, y) is wrong: the golden retry has exact zeros, so it is not called ok
    assert ok["pow"] == {"ncnn": "failed", "mnn": "ok"}, ok["pow"]
    assert ok["conv_with_autopad_same"].get("ncnn") == "ok", outcomes
    # the opset lowered for the converters (axes as an attribute), Mean as Add chain * 1/3
    assert ok["reduce_mean_do_not_keepdims_example"] == {"ncnn": "ok", "mnn": "ok"}, outcomes
    assert ok["mean_example"] == {"ncnn": "ok", "mnn": "ok"}, outcomes
    assert s["signals"] == 0 and s["tracebacks"] == 0


def test_readme_table_is_written_by_the_generator(tmp_path: Path) -> None:
    outcomes = [conformance.Outcome("relu", "Relu", "json", engines={"ncnn": "ok", "mnn": "ok"}),
                conformance.Outcome("selu", "Selu", "json", engines={"ncnn": "failed", "mnn": "ok"},
                                    errors={"ncnn": "ncnn has no layer | Selu"}),
                conformance.Outcome("crash", "Relu", "signal", "killed by signal 11")]
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{conformance.README_BEGIN}\nold figures\n{conformance.README_END}\nrest\n")
    conformance.write_readme(readme, outcomes, "python -m sdk.tools.conformance --json", per_op=3)
    text = readme.read_text()
    assert text.startswith("intro\n" + conformance.README_BEGIN)
    assert text.endswith(conformance.README_END + "\nrest\n")
    assert "old figures" not in text
    assert "(3 cases, at most 3 per op, on the host): 1 runs killed by a signal" in " ".join(text.split())
    assert "ncnn agrees on 1, MNN agrees on 2" in " ".join(text.split())
    assert "| Relu | 2 | 1 | 1 |" in text and "| Selu | 1 | 0 | 1 | ncnn has no layer / Selu |" in text
    # the project's README holds one generated block, rewritten only by the generator
    real = (Path(__file__).parents[1] / "README.md").read_text()
    assert real.count(conformance.README_BEGIN) == 1 and real.count(conformance.README_END) == 1
