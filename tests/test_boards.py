"""Board profiles and the inventory: real files, real validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_util import run_cli

from sdk.boards import BoardEntry, Inventory, load_profile, parse_profile, profile_names
from sdk.errors import BoardError

REQUIRED = {"rk3399", "rk3588", "rpi4", "rpi5", "jetson-nano", "rv1126"}


def test_all_required_profiles_load() -> None:
    assert set(profile_names()) >= REQUIRED
    for name in profile_names():
        p = load_profile(name)
        assert p.arch in ("aarch64", "armv7")
        assert "neon" in p.features
        assert 1 <= p.default_threads <= p.cores


def test_rk3399_clusters() -> None:
    p = load_profile("rk3399")
    big, little = p.clusters
    assert (big.core, big.cpus) == ("cortex-a72", (4, 5))
    assert (little.core, little.cpus) == ("cortex-a53", (0, 1, 2, 3))
    assert p.qemu_cpu == "cortex-a72" and "dotprod" not in p.features
    assert p.big_cpus == (4, 5)


def test_armv7_profile() -> None:
    p = load_profile("rv1126")
    assert p.arch == "armv7" and p.qemu_cpu == "cortex-a7" and p.debian_arch == "armhf"


def test_unknown_profile_suggests_close_names() -> None:
    with pytest.raises(BoardError) as ei:
        load_profile("rk3390")
    msg = ei.value.one_line()
    assert "\n" not in msg and "rk3399" in msg and "did you mean" in msg


@pytest.mark.parametrize(
    ("patch", "needle"),
    [
        ('arch = "aarch64"', 'arch = "mips"'),
        ("default_threads = 2", "default_threads = 9"),
        ("cpus = [4, 5]", "cpus = [0, 5]"),  # overlaps the little cluster
        ('features = ["neon", "crc32", "aes"]', 'features = ["neon", "warp"]'),
    ],
)
def test_invalid_profile_rejected(tmp_path: Path, patch: str, needle: str) -> None:
    src = (Path(__file__).parents[1] / "boards" / "rk3399.toml").read_text()
    assert patch in src
    bad = tmp_path / "rk3399.toml"
    bad.write_text(src.replace(patch, needle))
    with pytest.raises(BoardError) as ei:
        parse_profile(bad)
    assert "\n" not in str(ei.value)


def test_inventory_roundtrip_and_errors(isolated_config: Path) -> None:
    inv = Inventory()
    assert inv.path == isolated_config / "boards.toml"
    inv.add(BoardEntry(name="lab1", profile="rk3399", host="10.0.0.7", port=2222, user="pi"))
    inv.save()
    again = Inventory()
    e = again.get("lab1")
    assert (e.profile, e.host, e.port, e.user, e.host_key) == ("rk3399", "10.0.0.7", 2222, "pi", None)
    with pytest.raises(BoardError, match="already"):
        again.add(BoardEntry(name="lab1", profile="rk3399", host="h"))
    with pytest.raises(BoardError, match="rk3399"):
        again.add(BoardEntry(name="x", profile="rk33", host="h"))
    with pytest.raises(BoardError, match="did you mean lab1"):
        again.get("lab2")
    again.remove("lab1")
    again.save()
    assert Inventory().boards == {}


def test_inventory_path_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "elsewhere" / "inv.toml"
    monkeypatch.setenv("SDK_INVENTORY", str(path))
    inv = Inventory()
    inv.add(BoardEntry(name="b", profile="rpi4", host="h"))
    inv.save()
    assert path.is_file() and "rpi4" in path.read_text()




def test_cli_board_add_list_remove(isolated_config: Path) -> None:
    r = run_cli("board", "add", "lab1", "--profile", "rk3399", "--host", "127.0.0.1", "--port", "1")
    assert r.returncode == 0, r.stderr
    r = run_cli("board", "list", "--json")
    assert r.returncode == 0, r.stderr
    import json

    doc = json.loads(r.stdout)
    assert {p["name"] for p in doc["profiles"]} >= REQUIRED
    (b,) = doc["boards"]
    assert (b["name"], b["reachable"]) == ("lab1", False)
    r = run_cli("board", "remove", "lab1")
    assert r.returncode == 0 and "lab1" not in (isolated_config / "boards.toml").read_text()


def test_cli_unknown_profile_is_one_line(isolated_config: Path) -> None:
    r = run_cli("board", "add", "x", "--profile", "rk3598", "--host", "h")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "rk3588" in lines[0]
    assert not (isolated_config / "boards.toml").exists()  # nothing half-written
