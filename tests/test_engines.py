"""The engine registry: one list of engines, one folder per engine, one runner per engine."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import numpy as np
import pytest

from sdk import engines
from sdk.engines.base import Backend, Capabilities, InputMismatch, Runner, open_runner
from sdk.errors import SdkError

ENGINES_DIR = Path(engines.__file__).parent
SDK_DIR = ENGINES_DIR.parent
# What every engine folder holds (see sdk/engines/base.py)
REQUIRED = ("__init__.py", "runner.py", "convert.py", "int8.py")


def test_every_engine_folder_is_registered_and_complete() -> None:
    folders = sorted(p.name for p in ENGINES_DIR.iterdir() if (p / "__init__.py").is_file())
    assert sorted(engines.names()) == folders == ["mnn", "ncnn"]
    for name in folders:
        for f in REQUIRED:
            assert (ENGINES_DIR / name / f).is_file(), f"sdk/engines/{name}/{f} is missing"
        backend = importlib.import_module(f"sdk.engines.{name}").BACKEND
        assert isinstance(backend, Backend) and backend is engines.get(name)
        assert isinstance(backend.caps, Capabilities) and backend.caps.name == name
        assert set(backend.caps.arches) <= {"aarch64", "armv7"} and backend.caps.precisions
        runner = importlib.import_module(f"sdk.engines.{name}.runner").RUNNER
        assert issubclass(runner, Runner) and runner.engine == name
        assert all(p.is_file() for p in backend.conversion_code())


def test_the_engine_list_is_written_in_one_place() -> None:
    """No module but the registry spells out the engine names as a list or tuple."""
    names = set(engines.names())
    offenders = []
    for py in sorted(SDK_DIR.rglob("*.py")):
        if py == ENGINES_DIR / "__init__.py":
            continue
        for node in ast.walk(ast.parse(py.read_text())):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                consts = {e.value for e in node.elts
                          if isinstance(e, ast.Constant) and isinstance(e.value, str)}
                if names <= consts:
                    offenders.append(f"{py.relative_to(SDK_DIR)}:{node.lineno}")
    assert not offenders, f"engine lists outside the registry: {offenders}"


def test_choices_and_arches_come_from_capabilities() -> None:
    assert engines.choices() == ("ncnn", "mnn", "all")
    assert engines.for_arch("aarch64") == ("ncnn", "mnn")
    assert engines.for_arch("armv7") == ("ncnn",)  # MNN has no armv7 wheel
    assert engines.select("all", "armv7") == ["ncnn"]
    assert engines.select("mnn", "aarch64") == ["mnn"]
    with pytest.raises(SdkError, match="no build for armv7"):
        engines.select("mnn", "armv7", board="rv1126")
    with pytest.raises(SdkError, match="did you mean 'ncnn'"):
        engines.get("ncn")


def test_open_runner_refuses_unknown_engines(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown engine 'tflite'"):
        open_runner("tflite", tmp_path, {})
    with pytest.raises(ValueError, match="bad engine name"):
        open_runner("../x", tmp_path, {})


@pytest.mark.parametrize("engine", ["ncnn", "mnn"])
def test_runner_is_a_context_manager_that_checks_its_feeds(engine: str, tiny_classifier: Path,
                                                           tmp_path: Path) -> None:
    import sdk.convert as C

    prepared = C.prepare(tiny_classifier, tmp_path / "prep")
    model = C.convert_engine(engine, prepared, tmp_path / engine)
    name = prepared.inputs[0].name
    x = np.random.default_rng(0).standard_normal(prepared.inputs[0].shape).astype(np.float32)
    with engines.open_runner(engine, model.model_dir, model.meta) as runner:
        out = runner.run({name: x})
        assert set(out) == {t.name for t in prepared.outputs}
        with pytest.raises(InputMismatch, match="wrong shape"):
            runner.run({name: x[..., :-1]})
        with pytest.raises(InputMismatch, match="missing inputs"):
            runner.run({})
        blob = model.meta["outputs"][0]["blob"]
        inner = runner.tensors({name: x}, [blob])[blob]  # intermediate tensors by engine name
        assert inner.size == out[prepared.outputs[0].name].size
        np.testing.assert_allclose(inner.ravel(), out[prepared.outputs[0].name].ravel(), rtol=1e-5, atol=1e-6)
