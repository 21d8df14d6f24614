"""`sdk bench` on the emulated rk3399 over real SSH: a sweep, per-layer and per-stage times."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_util import one_error_line, run_cli

from sdk.bench import BenchOptions, bench, parse_cpus
from sdk.boards import BoardEntry
from sdk.device.preprocess import ImageSpec
from sdk.report import Steps

CLS_SHAPE = {"x": (1, 3, 48, 192)}
CLS_PRE = "size=192x48,color=bgr,mean=127.5,norm=0.0078431"  # what the NEON kernel does


@pytest.mark.emulated
@pytest.mark.slow
def test_sweep_of_threads_and_core_sets(emulated_board: BoardEntry, cls_model: Path, tmp_path: Path) -> None:
    """QEMU shows the host's cpus (0 and 1 here): the core sets are cpu lists of those."""
    opts = BenchOptions(engine="all", threads=(1, 2), cores=("0", "0,1"), runs=8, warmup=1, layers=True,
                        settle_s=1, input_shapes=CLS_SHAPE, preprocess=ImageSpec.parse(CLS_PRE),
                        report_dir=tmp_path)
    rep = bench(cls_model, emulated_board.name, opts, steps=Steps(quiet=True))
    results = rep.run.results
    got = sorted((r.config.engine, r.config.threads, r.config.cores) for r in results)
    assert got == sorted((e, t, c) for e in ("ncnn", "mnn") for t in (1, 2) for c in ("0", "0,1"))
    for r in results:
        assert r.ok, (r.config.label, r.error)
        assert r.cpus_used == parse_cpus(r.config.cores)  # the cpus asked for
        assert set(r.thread_cpus) <= set(r.cpus_used), (r.config.label, r.thread_cpus)
        s = r.summary
        assert s is not None and s.n == len(r.samples_ms) >= 8 and s.ci_low <= s.p50 <= s.ci_high
        assert r.load_ms and r.first_ms and r.peak_rss_mb is not None and r.peak_rss_mb > 0
        assert r.golden and all(o.cosine is not None and o.cosine >= 0.999 for o in r.golden)
        assert r.clocks and r.overhead and r.overhead["bare_ms"] > 0
        # per-layer rows with their type, for both engines
        assert r.layers and all(x.ms >= 0 and x.type for x in r.layers) and r.layer_method
        assert {x.type for x in r.layers} & {"Convolution", "ConvolutionDepthWise", "ConvolutionDepthwise"}
        # the whole frame: the stages add up to it within the timer's own overhead
        f = r.frame
        assert f is not None and f["preprocess_impl"].endswith("__neon") and f["postprocess_kernel"] == "topk"
        stages = sum(v["mean"] for v in f["stages"].values())
        assert 0 <= f["frame"]["mean"] - stages <= 0.02 * f["frame"]["mean"] + 0.05, f
        assert sum(v["share"] for v in f["stages"].values()) == pytest.approx(1.0, abs=0.02)
    fp = rep.fingerprint
    assert fp["emulated"] is True and fp["profile"] == "rk3399" and fp["model_sha256"] == rep.model_sha256
    assert fp["platform"]["machine"] == "aarch64" and fp["settings"]["runs"] == 8
    assert any("EMULATED" in n for n in rep.notes)
    assert rep.verdict["best"] is not None and rep.verdict["lines"][0].startswith("fastest passing")
    doc = json.loads(Path(rep.path).read_text())  # type: ignore[arg-type]
    assert len(doc["results"]) == 8 and all(len(r["samples_ms"]) >= 8 for r in doc["results"])


@pytest.mark.emulated
@pytest.mark.slow
def test_cli_json_and_verdict(emulated_board: BoardEntry, cls_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    r = run_cli("bench", str(cls_model), "--board", emulated_board.name, "--engine", "ncnn",
                "--threads", "1,2", "--cores", "0,1", "--runs", "5", "--warmup", "1", "--settle", "0",
                "--input-shape", "x=1,3,48,192", "--json", "-q", "--out", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    assert json.loads(out.read_text())["results"] == doc["results"]
    assert [x["config"]["threads"] for x in doc["results"]] == [1, 2]
    assert doc["verdict"]["comparisons"] and "threads on ncnn fp32 0,1" in doc["verdict"]["lines"][1]
    text = run_cli("bench", str(cls_model), "--board", emulated_board.name, "--engine", "ncnn", "--runs", "3",
                   "--warmup", "0", "--settle", "0", "--cores", "0", "--input-shape", "x=1,3,48,192", "-q")
    assert text.returncode == 0, text.stderr[-3000:]
    assert "95% CI of p50" in text.stdout and "verdict: fastest passing: ncnn fp32" in text.stdout
    assert "EMULATED" in text.stdout


def test_bad_arguments_are_one_line(tiny_classifier: Path) -> None:
    assert "--threads" in one_error_line(run_cli("bench", str(tiny_classifier), "--threads", "1,x"))
    assert "--precision" in one_error_line(run_cli("bench", str(tiny_classifier), "--precision", "fp32,fp8"))
    assert "--calib" in one_error_line(run_cli("bench", str(tiny_classifier), "--precision", "int8"))
    assert "--cores" in one_error_line(run_cli("bench", str(tiny_classifier), "--cores", "4-2"))
