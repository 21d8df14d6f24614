"""int8 with MNN's quantizer on the real PP-OCR models, calibrated with the SDK's preprocessing.

Accuracy targets: cls top-1 agreement >= 0.99, rec character agreement >= 0.98, det
prob-map cosine >= 0.99 and mask IoU >= 0.95 (all vs the fp32 MNN model, on held-out
synthetic data). MNN's own quantizer reaches none of them (measured: cls 0.960, rec 0.913,
det 0.954 / 0.893). Each test measures its variants, checks the int8 model is at least sane,
asserts the miss (a change in MNN that meets a target fails the test, so the README and the
default path get revisited) and asserts that the SDK reports the miss when a user asks for
that quantizer (``--method mnn-kl``: ``met`` false, the figure and the budget in the error).
The SDK's own MNN int8 path (sdk.engines.mnn.params) is tested in test_quantize.py.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest
from _fix_calib import DET_SIZE, HELDOUT_SEED, Fp32Mnn
from audit_util import assert_offline, run_audited, site_state

from sdk.convert import prepare
from sdk.device.preprocess import preprocess
from sdk.engines.mnn.quantizer import quantize_mnn
from sdk.engines.mnn.runner import MnnRunner
from sdk.engines.mnn.tools import dump_mnn_tensors, mnn_op_names, mnn_ops
from sdk.errors import QuantizeError
from sdk.quantize import QuantResult, quantize
from sdk.quantize import metrics as M
from sdk.quantize.calib import load_calibration

REPO = Path(__file__).resolve().parents[1]
RESULTS: dict[str, dict[str, float]] = {}


def _record(key: str, **values: float) -> None:
    RESULTS.setdefault(key, {}).update(values)
    print(f"\n[mnn-int8] {key}: " + ", ".join(f"{k}={v:.5g}" for k, v in values.items()))
    out = os.environ.get("SDK_QUANT_RESULTS")
    if out:
        Path(out).write_text(json.dumps(RESULTS, indent=2))


def _run(model: Fp32Mnn, model_file: Path, feeds: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
    with MnnRunner(model_file.parent, model.meta(model_file.name)) as runner:
        return [runner.run(f)["out"] for f in feeds]


def _known_miss(met: bool, what: str) -> None:
    assert not met, f"MNN's own quantizer now meets the target ({what}): revisit the README and this test"
    print(f"\n[mnn-int8] finding: MNN's own quantizer misses the target: {what}")


def _sdk_reports_miss(onnx: Path, model: Fp32Mnn, calib_dir: Path, work: Path, budget: float) -> QuantResult:
    """MNN's own quantizer through the SDK's flow, as ``sdk quantize --method mnn-kl`` runs it
    (fully int8, no mixed precision): the SDK must say the budget was missed, with the figure."""
    prepared = prepare(onnx, work / "prep", {model.input_name: model.input_shape})
    (res,) = quantize(prepared, ["mnn"], calib_dir, work / "q", spec=model.spec, method="mnn-kl",
                      budget=budget, max_fp32_layers=0).values()
    assert res.ok and res.model is not None, res.error
    assert res.method == "mnn-kl" and res.accuracy is not None
    # judged by the task's metric (cls/rec: margin cosine, det: mask IoU), named in the error
    assert not res.met and res.accuracy.value < budget
    miss = f"{res.accuracy.metric_name} {res.accuracy.value:.5f} < budget {budget}"
    assert res.error is not None and miss in res.error
    return res


def _quantize(model: Fp32Mnn, calib_dir: Path, work: Path, method: str = "kl", **kw: object) -> Path:
    feeds = load_calibration(calib_dir, model.input_name, model.input_shape, model.spec)
    return quantize_mnn(
        model.path,
        feeds,
        work,
        method=method,
        input_name=model.input_name,
        input_shape=model.input_shape,
        **kw,  # type: ignore[arg-type]
    )


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["percentile", "aciq"])
def test_methods_mnn_lacks_are_one_line_errors(cls_mnn: Fp32Mnn, tmp_path: Path, method: str) -> None:
    feeds = [{"x": np.zeros(cls_mnn.input_shape, np.float32)}]
    with pytest.raises(QuantizeError) as ei:
        quantize_mnn(
            cls_mnn.path, feeds, tmp_path, method=method, input_name="x", input_shape=cls_mnn.input_shape
        )
    msg = str(ei.value)
    assert "\n" not in msg and method in msg and "kl" in msg and "admm" in msg and "ema" in msg


def test_unknown_method_and_per_tensor(cls_mnn: Fp32Mnn, tmp_path: Path) -> None:
    feeds = [{"x": np.zeros(cls_mnn.input_shape, np.float32)}]
    with pytest.raises(QuantizeError, match="did you mean 'kl'"):
        quantize_mnn(
            cls_mnn.path, feeds, tmp_path, method="kll", input_name="x", input_shape=cls_mnn.input_shape
        )
    with pytest.raises(QuantizeError, match="per-tensor"):
        quantize_mnn(
            cls_mnn.path, feeds, tmp_path, per_channel=False, input_name="x", input_shape=cls_mnn.input_shape
        )
    with pytest.raises(QuantizeError, match="unknown op"):
        quantize_mnn(
            cls_mnn.path, feeds, tmp_path, skip=["nope"], input_name="x", input_shape=cls_mnn.input_shape
        )
    with pytest.raises(QuantizeError, match="does not fit"):
        quantize_mnn(
            cls_mnn.path,
            [{"x": np.zeros((1, 3, 8, 8), np.float32)}],
            tmp_path,
            input_name="x",
            input_shape=cls_mnn.input_shape,
        )


def test_op_names(cls_mnn: Fp32Mnn) -> None:
    names = mnn_op_names(cls_mnn.path)
    ops = mnn_ops(cls_mnn.path)
    assert len(names) > 20 and len(set(names)) == len(names)
    assert all(o.quantizable for o in ops if o.name in names)
    assert {o.type for o in ops if o.name in names} <= {
        "Convolution",
        "ConvolutionDepthwise",
        "Deconvolution",
    }


# --- accuracy on the real models ---------------------------------------------------------------


def _variants(model: Fp32Mnn, first: int) -> list[tuple[str, str, list[str]]]:
    """KL, ADMM, and ADMM with the first ``first`` convolutions kept in float (a manual skip list)."""
    return [
        ("kl", "kl", []),
        ("admm", "admm", []),
        (f"admm_float_first{first}", "admm", mnn_op_names(model.path)[:first]),
    ]


def test_cls_int8_top1(
    cls_mnn: Fp32Mnn, cls_model: Path, calib_lines_dir: Path, heldout_lines: list[np.ndarray], tmp_path: Path
) -> None:
    # half the held-out lines turned 180 degrees, so both classes occur
    imgs = [im if i % 2 == 0 else np.ascontiguousarray(im[::-1, ::-1]) for i, im in enumerate(heldout_lines)]
    feeds = [{"x": preprocess(im, cls_mnn.spec)[0]} for im in imgs]
    ref = _run(cls_mnn, cls_mnn.path, feeds)
    best = 0.0
    for name, method, skip in _variants(cls_mnn, first=3):
        q = _quantize(cls_mnn, calib_lines_dir, tmp_path / name, method, skip=skip)
        assert q.stat().st_size < 0.5 * cls_mnn.path.stat().st_size
        top1 = M.top1_agreement(ref, _run(cls_mnn, q, feeds))
        _record(
            f"cls/{name}", top1=top1, int8_bytes=q.stat().st_size, fp32_bytes=cls_mnn.path.stat().st_size
        )
        best = max(best, top1)
    assert best > 0.6  # sane: far above a broken model
    _known_miss(best >= 0.99, f"cls top-1 agreement {best:.3f} < 0.99")
    res = _sdk_reports_miss(cls_model, cls_mnn, calib_lines_dir, tmp_path / "sdk", budget=0.9998)
    assert res.margin_outputs  # the budget is on the decision margins of the softmax output


def test_rec_int8_char_agreement(rec_mnn: Fp32Mnn, rec_model: Path, calib_lines_dir: Path,
                                 tmp_path: Path) -> None:
    from sdk.tools.synth import render_text_lines

    feeds = [{"x": preprocess(im, rec_mnn.spec)[0]} for im in render_text_lines(40, HELDOUT_SEED)]
    ref = _run(rec_mnn, rec_mnn.path, feeds)
    ref_chars = sum(len(s) for s in M.ctc_decode(np.concatenate(ref)))
    assert ref_chars > 100  # the fp32 model reads the synthetic lines
    best = 0.0
    for name, method, skip in _variants(rec_mnn, first=3):
        q = _quantize(rec_mnn, calib_lines_dir, tmp_path / name, method, skip=skip)
        got = _run(rec_mnn, q, feeds)
        assert all(g.shape == r.shape and np.isfinite(g).all() for g, r in zip(got, ref, strict=True))
        agree = M.char_agreement(ref, got)
        cos = float(np.mean([M.cosine(a, b) for a, b in zip(ref, got, strict=True)]))
        q_chars = sum(len(s) for s in M.ctc_decode(np.concatenate(got)))
        _record(
            f"rec/{name}",
            char_agreement=agree,
            cosine=cos,
            fp32_chars=ref_chars,
            int8_chars=q_chars,
            int8_bytes=q.stat().st_size,
            fp32_bytes=rec_mnn.path.stat().st_size,
        )
        best = max(best, agree)
    _known_miss(best >= 0.98, f"rec char agreement {best:.3f} < 0.98")
    _sdk_reports_miss(rec_model, rec_mnn, calib_lines_dir, tmp_path / "sdk", budget=0.998)


def test_det_int8_prob_map(det_mnn: Fp32Mnn, det_model: Path, calib_pages_dir: Path, tmp_path: Path) -> None:
    from sdk.tools.synth import render_pages

    feeds = [{"x": preprocess(im, det_mnn.spec)[0]} for im in render_pages(8, HELDOUT_SEED)]
    ref = _run(det_mnn, det_mnn.path, feeds)
    best = (0.0, 0.0, "")
    head = mnn_op_names(det_mnn.path)[-3:]  # the DB head: conv + 2 deconvs
    variants: dict[str, tuple[str, list[str]]] = {
        "kl": ("kl", []),
        "ema": ("ema", []),
        "kl+float-head": ("kl", head),
    }
    for name, (method, skip) in variants.items():
        try:
            q = _quantize(det_mnn, calib_pages_dir, tmp_path / name.replace("+", "_"), method, skip=skip)
        except QuantizeError as exc:  # a crash is a finding, one line
            assert "\n" not in str(exc)
            _record(f"det{DET_SIZE}/{name}", crashed=1.0)
            continue
        got = _run(det_mnn, q, feeds)
        cos = float(np.mean([M.cosine(a, b) for a, b in zip(ref, got, strict=True)]))
        iou = float(np.mean([M.mask_iou(a, b) for a, b in zip(ref, got, strict=True)]))
        _record(
            f"det{DET_SIZE}/{name}",
            cosine=cos,
            mask_iou=iou,
            int8_bytes=q.stat().st_size,
            fp32_bytes=det_mnn.path.stat().st_size,
        )
        if (cos, iou) > best[:2]:
            best = (cos, iou, name)
        if name == "kl":
            _worst_layers(det_mnn, q, feeds[0])
    _known_miss(
        best[0] >= 0.99 and best[1] >= 0.95,
        f"det best ({best[2]}) cosine {best[0]:.4f} / mask IoU {best[1]:.4f} < 0.99 / 0.95",
    )
    res = _sdk_reports_miss(det_model, det_mnn, calib_pages_dir, tmp_path / "sdk", budget=0.99)
    assert not res.margin_outputs  # a sigmoid map: the plain cosine


def _worst_layers(model: Fp32Mnn, q: Path, feed: dict[str, np.ndarray], n: int = 5) -> None:
    """Per-layer cosine (fp32 vs int8) of each convolution's output; print the n worst."""
    names = [o.outputs[0] for o in mnn_ops(model.path) if o.quantizable]
    a = dump_mnn_tensors(model.path, feed, names)
    b = dump_mnn_tensors(q, feed, names)
    cos = {k: M.cosine(a[k], b[k]) for k in names}
    worst = sorted(cos.items(), key=lambda kv: kv[1])[:n]
    print("\n[mnn-int8] det worst layers: " + ", ".join(f"{k}={v:.4f}" for k, v in worst))


def test_dump_mnn_tensors_matches_outputs(cls_mnn: Fp32Mnn) -> None:
    from sdk.tools.synth import render_text_lines

    feed = {"x": preprocess(render_text_lines(1, 9)[0], cls_mnn.spec)[0]}
    convs = [o.outputs[0] for o in mnn_ops(cls_mnn.path) if o.quantizable]
    names = [*convs[:3], cls_mnn.output_name]
    got = dump_mnn_tensors(cls_mnn.path, feed, names)
    assert list(got) == names
    np.testing.assert_allclose(
        got[cls_mnn.output_name].reshape(-1),
        _run(cls_mnn, cls_mnn.path, [feed])[0].reshape(-1),
        rtol=1e-5,
        atol=1e-6,
    )


# --- nothing installed, no network ------------------------------------------------------------


def test_quantizing_installs_nothing_and_opens_no_socket(
    cls_mnn: Fp32Mnn, cls_model: Path, calib_lines_dir: Path, tmp_path: Path
) -> None:
    before = site_state()
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from sdk.quantize.calib import load_calibration
        from sdk.engines.mnn.quantizer import quantize_mnn
        from sdk.engines.mnn.tools import mnn_op_names
        from sdk.tools.synth import PPOCR_SPECS
        feeds = load_calibration(
            Path({str(calib_lines_dir)!r}), "x", (1, 3, 48, 192), PPOCR_SPECS["cls"], limit=5
        )
        q = quantize_mnn(Path({str(cls_mnn.path)!r}), feeds, Path({str(tmp_path / "q")!r}),
                         input_name="x", input_shape=(1, 3, 48, 192))
        assert mnn_op_names(q)
        # the SDK's own MNN int8 (statistics, probe run, converter with our params)
        from sdk.convert import prepare
        from sdk.engines.mnn.params import calibrate_mnn, count_int8_convs, write_mnn_int8
        prep = prepare(Path({str(cls_model)!r}), Path({str(tmp_path / "p")!r}), {{"x": (1, 3, 48, 192)}})
        cal = calibrate_mnn(Path({str(cls_mnn.path)!r}), feeds, ["x"], onnx_path=prep.path,
                            workdir=Path({str(tmp_path / "probe")!r}))
        ours, done = write_mnn_int8(prep.path, cal, Path({str(tmp_path / "ours")!r}))
        assert count_int8_convs(ours) == len(done) > 20
        bad = sorted(m for m in sys.modules if m.startswith("MNN.tools"))
        assert not bad, bad
        print("OK", q.name, ours.name)
        """
    )
    proc, events = run_audited(code, tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "OK model.int8.mnn model.int8.mnn" in proc.stdout
    assert_offline(events, child="mnnquant")  # the child was audited
    assert site_state() == before
