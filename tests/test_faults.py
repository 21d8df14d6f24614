"""The fault suite: faults injected for real into the emulated board, and the board's state
checked after each (no mocks).

Ctrl-C mid-push, sshd killed mid-upload, a SIGSTOPped runner, the host deploy killed while
the board runs, two deploys of one app at once, a full filesystem over the app directory,
app names that would escape ``~/.sdk/apps``, usage errors.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cli_util import one_error_line, run_cli
from fault_util import (
    Deploy,
    app_root,
    board_runs,
    board_sdk_processes,
    clear_app,
    current_id,
    deploy_argv,
    growing_partial,
    partial_files,
    stop_board_process,
    wait_no_sdk_processes,
)

from sdk.boards import BoardEntry, Inventory

pytestmark = [pytest.mark.emulated, pytest.mark.slow]


# ------------------------------------------------------------------ helpers


def _big_model(path: Path, hidden: int, seed: int) -> Path:
    """A classifier whose weights are ``3072 x hidden`` floats (a long upload)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((hidden, 3072)) * 0.02).astype(np.float32)
    b1 = np.zeros(hidden, np.float32)
    w2 = (rng.standard_normal((10, hidden)) * 0.05).astype(np.float32)
    b2 = np.zeros(10, np.float32)
    nodes = [
        helper.make_node("Flatten", ["input"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "w1", "b1"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Gemm", ["r", "w2", "b2"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["prob"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "big", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, [1, 10])],
        initializer=[numpy_helper.from_array(a, n)
                     for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def big_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _big_model(tmp_path_factory.mktemp("big") / "big_a.onnx", 2048, 1)  # 25 MB of weights


@pytest.fixture(scope="module")
def big_model_b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _big_model(tmp_path_factory.mktemp("big") / "big_b.onnx", 2048, 2)


@pytest.fixture
def board(emulated_board: BoardEntry) -> Iterator[BoardEntry]:
    yield emulated_board


# ------------------------------------------------------------------ usage and names (no board)


def test_runs_zero_is_one_line_exit_1(tiny_classifier: Path) -> None:
    line = one_error_line(run_cli("deploy", str(tiny_classifier), "--runs", "0", timeout=120))
    assert "--runs" in line
    line = one_error_line(run_cli("deploy", str(tiny_classifier), "--threads", "0", timeout=120))
    assert "--threads" in line
    line = one_error_line(run_cli("deploy", str(tiny_classifier), "--no-such-option", timeout=120))
    assert "no-such-option" in line


@pytest.mark.parametrize("app", [".", "..", "", "a/b", "../staging"])
def test_bad_app_names_refused(tiny_classifier: Path, app: str) -> None:
    line = one_error_line(run_cli("deploy", str(tiny_classifier), "--app", app, timeout=120))
    assert "invalid app name" in line


def test_dotdot_onnx_refused(tiny_classifier: Path, tmp_path: Path) -> None:
    for name in ("..onnx", "...onnx"):
        bad = tmp_path / name
        bad.write_bytes(tiny_classifier.read_bytes())
        line = one_error_line(run_cli("deploy", str(bad), timeout=120))
        assert "invalid app name" in line and "--app" in line


# ------------------------------------------------------------------ faults on the board


def test_sigint_during_push_exits_fast_and_next_deploy_passes(
    board: BoardEntry, tiny_classifier: Path, big_model: Path
) -> None:
    import sdk

    app = "fault-sigint"
    clear_app(board, app)
    # the README's Python API call, on the board
    report = sdk.deploy(tiny_classifier, board=board.name, app=app, engine="ncnn", runs=2, warmup=1)
    assert report.ok and report.activated, report.failures()
    before = current_id(board, app)
    assert before == report.bundle["id"]
    assert before

    d = Deploy(deploy_argv(big_model, board, app))
    d.wait_for(lambda: growing_partial(app_root(board, app)), 1200)
    want = f"interrupted during push to {board.name}; the previous bundle is still current"
    assert d.interrupt() == want, d.stderr[-2000:]
    root = app_root(board, app)
    assert not (root / "staging").exists()
    assert not partial_files(root)
    assert current_id(board, app) == before
    board_runs(board, app)
    assert not wait_no_sdk_processes(board)

    r = subprocess.run(deploy_argv(big_model, board, app, "-q", "--json"), capture_output=True, text=True,
                       timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout)["activated"] is True
    assert current_id(board, app) != before
    board_runs(board, app)


def test_sshd_killed_mid_upload_then_retry_resumes(
    board: BoardEntry, tiny_classifier: Path, big_model_b: Path
) -> None:
    from sdk.emulate._host import kill_board_processes

    app = "fault-link"
    clear_app(board, app)
    r = subprocess.run(deploy_argv(tiny_classifier, board, app, "-q"), capture_output=True, text=True,
                       timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    before = current_id(board, app)

    d = Deploy(deploy_argv(big_model_b, board, app))
    root = app_root(board, app)
    d.wait_for(lambda: growing_partial(root, 4 << 20), 1200)
    entry = Inventory().get(board.name)
    assert entry.rootfs
    kill_board_processes(Path(entry.rootfs), entry.pid)
    code = d.finish(120)
    assert code == 1, d.stderr[-3000:]
    errors = [ln for ln in d.lines if ln.startswith("error:")]
    assert len(errors) == 1, d.stderr[-3000:]
    assert f"lost the connection to board {board.name}" in errors[0]
    assert re.search(r"\d+ of \d+ files", errors[0]) and "re-run" in errors[0], errors[0]
    assert "push" in errors[0]
    assert "paramiko" not in d.stderr.lower() and "Traceback" not in d.stderr
    partial = max(p.stat().st_size for p in partial_files(root / "staging"))
    assert partial > 0
    assert current_id(board, app) == before

    # the next deploy restarts the emulated board, resumes the partial file, and passes
    r = subprocess.run(deploy_argv(big_model_b, board, app, "-q", "--json"), capture_output=True,
                       text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    model_bytes = sum(p.stat().st_size for p in (Path(doc["bundle"]["path"]) / "models").rglob("*")
                      if p.is_file())
    assert doc["push"]["bytes_sent"] <= model_bytes + (1 << 20) - partial, doc["push"]
    assert doc["activated"] is True
    board_runs(board, app)


def test_sigstopped_runner_killed_at_timeout_no_orphans(board: BoardEntry, tiny_classifier: Path) -> None:
    app = "fault-hung"
    d = Deploy(deploy_argv(tiny_classifier, board, app, "--timeout", "15"))
    d.wait_for(lambda: stop_board_process(board, b"sdk.device.runner\0_model"), 1200)
    t0 = time.monotonic()
    code = d.finish(600)
    assert code == 1, d.stderr[-3000:]
    assert "timeout 15 s per model variant" in d.stderr
    assert "timed out after 15 s" in d.stderr
    assert time.monotonic() - t0 < 15 + 60
    assert not wait_no_sdk_processes(board), board_sdk_processes(board)


def test_host_killed_during_run_leaves_no_process_on_board(board: BoardEntry, tiny_classifier: Path) -> None:
    app = "fault-hostgone"
    d = Deploy(deploy_argv(tiny_classifier, board, app, "--runs", "100000", "--warmup", "0"))
    d.wait_for(lambda: any("loading, checking" in ln for ln in d.lines), 1200)
    assert board_sdk_processes(board)
    d.proc.kill()  # the host side goes away without a word
    d.finish(30)
    left = wait_no_sdk_processes(board, 60)
    assert not left, left


def _other_model(src: Path, dst: Path, delta: float) -> Path:
    """Another model (the host lock is per model, the bundle id per content)."""
    from onnx import load, numpy_helper, save

    m = load(str(src))
    for init in m.graph.initializer:
        if init.name == "conv_b":
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + np.float32(delta), init.name))
    save(m, str(dst))
    return dst


def test_concurrent_deploys_of_one_app_wait_or_fail_with_owner(board: BoardEntry, tiny_classifier: Path,
                                                               tmp_path: Path) -> None:
    """While deploy A holds the app: C (--wait 0) fails naming A's owner; B (--wait 900) waits,
    then both A and B end well and the bundle that is current runs."""
    app = "fault-twice"
    clear_app(board, app)
    small = _other_model(tiny_classifier, tmp_path / "tiny_two.onnx", 0.01)
    other = _other_model(tiny_classifier, tmp_path / "tiny_busy.onnx", 0.02)  # its own host lock
    a = Deploy(deploy_argv(tiny_classifier, board, app, "--runs", "400"))
    a.wait_for(lambda: any("==> push" in ln for ln in a.lines), 1200)
    b = Deploy(deploy_argv(small, board, app, "--wait", "900"))
    r = subprocess.run(deploy_argv(other, board, app, "--wait", "0", "-q"), capture_output=True, text=True,
                       timeout=900)
    line = one_error_line(r)
    assert re.search(rf"board BUSY: app {app} on \S+ being deployed by pid \d+ on \S+ since ", line), line
    ca, cb = a.finish(1800), b.finish(1800)
    assert ca == 0, a.stderr[-3000:]
    assert cb == 0, b.stderr[-3000:]
    assert "board BUSY: app being deployed by pid" in b.stderr, b.stderr[-3000:]
    bundles = [p for p in (app_root(board, app) / "bundles").iterdir() if not p.name.startswith(".")]
    assert len(bundles) == 2
    board_runs(board, app)
    assert not (app_root(board, app) / "staging").exists()


def _mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)


def test_full_disk_before_push(board: BoardEntry, tiny_classifier: Path) -> None:
    app = "fault-full"
    root = app_root(board, app)
    clear_app(board, app)
    _mount_tmpfs(root, "1m")
    try:
        r = subprocess.run(deploy_argv(tiny_classifier, board, app, "-q"), capture_output=True, text=True,
                           timeout=1800)
        line = one_error_line(r)
        assert re.search(rf"no space left on {board.name} \(need \d+ MiB, [01] MiB free on "
                         rf"/root/.sdk/apps/{app}\)", line), line
        assert not (root / "staging").exists()
    finally:
        subprocess.run(["umount", str(root)], check=False)


def test_full_disk_mid_upload(board: BoardEntry, big_model: Path) -> None:
    app = "fault-fill"
    root = app_root(board, app)
    clear_app(board, app)
    _mount_tmpfs(root, "400m")
    try:
        d = Deploy(deploy_argv(big_model, board, app))
        d.wait_for(lambda: (root / "staging").exists(), 1200)
        # the board runs out of room while the bundle arrives
        with open(root / "filler", "wb", buffering=0) as fh, pytest.raises(OSError):
            while True:
                fh.write(b"\0" * (1 << 20))
        code = d.finish(600)
        assert code == 1, d.stderr[-3000:]
        errors = [ln for ln in d.lines if ln.startswith("error:")]
        assert len(errors) == 1, d.stderr[-3000:]
        assert re.search(rf"no space left on {board.name} \(need [\d.]+ MiB.*free on /root/.sdk/apps/{app}",
                         errors[0]), errors[0]
        assert not (root / "staging").exists()
        assert current_id(board, app) is None
    finally:
        subprocess.run(["umount", str(root)], check=False)


# ------------------------------------------------------------------ the inventory (no board)


@pytest.mark.parametrize(("args", "word"), [
    (["a/b", "--host", "10.0.0.2"], "invalid board name"),
    (["b1", "--host", "bad host"], "invalid host"),
    (["b1", "--host", "-x.local"], "invalid host"),
    (["b1", "--host", "10.0.0.2", "--user", "ro ot"], "invalid user"),
    (["b1", "--host", "10.0.0.2", "--port", "0"], "--port"),
])
def test_board_add_validates(args: list[str], word: str) -> None:
    line = one_error_line(run_cli("board", "add", *args, "--profile", "rk3399", timeout=60))
    assert word in line
    assert not Inventory().boards


def test_unresolvable_host_is_not_retried(tiny_classifier: Path, tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    r = run_cli("board", "add", "ghost", "--profile", "rk3399", "--host", "no-such-board.invalid",
                "--key", str(key), timeout=60)
    assert r.returncode == 0, r.stderr
    t0 = time.monotonic()
    line = one_error_line(run_cli("deploy", str(tiny_classifier), "--board", "ghost", timeout=300))
    assert "ghost" in line and "attempts" not in line and "gaierror" in line, line
    assert time.monotonic() - t0 < 120
