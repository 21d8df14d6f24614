"""int8 judged by the task: a detector's detections, not one cosine over boxes and scores.

The detector here is a YOLOv8-shaped network built with onnx.helper (``tiny_detector``:
DFL box head, Sigmoid class scores, one Concat of pixels and scores, as ultralytics exports
it); the real YOLOv8 detector is measured by ``python -m sdk.tools.int8_bench --models yolo``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _fix_models import DET_SIZE
from cli_util import one_error_line, run_cli

from sdk.convert import convert_engine, prepare
from sdk.deploy import synthetic_image
from sdk.device import tasks as T
from sdk.device.preprocess import ImageSpec, preprocess
from sdk.quantize import accuracy, quantize, run_model
from sdk.quantize.task import find_task, task_spec
from sdk.tools.synth import PPOCR_SPECS, write_images

DET_SPEC = ImageSpec(width=DET_SIZE, height=DET_SIZE, color="rgb", norm=(1 / 255,), letterbox=True)
DET_PRE = f"size={DET_SIZE}x{DET_SIZE},color=rgb,norm=0.0039216,letterbox=1"


@pytest.fixture(scope="module")
def det_calib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 rendered pictures (seeds 100..159): 48 calibrate, 12 are the flow's hold-out (on 8,
    budgets met there held on other pictures by a hair only: precision 0.93 for MNN)."""
    d = tmp_path_factory.mktemp("det_calib")
    write_images([synthetic_image(s, (256, 192)) for s in range(100, 160)], d)
    return d


def _held_out(n: int = 24) -> list[dict[str, np.ndarray]]:
    """Other pictures (seeds 500..), never seen by calibration or the flow's hold-out."""
    return [{"images": preprocess(synthetic_image(s, (256, 192)), DET_SPEC, "bgr")[0]}
            for s in range(500, 500 + n)]


def _reference(model: Path, feeds: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return [dict(zip(names, sess.run(None, f), strict=True)) for f in feeds]


@pytest.mark.slow
def test_detector_int8_meets_the_detection_budget_on_both_engines(tiny_detector: Path, det_calib: Path,
                                                                  tmp_path: Path) -> None:
    prep = prepare(tiny_detector, tmp_path, None)
    results = quantize(prep, ["ncnn", "mnn"], det_calib, tmp_path / "q", spec=DET_SPEC)
    held = _held_out()
    spec = find_task(prep)
    for engine, res in results.items():
        assert res.ok and res.met, (engine, res.error)
        assert res.task["task"] == "detect" and res.task["layout"] == "yolov8" and res.budget == 0.95
        acc = res.accuracy
        assert acc is not None and acc.task == "detect" and acc.images == res.eval_images >= 12
        m = acc.metrics
        assert acc.metric == min(m["recall"], m["precision"], max(0, 1 - 5 * (1 - m["class_cosine"]))) >= 0.95
        assert acc.metrics["detections_ref"] > 40  # the budget rests on detections, not on none
        assert res.int8_bytes < 0.5 * res.fp32_bytes
        assert res.model is not None
        fp32 = convert_engine(engine, prep, tmp_path / "q" / f"{engine}-fp32", "fp32")
        # images neither calibration nor the search saw: the detections survive int8
        got = accuracy(run_model(fp32, held), run_model(res.model, held), task=spec)
        m = got.metrics
        assert m["detections_ref"] > 150, m
        assert m["recall"] >= 0.95 and m["precision"] >= 0.95 and m["class_cosine"] >= 0.99, (engine, m)


def test_planted_score_crush_is_caught_by_detections_and_missed_by_the_cosine(tiny_detector: Path,
                                                                              tmp_path: Path) -> None:
    """int8 scores crushed to zero, boxes kept (a Concat of pixels and 0..1 scores sharing one
    int8 scale does this): the whole-tensor cosine still reads 'met', the detections do not."""
    prep = prepare(tiny_detector, tmp_path, None)
    held = _held_out(8)
    ref = _reference(prep.path, held)
    crushed = []
    for r in ref:
        y = r["output0"].copy()
        y[:, 4:] = np.round(y[:, 4:] / 5.0) * 5.0  # one int8 step of the box range (640/127): all zero
        crushed.append({"output0": y})
    assert all(np.all(c["output0"][:, 4:] == 0) for c in crushed)
    plain = accuracy(ref, crushed)  # no task: today's cosine
    judged = accuracy(ref, crushed, task=find_task(prep))
    assert plain.value == plain.cosine > 0.99  # the plain cosine misses it: "budget 0.99 met"
    assert judged.metrics["recall"] == 0.0 and judged.metric == 0.0  # every detection lost
    assert judged.metrics["detections_ref"] > 40 and judged.metrics["detections"] == 0
    assert judged.metrics["class_cosine"] == 0.0 and judged.metrics["box_cosine"] > 0.999


def test_class_scores_off_below_the_threshold_fail_the_metric_with_every_detection_kept(
        tiny_detector: Path, tmp_path: Path) -> None:
    """Scores moved only where no detection is (below 0.25): the same detections, so recall
    and precision read 1.0, but the class-score cosine falls below its 0.99 target, and the
    task metric (what the int8 budget applies to) falls below 0.95 with it."""
    prep = prepare(tiny_detector, tmp_path, None)
    ref = _reference(prep.path, _held_out(8))
    moved = []
    for r in ref:
        y = r["output0"].copy()
        s = y[:, 4:]
        s[s < 0.1] += 0.12  # still below every threshold a detection is counted from
        moved.append({"output0": y})
    judged = accuracy(ref, moved, task=find_task(prep))
    m = judged.metrics
    assert m["detections_ref"] > 10 and m["recall"] == 1.0 and m["precision"] == 1.0
    assert m["class_cosine"] < 0.99
    assert judged.metric == m["class_term"] < 0.95
    assert m["class_term"] == pytest.approx(1 - 5 * (1 - m["class_cosine"]))
    same = accuracy(ref, ref, task=find_task(prep))
    assert same.metric == 1.0 and same.metrics["class_term"] == pytest.approx(1.0)


@pytest.mark.slow
def test_task_found_for_ppocr_and_detectors(det_model: Path, rec_model: Path, cls_model: Path,
                                            tiny_detector: Path, yolo_model: Path, tmp_path: Path) -> None:
    found = {
        "det": find_task(prepare(det_model, tmp_path / "det", {"x": (1, 3, 320, 320)})),
        "rec": find_task(prepare(rec_model, tmp_path / "rec", {"x": (1, 3, 48, 320)})),
        "cls": find_task(prepare(cls_model, tmp_path / "cls", {"x": (1, 3, 48, 192)})),
        "tiny": find_task(prepare(tiny_detector, tmp_path / "tiny", None)),
        "yolo": find_task(prepare(yolo_model, tmp_path / "yolo", None)),
    }
    assert {k: v.task for k, v in found.items()} == {"det": "ocr-det", "rec": "ocr-rec", "cls": "classify",
                                                      "tiny": "detect", "yolo": "detect"}
    assert (found["yolo"].layout, found["yolo"].classes, found["yolo"].output) == ("yolov8", 2, "output0")
    assert found["rec"].classes == 6625 and found["cls"].classes == 2
    assert "8400 anchors" in found["yolo"].why


def _v5_model(path: Path) -> Path:
    """A YOLOv5-shaped head: conv -> sigmoid -> [1, N, 5 + C] (N = 64 anchors, C = 3)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    w = numpy_helper.from_array((rng.standard_normal((8, 3, 1, 1)) * 0.5).astype(np.float32), "w")
    shape = numpy_helper.from_array(np.array([1, 8, 64], np.int64), "shape")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1]),
             helper.make_node("Sigmoid", ["c"], ["s"]),
             helper.make_node("Reshape", ["s", "shape"], ["r"]),
             helper.make_node("Transpose", ["r"], ["out"], perm=[0, 2, 1])]
    g = helper.make_graph(nodes, "v5", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 64, 8])],
                          initializer=[w, shape])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


def test_yolov5_layout_is_found_and_decoded_as_objectness_times_class(tmp_path: Path) -> None:
    prep = prepare(_v5_model(tmp_path / "v5.onnx"), tmp_path, None)
    spec = find_task(prep)
    assert (spec.task, spec.layout, spec.classes) == ("detect", "yolov5", 3)
    rng = np.random.default_rng(0)
    n, c = 50, 3
    v8 = np.empty((4 + c, n), np.float32)
    v8[:2] = rng.uniform(0, 200, (2, n))
    v8[2:4] = rng.uniform(5, 60, (2, n))
    v8[4:] = rng.uniform(0, 1, (c, n))
    obj = rng.uniform(0.2, 1.0, n).astype(np.float32)
    v5 = np.concatenate([v8[:4].T, obj[:, None], (v8[4:] / obj).T], axis=1)[None]  # cls * obj = v8 scores
    a, b = T.decode(v8[None], "yolov8"), T.decode(v5, "yolov5")
    assert len(a) == len(b) > 0
    assert np.array_equal(a.classes, b.classes) and np.allclose(a.scores, b.scores, atol=1e-6)


def test_decode_twin_matches_the_kernel() -> None:
    """The board without sdk._kernels decodes with the numpy twin: the same detections."""
    rng = np.random.default_rng(11)
    for _ in range(100):
        c, n = int(rng.integers(1, 6)), int(rng.integers(1, 500))
        x = np.empty((4 + c, n), np.float32)
        x[:2] = rng.uniform(0, 320, (2, n))
        x[2:4] = rng.uniform(2, 80, (2, n))
        x[4:] = rng.uniform(0, 1, (c, n)).round(2)  # ties in scores: the order must match too
        thr = float(rng.choice([0.1, 0.25, 0.5]))
        k = T.decode(x, "yolov8", thr, max_detections=7)
        ref = T.decode_nms_reference(x, thr, max_detections=7)
        assert len(k) == len(ref)
        assert np.array_equal(k.classes, ref.classes) and np.array_equal(k.scores, ref.scores)
        assert np.allclose(k.boxes, ref.boxes, atol=1e-4)


def test_match_counts_same_class_iou_half() -> None:
    d = T.Detections
    ref = d(np.array([[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]], np.float32),
            np.array([0.9, 0.8, 0.7], np.float32), np.array([0, 1, 0], np.int32))
    got = d(np.array([[1, 1, 11, 11], [20, 20, 30, 30], [80, 80, 90, 90]], np.float32),
            np.array([0.9, 0.8, 0.7], np.float32), np.array([0, 0, 0], np.int32))
    # box 0: IoU 0.68, same class; box 1: same place, other class; box 2: nowhere near
    assert T.match_detections(ref, got) == 1
    shifted = d(np.array([[5, 0, 15, 10]], np.float32), np.array([0.9], np.float32), np.array([0], np.int32))
    assert T.match_detections(ref, shifted) == 0  # IoU 1/3


@pytest.mark.slow
def test_task_override_and_unfit_task(tiny_detector: Path, tiny_classifier: Path, det_calib: Path,
                                      tmp_path: Path) -> None:
    r = run_cli("quantize", str(tiny_detector), "--engine", "ncnn", "--calib", str(det_calib), "--preprocess",
                DET_PRE, "--task", "raw", "--method", "percentile", "--json", "-q", "--out",
                str(tmp_path / "w"))
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)["engines"]["ncnn"]
    assert res["task"]["task"] == "raw" and res["task"]["why"] == "--task raw"
    assert res["accuracy"]["metric"] is None and res["budget"] == 0.99  # the plain cosine, as before
    line = one_error_line(run_cli("quantize", str(tiny_classifier), "--calib", str(det_calib), "--task",
                                  "detect", "-q", "--out", str(tmp_path / "w2")))
    assert "--task detect needs a YOLO head" in line and "[1, 10]" in line
    prep = prepare(tiny_detector, tmp_path / "p", None)
    assert task_spec(prep, "detect").why.startswith("--task detect")
    assert task_spec(prep, None).task == "detect"


@pytest.mark.slow
def test_detector_cli_report_names_the_task_and_the_figures(tiny_detector: Path, det_calib: Path,
                                                            tmp_path: Path) -> None:
    r = run_cli("quantize", str(tiny_detector), "--engine", "ncnn", "--calib", str(det_calib), "--preprocess",
                DET_PRE, "-q", "--out", str(tmp_path / "w"))
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout
    assert "judged as detect: min(recall, precision, 1 - 5 (1 - class-score cosine))" in " ".join(out.split())
    assert "12 held-out images" in out and "recall" in out and "class-score cosine" in out
    assert "WARNING" not in out  # 12 held-out images: enough not to warn
    assert "ncnn: search: " in out and "stopped: " in out  # what the search did, one line
    doc = json.loads((tmp_path / "w" / "int8" / "quantize.json").read_text())
    acc = doc["engines"]["ncnn"]["accuracy"]
    assert acc["task"] == "detect"
    assert {"recall", "precision", "class_cosine", "cosine"} <= set(acc["metrics"])


@pytest.mark.slow
def test_held_out_images_too_few_is_one_line_and_few_warns(tiny_classifier: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    nine, ten = tmp_path / "nine", tmp_path / "ten"
    images = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(10)]
    write_images(images[:9], nine)
    write_images(images, ten)
    pre = "size=32x32,color=rgb,norm=0.0039216"
    line = one_error_line(run_cli("quantize", str(tiny_classifier), "--engine", "ncnn", "--calib", str(nine),
                                  "--preprocess", pre, "-q", "--out", str(tmp_path / "w")))
    assert "9 calibration images leave 1 held out" in line and ">= 10 images" in line
    r = run_cli("quantize", str(tiny_classifier), "--engine", "ncnn", "--calib", str(ten),
                "--preprocess", pre, "--json", "-q", "--out", str(tmp_path / "w"))
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout)["engines"]["ncnn"]
    assert res["eval_images"] == 2 and any("only 2 held-out images" in w for w in res["warnings"])
    assert res["accuracy"]["task"] == "classify" and res["accuracy"]["images"] == 2
    # a budget int8 cannot meet within --max-fp32: the best candidate, and a message that says so
    r = run_cli("quantize", str(tiny_classifier), "--engine", "ncnn", "--calib", str(ten),
                "--preprocess", pre, "--budget", "1.0", "--max-fp32", "1", "--json", "-q",
                "--out", str(tmp_path / "w3"))
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout)["engines"]["ncnn"]
    assert res["ok"] and not res["met"] and res["accuracy"]["metric"] < 1.0
    assert res["error"].startswith("int8 misses the budget: margin cosine")
    assert "--max-fp32 (now 1)" in res["error"]
    assert "stopped: --max-fp32 1 reached" in res["search"]


@pytest.mark.slow
def test_board_check_judges_int8_detections_by_the_task(tiny_detector: Path, det_calib: Path,
                                                        tmp_path: Path) -> None:
    """The on-board runner's task check, run here on the host (same code the board runs):
    it passes the host's own int8 outputs and catches a board whose scores are crushed."""
    from sdk.boards import load_profile
    from sdk.bundle import build_bundle
    from sdk.convert import make_golden_inputs, run_reference
    from sdk.device.runner import run_model as board_run

    prep = prepare(tiny_detector, tmp_path, None)
    (res,) = quantize(prep, ["ncnn"], det_calib, tmp_path / "q", spec=DET_SPEC).values()
    assert res.ok and res.model is not None
    fp32 = convert_engine("ncnn", prep, tmp_path / "q" / "ncnn-fp32", "fp32")
    held = _held_out(4)
    host, fp = run_model(res.model, held), run_model(fp32, held)
    feeds = make_golden_inputs(prep)

    def bundle(host_outs: list[dict[str, np.ndarray]], name: str) -> Path:
        assert res.model is not None
        samples = {"task": res.task, "floor": res.budget, "inputs": held, "host": host_outs, "fp32": fp}
        b = build_bundle(tmp_path / name, prepared=prep, profile=load_profile("rk3399"), models=[res.model],
                         feeds=feeds, reference=run_reference(prep, feeds), wheels=[], requirements=[],
                         golden_by_model={res.model.id: run_model(res.model, [feeds])[0]},
                         task_samples={res.model.id: samples})
        return b.root

    good = board_run(bundle(host, "good"), res.model.id, runs=1, warmup=0, threads=1, cpus=[])
    assert good.ok, good.error
    assert good.task is not None and good.task["task"] == "detect" and good.task["images"] == 4
    assert good.task["vs_host"]["metric"] == 1.0 and good.task["vs_fp32"]["recall"] >= 0.9
    assert "decode_nms" in good.task["decoder"]
    # a host whose int8 scores read otherwise: the board's detections no longer agree
    other = [{k: np.concatenate([v[:, :4], v[:, 4:][:, ::-1]], axis=1) for k, v in h.items()} for h in host]
    bad = board_run(bundle(other, "bad"), res.model.id, runs=1, warmup=0, threads=1, cpus=[])
    assert not bad.ok and bad.error is not None and "judged as detect" in bad.error
    assert all(o.cosine is not None and o.cosine >= 0.99 for o in bad.outputs)  # the golden cosine passed


def test_classifier_margins_and_top1_through_the_task(cls_model: Path, tmp_path: Path) -> None:
    """classify: the margin cosine the budget judges, and top-1, from the same call."""
    prep = prepare(cls_model, tmp_path, {"x": (1, 3, 48, 192)})
    spec = find_task(prep)
    from sdk.tools.synth import render_text_lines

    feeds = [{"x": preprocess(im, PPOCR_SPECS["cls"])[0]} for im in render_text_lines(6, seed=4)]
    ref = _reference(prep.path, feeds)
    name = spec.output
    assert name is not None
    noisy = [{name: np.clip(r[name] + np.float32(0.02), 0, 1)} for r in ref]
    figs = T.agreement(spec, ref, noisy)
    assert figs.metric_name == "margin cosine" and figs.metric == figs.metrics["margin_cosine"]
    assert figs.metrics["top1"] == 1.0 and 0 < figs.metric < 1.0


def _head(boxes: list[tuple[float, float, float]], anchors: int = 64) -> dict[str, np.ndarray]:
    """A YOLOv8 head [1, 6, anchors] with one well-separated box per (x, score, class)."""
    y = np.zeros((1, 6, anchors), np.float32)
    for i, (x, score, cls) in enumerate(boxes):
        y[0, :4, i] = (x, 50.0, 20.0, 20.0)
        y[0, 4 + int(cls), i] = score
    return {"output0": y}


def test_few_fp32_detections_lower_the_judged_score_threshold_and_warn() -> None:
    """2 detections at >= 0.25 cannot judge recall (the YOLOv8 fall detector's held-out set):
    the flow judges at the highest lower threshold with >= 20 detections, and says so."""
    from sdk.quantize.task import MIN_DETECTIONS, detection_evidence

    spec = T.TaskSpec("detect", "output0", "yolov8", 2)
    # per image: one box at 0.6, two at 0.18, two at 0.12 (classes alternate), 8 images:
    # 8 at >= 0.25, 24 at >= 0.15, 40 at >= 0.1
    imgs = [_head([(30.0, 0.6, 0), (90.0, 0.18, 1), (150.0, 0.18, 0), (210.0, 0.12, 1), (270.0, 0.12, 0)],
                  anchors=300) for _ in range(8)]
    judged, warn = detection_evidence(spec, imgs)
    assert judged.threshold == 0.15 and warn is not None
    assert "8 detections (score >= 0.25)" in warn and "score >= 0.15 (24 detections)" in warn
    # int8 loses every 0.18 box: at 0.25 nothing is missed, at the judged threshold it is
    lost = [_head([(30.0, 0.6, 0), (90.0, 0.1, 1), (150.0, 0.1, 0), (210.0, 0.12, 1), (270.0, 0.12, 0)],
                  anchors=300) for _ in range(8)]
    at25 = T.agreement(spec, imgs, lost).metrics
    assert at25["recall"] == at25["precision"] == 1.0  # (the class-score cosine sees the moved scores)
    assert at25["class_term"] < 1.0
    at = T.agreement(judged, imgs, lost)
    assert at.metrics["detections_ref"] == 24 and at.metrics["recall"] == pytest.approx(8 / 24)
    # enough at 0.25: unchanged; a threshold the caller set: unchanged
    many = [_head([(30.0 + 60 * k, 0.6, k % 2) for k in range(3)], anchors=300)
            for _ in range(MIN_DETECTIONS)]
    assert detection_evidence(spec, many) == (spec, None)
    fixed = T.TaskSpec("detect", "output0", "yolov8", 2, threshold=0.25)
    assert detection_evidence(fixed, imgs) == (fixed, None)
    # nothing even at the lowest threshold: judged there, with a warning
    empty = [_head([]) for _ in range(4)]
    low, warn = detection_evidence(spec, empty)
    assert low.threshold == 0.05 and warn is not None and "0 detections" in warn
