"""Code that runs on the board imports only stdlib, numpy, the engines and sdk._kernels.

The board's code is what the bundle ships under ``runtime/`` (:func:`sdk.bundle.board_modules`):
the runner, the records package, the runner base class and each engine's runner. It may import the
SDK's own modules only where those ship too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np

from sdk.bundle import _write_runtime, board_modules

SDK = Path(__file__).parents[1] / "sdk"
ALLOWED_THIRD_PARTY = {"numpy", "ncnn", "MNN"}


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:`` (never executed, on the board or not)."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return out


def imported_modules(path: Path) -> set[str]:
    mods: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            mods |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            mods.add(node.module)
            if node.module == "sdk":
                mods |= {f"sdk.{a.name}" for a in node.names}
    return mods


def _module_name(rel: str) -> str:
    return rel.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def test_board_code_imports_only_what_the_board_has() -> None:
    files = board_modules()
    shipped = {_module_name(rel) for _, rel in files}
    # the runner, the records and every engine's runner at least
    assert {"sdk.device.runner", "sdk.device.metrics", "sdk.records", "sdk.engines.base",
            "sdk.engines.ncnn.runner", "sdk.engines.mnn.runner"} <= shipped
    allowed_sdk = shipped | {"sdk", "sdk._kernels", "sdk.device", "sdk.engines"}
    bad = {}
    for src, rel in files:
        for mod in imported_modules(src):
            assert not mod.startswith("MNN.tools"), f"{rel} imports {mod}"  # it runs pip and phones home
            top = mod.split(".")[0]
            if top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY or top == "__future__":
                continue
            if mod in allowed_sdk:
                continue
            bad.setdefault(rel, []).append(mod)
    assert not bad, f"board code imports what the board does not have: {bad}"


def test_every_device_and_records_module_ships() -> None:
    """sdk.device and the sdk.records package import their sibling modules: all must ship."""
    shipped = {src for src, _ in board_modules()}
    assert set((SDK / "device").glob("*.py")) | set((SDK / "records").glob("*.py")) <= shipped


def test_shipped_runtime_imports_on_its_own(tmp_path: Path) -> None:
    """The bundle's runtime/ alone, as the board gets it, imports its entry points and the
    records package: no sibling module left behind. ``-S``: no site-packages (nor the
    editable install's finder), only numpy's directory after the runtime."""
    _write_runtime(tmp_path, [])
    rt = tmp_path / "runtime"
    mods = ["sdk.records", "sdk.device.runner", "sdk.device.bench", "sdk.device.app", "sdk.device.tasks"]
    code = (f"import sys; sys.path[:0] = [{str(rt)!r}, {str(Path(np.__file__).parents[1])!r}]; "
            f"import importlib; ms = [importlib.import_module(m) for m in {mods!r}]; "
            "print(sorted({m for m in sys.modules if m.startswith('sdk.')})); "
            f"assert all(m.__file__.startswith({str(rt)!r}) for m in ms), [m.__file__ for m in ms]")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = set(ast.literal_eval(out.stdout.strip()))
    assert {"sdk.records.manifest", "sdk.records.profiling", "sdk.device.similarity",
            "sdk.device.detections"} <= loaded, loaded


def test_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    f = tmp_path / "x.py"
    f.write_text("import onnxruntime\nfrom sdk.convert import prepare\nif TYPE_CHECKING:\n    import onnx\n"
                 "def f():\n    import cv2\n")
    mods = imported_modules(f)
    assert {"onnxruntime", "sdk.convert", "cv2"} <= mods and "onnx" not in mods
