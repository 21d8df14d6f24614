"""`sdk deploy` end to end on the emulated rk3399 over real SSH, and its one-line errors."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from cli_util import board_results, host_rows, one_error_line, run_cli

from sdk.boards import BoardEntry, Inventory
from sdk.deploy import DeployOptions, deploy
from sdk.report import Steps

CLS_SHAPE = {"x": (1, 3, 48, 192)}
REC_SHAPE = {"x": (1, 3, 48, 320)}






def add_board(entry: BoardEntry) -> None:
    inv = Inventory()
    inv.add(entry, replace=True)
    inv.save()


def check_device_doc(doc: dict, engines: tuple[str, ...]) -> None:
    assert doc["verified"] is True
    assert doc["platform"]["machine"] == "aarch64"
    assert doc["platform"]["qemu_cpu"] == "cortex-a72"  # the rk3399's ISA, not QEMU's max
    results = board_results(doc)
    for e in engines:
        res = results[(e, "fp32")]
        assert res["ok"], res
        assert res["outputs"] and all(o["cosine"] >= 0.999 for o in res["outputs"]), res["outputs"]
        lat = res["latency_ms"]
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] and lat["mean"] > 0
        assert res["load_ms"] > 0 and res["peak_rss_mb"] > 0


# ------------------------------------------------------------------ real models, real board


@pytest.mark.emulated
@pytest.mark.slow
def test_deploy_classifier_both_engines_then_resend_nothing(
    emulated_board: BoardEntry, cls_model: Path, tmp_path: Path
) -> None:
    from sdk.deploy import app_name
    from sdk.remote import open_session

    with open_session(emulated_board) as s:  # the board's disk outlives a test session
        app = f"~/.sdk/apps/{app_name(cls_model)}"
        if s.exists(app):
            s.remove(app, recursive=True)
    opts = DeployOptions(engine="all", input_shapes=CLS_SHAPE, runs=5, warmup=1,
                         report_dir=tmp_path / "reports")
    rep = deploy(cls_model, emulated_board.name, opts, steps=Steps(quiet=True))
    assert rep.ok and rep.activated
    assert rep.push["files_sent"] > 0
    # the JSON pulled from the board, saved locally
    saved = json.loads(Path(rep.path).read_text())
    check_device_doc(saved["device"], ("ncnn", "mnn"))
    assert saved["board"]["emulated"] is True and any("not representative" in n for n in saved["notes"])

    again = deploy(cls_model, emulated_board.name, opts, steps=Steps(quiet=True))
    assert again.ok
    assert again.bundle["id"] == rep.bundle["id"]
    assert again.push["files_sent"] == 0 and again.push["bytes_sent"] == 0, again.push


@pytest.mark.emulated
@pytest.mark.slow
def test_deploy_ppocr_rec_cli_json(emulated_board: BoardEntry, rec_model: Path, tmp_path: Path) -> None:
    r = run_cli("deploy", str(rec_model), "--board", emulated_board.name, "--input-shape",
                "x=1,3,48,320", "--runs", "2", "--warmup", "1", "--json", "-q",
                "--report-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    assert doc["ok"] is True
    check_device_doc(doc["device"], ("ncnn", "mnn"))


@pytest.mark.emulated
@pytest.mark.slow
def test_op_one_engine_lacks(emulated_board: BoardEntry, one_engine_unsupported_model: Path,
                             tmp_path: Path) -> None:
    # Conv + Mish: MNN's converter has no Mish, ncnn does (see tests/_fix_models.py)
    model, lacking, other, op = one_engine_unsupported_model, "mnn", "ncnn", "Mish"
    # all engines: the other one deploys, the report names the op
    r = run_cli("deploy", str(model), "--board", emulated_board.name, "--runs", "2", "--warmup", "0",
                "--json", "-q", "--report-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    results = board_results(doc["device"])
    assert results[(other, "fp32")]["ok"] is True
    assert lacking not in {e for e, _ in results}
    assert host_rows(doc)[(lacking, "fp32")]["ok"] is False
    assert op in host_rows(doc)[(lacking, "fp32")]["error"]
    # only the lacking engine: one line naming the op
    line = one_error_line(run_cli("deploy", str(model), "--board", emulated_board.name,
                                  "--engine", lacking, "-q"))
    assert op in line


@pytest.mark.emulated
@pytest.mark.slow
def test_board_checks_the_users_golden_inputs(emulated_board: BoardEntry, tiny_classifier: Path,
                                              tmp_path: Path) -> None:
    # a photo-like input in [0, 1], not the SDK's N(0,1): it is what the board must run
    x = np.linspace(0, 1, 3 * 32 * 32, dtype=np.float32).reshape(1, 3, 32, 32)
    np.savez(tmp_path / "golden.npz", input=x)
    r = run_cli("deploy", str(tiny_classifier), "--board", emulated_board.name, "--engine", "ncnn",
                "--golden", str(tmp_path / "golden.npz"), "--runs", "2", "--warmup", "0", "--json", "-q",
                "--report-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    res = board_results(doc["device"])[("ncnn", "fp32")]
    assert res["ok"] and all(o["cosine"] >= 0.999 for o in res["outputs"]), res
    # the bundle the board checked carries the user's array and onnxruntime's outputs on it
    root = Path(doc["bundle"]["path"])
    golden = json.loads((root / "manifest.json").read_text())["golden"]
    assert [t["name"] for t in golden["inputs"]] == ["input"]
    np.testing.assert_array_equal(np.load(root / golden["inputs"][0]["file"]), x)
    sess = ort.InferenceSession(str(tiny_classifier), providers=["CPUExecutionProvider"])
    want = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"input": x}), strict=True))
    for t in golden["outputs"]:
        np.testing.assert_allclose(np.load(root / t["file"]), want[t["name"]], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("command", ["deploy", "bench"])
def test_bad_golden_file_is_one_line_before_the_board(command: str, tiny_classifier: Path,
                                                      tmp_path: Path) -> None:
    np.savez(tmp_path / "g.npz", image=np.zeros((1, 3, 32, 32), np.float32))
    line = one_error_line(run_cli(command, str(tiny_classifier), "--board", "nowhere",
                                  "--golden", str(tmp_path / "g.npz")))
    assert "g.npz has no array for input 'input'" in line, line


@pytest.mark.emulated
def test_wrong_arch_board_refused(emulated_board: BoardEntry, tiny_classifier: Path) -> None:
    add_board(replace(emulated_board, name="armboard", profile="rv1126", emulated=False))
    line = one_error_line(run_cli("deploy", str(tiny_classifier), "--board", "armboard", "-q"))
    assert "armv7" in line and "aarch64" in line


# ------------------------------------------------------------------ errors, no board needed


def test_unknown_board_suggests_close_names(tiny_classifier: Path) -> None:
    add_board(BoardEntry(name="lab-rk3399", profile="rk3399", host="127.0.0.1", port=1))
    line = one_error_line(run_cli("deploy", str(tiny_classifier), "--board", "lab-rk3398"))
    assert "lab-rk3399" in line and "did you mean" in line


def test_unknown_emulated_profile_suggests(tiny_classifier: Path) -> None:
    line = one_error_line(run_cli("deploy", str(tiny_classifier), "--board", "rk3390-emu"))
    assert "rk3399" in line


def test_missing_model_file(tmp_path: Path) -> None:
    line = one_error_line(run_cli("deploy", str(tmp_path / "nope.onnx")))
    assert "nope.onnx" in line
    assert not (tmp_path / "nope.onnx").exists()


def test_not_an_onnx_file(not_onnx_file: Path) -> None:
    line = one_error_line(run_cli("deploy", str(not_onnx_file)))
    assert "ONNX" in line


def test_dynamic_dim_without_shape(cls_model: Path) -> None:
    line = one_error_line(run_cli("deploy", str(cls_model)))
    assert "'x'" in line or " x " in line
    assert "--input-shape" in line


def test_unreachable_board(closed_port: int, tiny_classifier: Path, tmp_path: Path) -> None:
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    add_board(BoardEntry(name="gone", profile="rk3399", host="127.0.0.1", port=closed_port,
                         key=str(key), host_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPg="))
    line = one_error_line(run_cli("deploy", str(tiny_classifier), "--board", "gone", "-q"))
    assert "gone" in line and f"127.0.0.1:{closed_port}" in line and "attempts" in line


def test_changed_host_key_refused(host_sshd: BoardEntry, tiny_classifier: Path, tmp_path: Path) -> None:
    other = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    fake = " ".join(Path(f"{other}.pub").read_text().split()[:2])
    add_board(replace(host_sshd, name="moved", host_key=fake))
    line = one_error_line(run_cli("deploy", str(tiny_classifier), "--board", "moved", "-q"))
    assert "changed" in line.lower() and "sdk board trust" in line


# ------------------------------------------------------------------ --preprocess: kernels on board

CLS_PRE = "size=192x48,color=bgr,mean=127.5,norm=0.0078431"


@pytest.mark.emulated
@pytest.mark.slow
def test_preprocess_runs_the_neon_kernel_on_the_board(
    emulated_board: BoardEntry, cls_model: Path, tmp_path: Path
) -> None:
    r = run_cli("deploy", str(cls_model), "--board", emulated_board.name, "--input-shape",
                "x=1,3,48,192", "--preprocess", CLS_PRE, "--runs", "2", "--warmup", "0", "--json",
                "-q", "--report-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    check_device_doc(doc["device"], ("ncnn", "mnn"))
    for res in doc["device"]["results"]:
        pp = res["preprocess"]
        # the board's own build of sdk._kernels, NEON variant picked by HWCAP on cortex-a72
        assert pp["impl"] == "u8_resize_bilinear_normalize_chw__neon", pp
        assert pp["input_cosine"] >= 0.99999 and pp["input_max_abs"] < 0.05
        assert 0 < pp["ms"] < pp["reference_ms"]


def test_bad_preprocess_spec_is_one_line(tiny_classifier: Path) -> None:
    line = one_error_line(run_cli("deploy", str(tiny_classifier), "--preprocess", "size=32,color=rgb"))
    assert "--preprocess" in line and "WxH" in line


def test_preprocess_shape_mismatch_is_one_line(tiny_classifier: Path) -> None:
    # tiny_classifier takes 1x3x32x32; a 64x32 image spec cannot feed it
    line = one_error_line(run_cli("deploy", str(tiny_classifier), "--preprocess", "size=64x32"))
    assert "[1, 3, 32, 32]" in line and "size=32x32" in line


@pytest.mark.emulated
@pytest.mark.slow
def test_armv7_board_ncnn_with_kernels(emulated_rv1126: BoardEntry, cls_model: Path, tmp_path: Path) -> None:
    """32-bit board: ncnn only (no MNN/numpy wheels for armv7), Debian's numpy, NEON kernel."""
    add_board(emulated_rv1126)
    r = run_cli("deploy", str(cls_model), "--board", emulated_rv1126.name, "--input-shape",
                "x=1,3,48,192", "--preprocess", CLS_PRE, "--runs", "2", "--warmup", "0", "--json",
                "-q", "--report-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    dev = doc["device"]
    assert dev["platform"]["machine"] == "armv7l" and set(board_results(dev)) == {("ncnn", "fp32")}
    res = board_results(dev)[("ncnn", "fp32")]
    assert res["ok"] and all(o["cosine"] >= 0.999 for o in res["outputs"])
    assert res["preprocess"]["impl"] == "u8_resize_bilinear_normalize_chw__neon"
    assert res["latency_ms"]["p50"] > 0
    # asking for MNN on armv7 is a one-line error
    line = one_error_line(run_cli("deploy", str(cls_model), "--board", emulated_rv1126.name,
                                  "--engine", "mnn", "--input-shape", "x=1,3,48,192", "-q"))
    assert "armv7" in line and "ncnn" in line
