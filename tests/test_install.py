"""`pip install .` in a clean venv gives a working `sdk` that converts for ncnn, with pnnx
fetched into the SDK cache (without torch) on first use, or ahead of it by `sdk doctor --fix`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clean_venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A fresh venv with the SDK `pip install .`-ed, and the environment to run it in."""
    where = tmp_path_factory.mktemp("install")
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(REPO)], capture_output=True,
                         text=True, timeout=2400, env=env, cwd=where)
    assert pip.returncode == 0, pip.stderr[-3000:]
    return venv, env


@pytest.mark.slow
def test_pip_install_in_clean_venv_converts_for_ncnn(clean_venv: tuple[Path, dict[str, str]],
                                                     tiny_classifier: Path, tmp_path: Path) -> None:
    venv, env = clean_venv
    env = {**env, "SDK_CACHE_DIR": str(tmp_path / "cache")}  # a fresh cache: pnnx is not there yet
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


def _doctor(venv: Path, env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str],
                                                                  dict[str, dict[str, Any]]]:
    r = subprocess.run([str(venv / "bin" / "sdk"), "doctor", "--json", *args], capture_output=True,
                       text=True, env=env, timeout=1200)
    checks = {c["name"]: c for c in json.loads(r.stdout)}
    assert r.returncode == (0 if all(c["ok"] for c in checks.values()) else 1), (r.returncode, r.stderr)
    return r, checks


@pytest.mark.slow
def test_doctor_fix_provisions_pnnx_into_a_fresh_cache(clean_venv: tuple[Path, dict[str, str]],
                                                       tmp_path: Path) -> None:
    venv, env = clean_venv
    cache = tmp_path / "fresh-cache"
    env = {**env, "SDK_CACHE_DIR": str(cache)}
    exe = cache / "tools" / "pnnx" / "pnnx" / "pnnx"

    r, checks = _doctor(venv, env)  # missing, with the fix that --fix applies
    pnnx = checks["pnnx (ncnn converter)"]
    assert pnnx["ok"] is False and pnnx["found"] == "not installed", pnnx
    assert pnnx["fixable"] is True and pnnx["fix"].startswith("sdk doctor --fix"), pnnx
    assert r.returncode == 1 and "'sdk doctor --fix' applies those of pnnx (ncnn converter)" in r.stderr
    assert checks["MNN converter"]["fixable"] is False  # pip on the user's environment: never
    assert not exe.exists()

    r, checks = _doctor(venv, env, "--fix")
    assert "fixing pnnx (ncnn converter)" in r.stderr and "installing the pnnx converter" in r.stderr
    assert checks["pnnx (ncnn converter)"]["ok"] is True, checks["pnnx (ncnn converter)"]
    assert checks["pnnx (ncnn converter)"]["found"] == str(exe)
    version = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert "pnnx" in (version.stdout + version.stderr).lower()

    r, checks = _doctor(venv, env)  # a second look finds it, without fixing anything
    assert checks["pnnx (ncnn converter)"]["ok"] is True and "fixing" not in r.stderr
