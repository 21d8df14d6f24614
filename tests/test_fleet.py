"""Board farms through labgrid: a real coordinator on 127.0.0.1, emulated boards exported into it.

Every check of who holds which place asks the coordinator itself (a second labgrid client).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _fix_labgrid import FARM, Farm
from cli_util import Child, one_error_line, run_cli

from sdk.boards import BoardEntry

CLS = ("--input-shape", "x=1,3,48,192", "--runs", "3", "--warmup", "1")


@pytest.fixture
def alice(labgrid_farm: Farm) -> Iterator[object]:
    """Another user of the lab, connected to the farm's coordinator with labgrid's client API."""
    from sdk.fleet.coordinator import Coordinator

    with Coordinator(labgrid_farm.address, user="alice") as coord:
        yield coord


@pytest.fixture
def farm(labgrid_farm: Farm, monkeypatch: pytest.MonkeyPatch) -> Farm:
    labgrid_farm.ensure_running()
    monkeypatch.setenv("SDK_INVENTORY", str(labgrid_farm.inventory))
    return labgrid_farm


def audit(address: str) -> tuple[dict[str, str | None], list[str]]:
    """Who holds which place, and the reservations still open, as the coordinator says."""
    from sdk.fleet.coordinator import Coordinator

    with Coordinator(address, user="auditor") as coord:
        return ({p.name: p.acquired for p in coord.places()},
                [f"{r.owner}:{r.token}" for r in coord.rpc("GetReservations").reservations])


def fleet_argv(model: Path, farm: Farm, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sdk", "deploy", str(model), *CLS, "--fleet", farm.address, *extra]


# --------------------------------------------------------------------------- no boards needed


def test_places_listed_from_the_coordinator(labgrid_coordinator: str, tmp_path: Path) -> None:
    from sdk.fleet.coordinator import Coordinator
    from sdk.fleet.exporter import start_exporter, stop_exporter

    entry = BoardEntry(name="shelf1", profile="rk3399", host="127.0.0.1", port=2222, user="root")
    start_exporter(entry, tmp_path, labgrid_coordinator)
    try:
        with Coordinator(labgrid_coordinator, user="alice") as other:
            other.create_place("bare", "nobody/bare/NetworkService", {})
            other.acquire("shelf1")
            r = run_cli("board", "list", "--labgrid", labgrid_coordinator, "--json")
            assert r.returncode == 0, r.stderr
            places = {p["name"]: p for p in json.loads(r.stdout)["places"]}
            assert places["shelf1"]["address"] == "127.0.0.1" and places["shelf1"]["port"] == 2222
            assert places["shelf1"]["username"] == "root" and places["shelf1"]["profile"] == "rk3399"
            assert places["shelf1"]["acquired"] == other.name and other.name.endswith("/alice")
            assert places["shelf1"]["trusted"] is False
            assert places["bare"]["address"] is None and places["bare"]["acquired"] is None
            # a place nobody can deploy to, and one that is not there: one line each
            at = f"@{labgrid_coordinator}"
            line = one_error_line(run_cli("deploy", "m.onnx", "--board", f"labgrid:bare{at}"))
            assert "no NetworkService" in line
            line = one_error_line(run_cli("deploy", "m.onnx", "--board", f"labgrid:shelf2{at}"))
            assert "unknown labgrid place 'shelf2'" in line and "shelf1" in line
    finally:
        stop_exporter(tmp_path)
    line = one_error_line(run_cli("board", "list", "--labgrid", "127.0.0.1:1"))
    assert "cannot reach the labgrid coordinator at 127.0.0.1:1" in line


def test_trust_of_a_labgrid_place_records_the_key_it_presents(
        labgrid_coordinator: str, host_sshd: BoardEntry, tmp_path: Path) -> None:
    from sdk.boards import Inventory
    from sdk.fleet.exporter import start_exporter, stop_exporter

    shelf = BoardEntry(name="shelf3", profile="rpi4", host=host_sshd.host, port=host_sshd.port,
                       user=host_sshd.user)
    start_exporter(shelf, tmp_path, labgrid_coordinator)
    try:
        board = f"labgrid:shelf3@{labgrid_coordinator}"
        line = one_error_line(run_cli("board", "trust", board))  # not a terminal: no silent trust
        assert "without confirmation" in line and "shelf3" in line
        assert "shelf3" not in Inventory().boards
        r = run_cli("board", "trust", board, "--yes")
        assert r.returncode == 0, r.stderr
        entry = Inventory().boards["shelf3"]
        assert entry.host_key == host_sshd.host_key  # the key file the sshd serves
        assert (entry.profile, entry.host, entry.port) == ("rpi4", host_sshd.host, host_sshd.port)
        r = run_cli("board", "list", "--labgrid", labgrid_coordinator, "--json")
        assert [p["trusted"] for p in json.loads(r.stdout)["places"]] == [True]
    finally:
        stop_exporter(tmp_path)


# --------------------------------------------------------------------------- the farm


def test_fleet_deploy_waits_for_a_busy_place_and_passes_on_every_board(
        farm: Farm, alice: object, cls_model: Path) -> None:
    alice.acquire("lg-b")  # type: ignore[attr-defined]
    child = Child(fleet_argv(cls_model, farm, "--wait", "600", "--json"))
    child.wait_for("[lg-b]     place lg-b is busy", 600)
    assert any("/alice" in ln for ln in child.lines if "is busy" in ln)
    time.sleep(3)  # the run keeps waiting; lg-a and lg-c go on meanwhile
    alice.release("lg-b")  # type: ignore[attr-defined]
    code = child.finish(900)
    assert code == 0, child.stderr[-4000:]
    doc = json.loads(child.out)
    boards = {b["place"]: b for b in doc["boards"]}
    assert sorted(boards) == [n for n, _ in FARM] and doc["ok"] and doc["released"]
    for name, profile in FARM:
        b, entry = boards[name], farm.boards[name]
        rep = b["report"]
        assert b["status"] == "pass" and b["profile"] == profile, b
        # the board that ran is the one labgrid's NetworkService named, checked there vs the host
        assert rep["board"]["host"] == f"127.0.0.1:{entry.port}" and rep["board"]["profile"] == profile
        assert rep["device"]["verified"] and {r["engine"] for r in rep["device"]["results"] if r["ok"]} \
            == {"ncnn", "mnn"}
        assert set(b["p50_ms"]) == {"ncnn", "mnn"} and all(v > 0 for v in b["p50_ms"].values())
    # one bundle per profile: both rk3399 boards got the same one, the rpi4 its own
    ids = {n: boards[n]["report"]["bundle"]["id"] for n, _ in FARM}
    assert ids["lg-a"] == ids["lg-b"] != ids["lg-c"]
    assert sum("host work for" in ln for ln in child.lines if ln.startswith("==>")) == 2
    spread = {(s["profile"], s["variant"]): s for s in doc["spread"]}
    assert spread[("rk3399", "ncnn")]["boards"] == 2
    held, reservations = audit(farm.address)
    assert set(held.values()) == {None} and reservations == []


def test_sshd_stopped_mid_run_fails_that_board_only_and_a_busy_place_is_skipped(
        farm: Farm, alice: object, cls_model: Path) -> None:
    from sdk.emulate._host import kill_board_processes

    alice.acquire("lg-c")  # type: ignore[attr-defined]
    child = Child(fleet_argv(cls_model, farm, "--engine", "ncnn", "--wait", "0", "--json"))
    child.wait_for("[lg-a] ==> push", 600)
    a = farm.boards["lg-a"]
    assert a.rootfs and a.pid
    kill_board_processes(Path(a.rootfs), a.pid)  # the board's sshd and its sessions
    code = child.finish(900)
    assert code == 1, child.stderr[-4000:]
    boards = {b["place"]: b for b in json.loads(child.out)["boards"]}
    assert boards["lg-a"]["status"] == "FAIL" and "lg-a" in boards["lg-a"]["error"], boards["lg-a"]
    assert boards["lg-b"]["status"] == "pass", boards["lg-b"]
    assert boards["lg-c"]["status"] == "skipped" and "alice" in boards["lg-c"]["error"]
    held, reservations = audit(farm.address)
    assert held["lg-a"] is None and held["lg-b"] is None
    assert held["lg-c"] == alice.name  # type: ignore[attr-defined]
    assert reservations == []
    errors = [ln for ln in child.lines if ln.startswith("error:")]
    assert len(errors) == 1 and "1 FAIL, 1 pass, 1 skipped" in errors[0], child.stderr[-2000:]


def test_ctrl_c_releases_every_place(farm: Farm, cls_model: Path) -> None:
    child = Child(fleet_argv(cls_model, farm, "--engine", "ncnn"))
    for name, _ in FARM:
        child.wait_for(f"[{name}]     acquired labgrid place", 600)
    held, _ = audit(farm.address)
    assert all(held[name] is not None for name, _ in FARM), held
    child.proc.send_signal(signal.SIGINT)
    code = child.finish(60)
    assert code == 130, child.stderr[-3000:]
    assert "Traceback" not in child.stderr
    assert any("interrupted" in ln and "3 labgrid places released" in ln for ln in child.lines), \
        child.stderr[-2000:]
    held, reservations = audit(farm.address)
    assert set(held.values()) == {None} and reservations == []


def test_fleet_bench_on_the_places_with_a_tag(farm: Farm, cls_model: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "sdk", "bench", str(cls_model), *CLS, "--engine", "ncnn",
                        "--settle", "0", "--fleet", farm.address, "--tag", "profile=rk3399", "--json", "-q"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    assert doc["kind"] == "fleet-bench" and doc["ok"] and doc["released"]
    boards = {b["place"]: b for b in doc["boards"]}
    assert sorted(boards) == ["lg-a", "lg-b"]  # lg-c is an rpi4
    for name, b in boards.items():
        rep = b["report"]
        assert b["status"] == "pass" and rep["board"]["host"] == f"127.0.0.1:{farm.boards[name].port}"
        results = rep["results"]
        assert len(results) == 1 and results[0]["ok"] and len(results[0]["samples_ms"]) == 3
        assert list(b["p50_ms"].values()) == [results[0]["summary"]["p50"]]
    held, reservations = audit(farm.address)
    assert set(held.values()) == {None} and reservations == []
