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
