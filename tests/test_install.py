"""`pip install .` in a clean venv gives a working `sdk` that converts for ncnn, with pnnx
fetched into the SDK cache (without torch) on first use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_pip_install_in_clean_venv_converts_for_ncnn(tiny_classifier: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["SDK_CACHE_DIR"] = str(tmp_path / "cache")  # a fresh cache: pnnx is not there yet
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(REPO)], capture_output=True,
                         text=True, timeout=2400, env=env, cwd=tmp_path)
    assert pip.returncode == 0, pip.stderr[-3000:]
    py = str(venv / "bin" / "python")
    probe = subprocess.run([py, "-c", "import importlib.util as u, sdk; "
                            "print(sdk.__file__, u.find_spec('torch') is None, u.find_spec('pnnx') is None)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    where, no_torch, no_pnnx = probe.stdout.split()
    assert where.startswith(str(venv)) and no_torch == "True" and no_pnnx == "True", probe.stdout

    r = subprocess.run([str(venv / "bin" / "sdk"), "convert", str(tiny_classifier), "--engine", "ncnn",
                        "--out", str(tmp_path / "out"), "--json"], capture_output=True, text=True,
                       env=env, cwd=tmp_path, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    assert doc["results"]["ncnn"]["ok"] is True, doc["results"]["ncnn"]
    assert "installing the pnnx converter" in r.stderr
    assert (tmp_path / "cache" / "tools" / "pnnx" / "pnnx" / "pnnx").is_file()
    assert subprocess.run([py, "-c", "import importlib.util as u; assert u.find_spec('torch') is None"],
                          env=env, timeout=120).returncode == 0
