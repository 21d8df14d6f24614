"""`sdk report` on real runs: two benches of the real classifier on the emulated rk3399 compare
as "no significant change", a planted slowdown and a planted output change are flagged, the
HTML page draws, deploys land in the history too, and an engine-version A/B runs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_util import run_cli
from test_report import plot_pixels, screenshot

from sdk.boards import BoardEntry
from sdk.report.compare import EXIT_ACCURACY, EXIT_OK, EXIT_SLOWER

BENCH = ("--engine", "ncnn", "--runs", "30", "--warmup", "2", "--settle", "0", "--cores", "0",
         "--input-shape", "x=1,3,48,192", "-q")


def _compare(a: str, b: str, *extra: str) -> tuple[int, dict, str]:
    r = run_cli("report", "compare", a, b, "--json", *extra)
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    text = run_cli("report", "compare", a, b, *extra)
    assert text.returncode == r.returncode, (text.stdout, text.stderr)
    return r.returncode, json.loads(r.stdout), text.stdout


@pytest.mark.emulated
@pytest.mark.slow
def test_two_bench_runs_compare_and_a_planted_slowdown_is_flagged(
    emulated_board: BoardEntry, cls_model: Path, tmp_path: Path
) -> None:
    sel = ("--model", cls_model.name, "--board", emulated_board.name)
    for _ in range(2):
        r = run_cli("bench", str(cls_model), "--board", emulated_board.name, *BENCH)
        assert r.returncode == 0, r.stderr[-3000:]
    listed = json.loads(run_cli("report", "list", *sel, "--json").stdout)
    assert [e["kind"] for e in listed[:2]] == ["bench", "bench"]
    # the same configuration twice: no regression, the outputs agree exactly. The threshold is
    # wide because QEMU shares the host's cores: with other work on them, two identical runs
    # were seen 25% apart (a real board on its own keeps to the default 10%)
    code, doc, text = _compare("last~1", "last", *sel, "--threshold", "60")
    assert code == EXIT_OK, text
    (change,) = doc["changes"]
    assert change["label"] == "ncnn fp32 2t 0" and not change["regressed"]
    assert change["agreement"] and min(change["agreement"].values()) > 0.999999
    assert "no regression" in text and "95% CI" in text and "threshold 60%" in text
    # a planted 2x slowdown of the newer run, against that run itself
    last = Path(doc["files"][1])
    slow = json.loads(last.read_text())
    for res in slow["results"]:
        res["samples_ms"] = [2 * x for x in res["samples_ms"]]
    slow_file = tmp_path / "slow.json"
    slow_file.write_text(json.dumps(slow))
    code, doc, text = _compare(str(last), str(slow_file))
    assert code == EXIT_SLOWER, text
    assert doc["changes"][0]["speed"]["ratio"] == pytest.approx(2.0, rel=0.1) and "SLOWER" in text
    # a planted output change: the class scores swapped
    bad = json.loads(last.read_text())
    for res in bad["results"]:
        for out in res["output_sample"].values():
            out["values"] = list(reversed(out["values"]))
    bad_file = tmp_path / "bad.json"
    bad_file.write_text(json.dumps(bad))
    code, doc, text = _compare(str(last), str(bad_file))
    assert code == EXIT_ACCURACY and "ACCURACY DROP" in text, text
    # the page of both runs, with its comparison, drawn in a real Chromium
    page = tmp_path / "report.html"
    r = run_cli("report", "html", "last~1", "last", *sel, "-o", str(page))
    assert r.returncode == 0 and page.is_file(), r.stderr
    assert "comparison" in page.read_text().lower()
    png = tmp_path / "report.png"
    log = screenshot(page, png)
    assert "CONSOLE" not in log and "Failed to load" not in log, log[-2000:]
    n, bands = plot_pixels(png)
    assert n > 1000 and len(bands) >= 3, (n, bands)  # the dots of every sample, in three plots


@pytest.mark.emulated
@pytest.mark.slow
def test_deploys_land_in_the_history_with_their_samples_and_outputs(
    emulated_board: BoardEntry, cls_model: Path, tmp_path: Path
) -> None:
    page = tmp_path / "deploy.html"
    r = run_cli("deploy", str(cls_model), "--board", emulated_board.name, "--engine", "mnn", "--runs", "12",
                "--input-shape", "x=1,3,48,192", "-q", "--html", str(page))
    assert r.returncode == 0, r.stderr[-3000:]
    assert page.is_file() and "mnn fp32" in page.read_text()
    listed = json.loads(run_cli("report", "list", "--model", cls_model.name, "--json").stdout)
    assert listed[0]["kind"] == "deploy" and listed[0]["board"] == emulated_board.name
    doc = json.loads(Path(listed[0]["path"]).read_text())
    (res,) = doc["device"]["results"]
    assert len(res["samples_ms"]) == 12 and all(x > 0 for x in res["samples_ms"])
    (out,) = res["output_sample"].values()
    assert out["shape"] == [1, 2] and len(out["values"]) == 2
    # a deploy compares with the previous deploy of the same model and board
    r = run_cli("deploy", str(cls_model), "--board", emulated_board.name, "--engine", "mnn", "--runs", "12",
                "--input-shape", "x=1,3,48,192", "-q")
    assert r.returncode == 0, r.stderr[-3000:]
    code, cmp, text = _compare("last~1", "last", "--model", cls_model.name, "--board", emulated_board.name)
    assert cmp["changes"][0]["label"].startswith("mnn fp32") and code in (EXIT_OK, EXIT_SLOWER), text
    assert min(cmp["changes"][0]["agreement"].values()) > 0.999999


@pytest.mark.emulated
@pytest.mark.slow
def test_engine_version_ab_on_one_board(emulated_board: BoardEntry, cls_model: Path, tmp_path: Path) -> None:
    """MNN 3.6.0 against 3.6.1 (the host's) on the board: both run the host's conversion."""
    old, new = "3.6.0", "3.6.1"
    out = tmp_path / "ab.json"
    bench = [a if a != "ncnn" else "mnn" for a in BENCH]
    r = run_cli("bench", str(cls_model), "--board", emulated_board.name, *bench,
                "--engine-version", f"mnn={old},{new}", "--out", str(out))
    assert r.returncode in (EXIT_OK, EXIT_SLOWER), r.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["kind"] == "bench-ab" and doc["versions"] == {"mnn": [old, new]}
    # each side really ran its own release on the board
    assert doc["a"]["fingerprint"]["platform"]["MNN"] == old
    assert doc["b"]["fingerprint"]["platform"]["MNN"] == new
    cmp = doc["comparison"]
    assert cmp["fingerprint"]["MNN"] == [old, new]
    assert cmp["exit_code"] == r.returncode
    (change,) = cmp["changes"]
    assert change["speed"]["median_a"] > 0 and min(change["agreement"].values()) > 0.999
    assert f"mnn {new} against mnn {old}" in r.stdout and "fingerprint: MNN" in r.stdout


def test_a_failing_side_is_not_a_silent_pass() -> None:
    """The older release that cannot load the model (ncnn 1.0.20260526 on pnnx's Reshape
    expressions, seen on the emulated board) makes the comparison say so."""
    from test_report import _doc

    from sdk.report.compare import compare

    ok = _doc([20.0, 21.0, 19.5], [1.0, 2.0])
    failed = _doc([], [], ok=False)
    failed["results"][0]["error"] = "RuntimeError: ncnn failed to load the param file"
    back = compare(failed, ok).changes[0]
    assert back.verdict == "A failed its golden check; B passes" and not back.accuracy_drop
    worse = compare(ok, failed)
    assert worse.exit_code == EXIT_ACCURACY and "failed to load" in worse.changes[0].accuracy_drop[0]
    both = compare(failed, failed)
    assert both.exit_code == EXIT_ACCURACY and "neither run" in both.changes[0].accuracy_drop[0]
