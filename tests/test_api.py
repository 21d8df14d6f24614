"""The README's Python API: `sdk.deploy`, `sdk.convert`, `sdk.quantize`, `sdk.bench` are the
functions of sdk.api (and still the modules of those names), every keyword the README passes
exists, and the typed form type-checks. `sdk.deploy(...)` and `sdk.bench(...)` run on the
emulated board in the fault suites (tests/test_faults.py, tests/test_faults_bench.py)."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import sdk
import sdk.api

README = Path(__file__).resolve().parents[1] / "README.md"


def api_blocks() -> list[str]:
    """The indented code blocks of the README's "Python API" section."""
    text = README.read_text().split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    blocks, cur = [], []
    for line in text.splitlines():
        if line.startswith("    ") or (cur and not line.strip()):
            cur.append(line[4:])
        elif cur:
            blocks.append("\n".join(cur).strip() + "\n")
            cur = []
    return blocks + (["\n".join(cur).strip() + "\n"] if cur else [])


def test_readme_calls_are_the_api_functions_with_real_options() -> None:
    from sdk.bench import BenchOptions
    from sdk.deploy import DeployOptions

    calls = re.findall(r"sdk\.(\w+)\((.*?)\)\s", api_blocks()[0])
    assert {name for name, _ in calls} == {"deploy", "convert", "quantize", "bench"}
    fields = {"deploy": DeployOptions, "bench": BenchOptions}
    for name, args in calls:
        fn = getattr(sdk, name)
        assert callable(fn) and inspect.signature(fn) == inspect.signature(getattr(sdk.api, name))
        params = set(inspect.signature(fn).parameters)
        known = params | ({f.name for f in dataclasses.fields(fields[name])} if name in fields else set())
        if name == "quantize":
            known |= {"method", "per_channel", "budget", "analyze", "limit", "max_fp32_layers", "spec"}
        used = set(re.findall(r"(\w+)=", args))
        assert used <= known, (name, used - known)
    # and still the modules, for `from sdk.deploy import DeployOptions` and `sdk.convert.prepare`
    assert importlib.import_module("sdk.deploy") is sdk.deploy and sdk.deploy.DeployOptions is DeployOptions
    assert sdk.convert.prepare is importlib.import_module("sdk.convert").prepare


def test_readme_typed_form_type_checks(tmp_path: Path) -> None:
    typed = next(b for b in api_blocks() if "from sdk.api import" in b)
    script = tmp_path / "typed_use.py"
    script.write_text(typed + "reveal_type(report)\n")
    env = {**os.environ, "MYPYPATH": str(README.parent)}
    r = subprocess.run([sys.executable, "-m", "mypy", "--follow-imports=silent", str(script)],
                       capture_output=True, text=True, env=env, cwd=README.parent, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'Revealed type is "sdk.report.DeployReport"' in r.stdout


@pytest.mark.slow
def test_api_convert_on_host(tiny_classifier: Path, tmp_path: Path) -> None:
    """sdk.convert's ncnn model answers a fresh input as onnxruntime does."""
    import numpy as np
    import onnxruntime as ort

    from sdk.engines.base import open_runner

    results = sdk.convert(tiny_classifier, engines="ncnn", out_dir=tmp_path / "out")
    assert set(results) == {"ncnn"} and results["ncnn"].ok, results["ncnn"].error
    model = results["ncnn"].model
    assert model is not None and all(f.is_file() for f in model.files)
    x = np.random.default_rng(7).standard_normal((1, 3, 32, 32)).astype(np.float32)
    want = ort.InferenceSession(str(tiny_classifier)).run(None, {"input": x})[0].ravel()
    runner = open_runner("ncnn", model.model_dir, model.meta, 1)
    got = next(iter(runner.run({"input": x}).values())).ravel()
    runner.close()
    cos = float(np.dot(want, got) / (np.linalg.norm(want) * np.linalg.norm(got)))
    assert cos > 0.9999 and int(np.argmax(got)) == int(np.argmax(want)), (cos, got, want)
