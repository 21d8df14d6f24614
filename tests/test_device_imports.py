"""Code that runs on the board imports only stdlib, numpy, the engines and sdk._kernels."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

DEVICE = Path(__file__).parents[1] / "sdk" / "device"
ALLOWED_THIRD_PARTY = {"numpy", "ncnn", "MNN"}
ALLOWED_SDK = ("sdk.device", "sdk._kernels")


def imported_modules(path: Path) -> set[str]:
    mods: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            mods |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            mods.add(node.module)
            if node.module == "sdk":
                mods |= {f"sdk.{a.name}" for a in node.names}
    return mods


def test_device_code_imports_only_what_the_board_has() -> None:
    files = sorted(DEVICE.glob("*.py"))
    assert len(files) >= 3  # runner, engines, metrics at least
    bad = {}
    for f in files:
        for mod in imported_modules(f):
            top = mod.split(".")[0]
            if top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY or top == "__future__":
                continue
            if mod == "sdk" or mod.startswith(ALLOWED_SDK):
                continue
            bad.setdefault(f.name, []).append(mod)
    assert not bad, f"device code imports what the board does not have: {bad}"


def test_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    f = tmp_path / "x.py"
    f.write_text("import onnxruntime\nfrom sdk.convert import prepare\n")
    mods = imported_modules(f)
    assert "onnxruntime" in mods and "sdk.convert" in mods
