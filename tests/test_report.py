"""`sdk report`: history, compare with a CI verdict, and the HTML page in a real Chromium."""

from __future__ import annotations

import copy
import json
import multiprocessing
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from cli_util import one_error_line, run_cli

from sdk.report import history
from sdk.report.compare import EXIT_ACCURACY, EXIT_BOTH, EXIT_OK, EXIT_SLOWER, compare


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own history (the rootfs and wheels are not needed here)."""
    d = tmp_path / "cache"
    monkeypatch.setenv("SDK_CACHE_DIR", str(d))
    return d


def _doc(samples: list[float], outputs: list[float], sha: str = "ab" * 32, ok: bool = True) -> dict:
    return {
        "kind": "bench",
        "model": "m.onnx",
        "model_sha256": sha,
        "created": "x",
        "board": {"name": "b1", "profile": "rk3399", "emulated": False},
        "fingerprint": {"sdk": "0.1.0", "platform": {"ncnn": "1.0.1"}},
        "results": [
            {
                "config": {"engine": "ncnn", "precision": "fp32", "threads": 2, "cores": "big"},
                "ok": ok,
                "samples_ms": samples,
                "summary": {"p50": float(np.median(samples)), "ci_low": 0, "ci_high": 0, "p90": 0, "p99": 0},
                "output_sample": {"y": {"size": len(outputs), "stride": 1, "values": outputs}},
            }
        ],
    }


def test_compare_flags_a_planted_slowdown_and_an_accuracy_drop() -> None:
    rng = np.random.default_rng(0)
    base = list(20 + rng.standard_normal(40))
    out = list(rng.standard_normal(100))
    a = _doc(base, out)
    same = compare(a, _doc(list(20 + rng.standard_normal(40)), out))
    assert same.exit_code == EXIT_OK and same.changes[0].verdict == "no significant change"
    slow = compare(a, _doc([2 * x for x in base], out))
    assert slow.exit_code == EXIT_SLOWER and slow.changes[0].regressed
    assert slow.changes[0].speed is not None and slow.changes[0].speed["ratio"] == pytest.approx(2, rel=0.02)
    bad = list(rng.standard_normal(100))
    drop = compare(a, _doc(base, bad))
    assert drop.exit_code == EXIT_ACCURACY and "cosine" in drop.changes[0].accuracy_drop[0]
    assert compare(a, _doc([2 * x for x in base], bad)).exit_code == EXIT_BOTH
    failed = compare(a, _doc(base, out, ok=False))
    assert failed.exit_code == EXIT_ACCURACY and "golden check" in failed.changes[0].accuracy_drop[0]
    small = compare(a, _doc([1.05 * x for x in base], out))  # significant, within the 10% threshold
    assert small.exit_code == EXIT_OK and "within the 10% threshold" in small.changes[0].verdict
    assert compare(a, _doc([1.05 * x for x in base], out), threshold_pct=2).exit_code == EXIT_SLOWER


def _write(i: int) -> None:
    for k in range(15):
        history.record(_doc([float(i), float(k)], [1.0]))


def test_history_survives_concurrent_writers(own_cache: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write, args=(i,)) for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert all(p.exitcode == 0 for p in procs)
    found = history.entries()
    assert len(found) == 30 and all(history.load(e.path)["results"] for e in found)
    assert history.resolve("last") == found[0].path and history.resolve("last~29") == found[-1].path


def test_one_line_errors(tmp_path: Path) -> None:
    assert "history is empty" in one_error_line(run_cli("report", "compare", "last~1", "last"))
    assert "history is empty" in one_error_line(run_cli("report", "list"))
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": 1}')
    assert "is not a result" in one_error_line(run_cli("report", "compare", str(junk), str(junk)))
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_doc([1.0, 2.0], [1.0])))
    b.write_text(json.dumps(_doc([1.0, 2.0], [1.0], sha="cd" * 32)))
    assert "different models" in one_error_line(run_cli("report", "compare", str(a), str(b)))
    history.record(_doc([1.0], [1.0]))
    assert "holds 1 result" in one_error_line(run_cli("report", "compare", "last~1", "last"))


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "chromium is not installed: scripts/setup.sh installs it"
    return exe


def screenshot(page: Path, png: Path, height: int = 3000) -> str:
    """Render ``page`` in headless Chromium; its console log."""
    proc = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            f"--screenshot={png}",
            f"--window-size=1200,{height}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and png.is_file(), proc.stderr[-2000:]
    return proc.stderr


def plot_pixels(png: Path) -> tuple[int, list[int]]:
    """Pixels of the plots' own colours, and the rows (per 100 px band) that hold them."""
    from PIL import Image

    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    ours = np.zeros(img.shape[:2], bool)
    for hexc in ("1f77b4", "ff7f0e", "2ca02c"):
        rgb = np.array([int(hexc[i : i + 2], 16) for i in (0, 2, 4)])
        ours |= np.abs(img - rgb).sum(axis=2) < 30
    bands = sorted({int(y) // 100 for y in np.nonzero(ours)[0]})
    return int(ours.sum()), bands


def bench_doc(samples_scale: float = 1.0) -> dict:
    rng = np.random.default_rng(1)
    doc = _doc([], [1.0, 2.0])
    res = doc["results"][0]
    doc["results"] = []
    for prec in ("fp32", "int8"):
        for t in (1, 2, 4):
            r = copy.deepcopy(res)
            s = list(samples_scale * (30 / t**0.5 * (0.6 if prec == "int8" else 1) + rng.standard_normal(30)))
            r["config"] = {"engine": "ncnn", "precision": prec, "threads": t, "cores": "big"}
            r["samples_ms"] = s
            r["summary"] = {
                "p50": float(np.median(s)),
                "ci_low": float(np.median(s)) - 0.5,
                "ci_high": float(np.median(s)) + 0.5,
                "p90": max(s),
                "p99": max(s),
            }
            r["layers"] = [{"name": f"conv{i}", "type": "Convolution", "ms": 5.0 / (i + 1)} for i in range(8)]
            r["frame"] = {
                "frame": {"mean": 12.0},
                "stages": {
                    k: {"mean": v, "share": v / 12}
                    for k, v in (("preprocess", 1.0), ("inference", 10.0), ("postprocess", 1.0))
                },
            }
            r["clocks"] = [
                {"t": i * 0.5, "freq_khz": {"4": 1800000 - 100000 * (i > 5)}, "temp_c": {"soc": 40 + i}}
                for i in range(12)
            ]
            doc["results"].append(r)
    doc["verdict"] = {"lines": ["fastest passing: ncnn int8 4t big"]}
    return doc


def test_html_opens_in_chromium_with_its_plots_drawn(tmp_path: Path) -> None:
    from sdk.report.html import write_html

    page = write_html([("last~1", bench_doc()), ("last", bench_doc(2.0))], tmp_path / "r.html")
    text = page.read_text()
    assert "http://" not in text and "https://" not in text  # nothing fetched: self-contained
    assert text.count("data:image/png;base64,") >= 8 and "Comparison: last against last~1" in text
    log = screenshot(page, tmp_path / "r.png")
    assert "CONSOLE" not in log and "Failed to load" not in log, log[-2000:]
    n, bands = plot_pixels(tmp_path / "r.png")
    assert n > 20000 and len(bands) >= 8, (n, bands)  # plots drawn all down the page
    blank = write_html([("x", {**_doc([], []), "results": []})], tmp_path / "blank.html")
    screenshot(blank, tmp_path / "blank.png", height=800)
    assert plot_pixels(tmp_path / "blank.png")[0] == 0  # the check can fail: no plots, no plot pixels
