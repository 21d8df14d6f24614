"""Topology, clocks and heat, read from a fake sysfs tree of an RK3399's clusters."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from sdk.device import sysinfo

CPUINFO_RK3399 = "".join(
    f"processor\t: {c}\nBogoMIPS\t: 48.00\nCPU implementer\t: 0x41\n"
    f"CPU part\t: {'0xd08' if c >= 4 else '0xd03'}\n\n"
    for c in range(6))


def fake_rk3399(root: Path, zones: bool = True, cpufreq: bool = True) -> Path:
    """/proc/cpuinfo, per-cpu cpufreq and capacity, two thermal zones with trip points."""
    (root / "proc").mkdir(parents=True)
    (root / "proc/cpuinfo").write_text(CPUINFO_RK3399)
    for c in range(6):
        d = root / f"sys/devices/system/cpu/cpu{c}"
        (d / "cpufreq").mkdir(parents=True)
        big = c >= 4
        (d / "cpu_capacity").write_text("1024\n" if big else "485\n")
        if cpufreq:
            (d / "cpufreq/cpuinfo_max_freq").write_text("1800000\n" if big else "1416000\n")
            (d / "cpufreq/scaling_cur_freq").write_text("1800000\n" if big else "1416000\n")
            (d / "cpufreq/scaling_governor").write_text("performance\n")
    if zones:
        for i, name in enumerate(("soc-thermal", "gpu-thermal")):
            z = root / f"sys/class/thermal/thermal_zone{i}"
            z.mkdir(parents=True)
            (z / "type").write_text(name + "\n")
            (z / "temp").write_text("45000\n")
            (z / "trip_point_0_type").write_text("passive\n")
            (z / "trip_point_0_temp").write_text("70000\n")
            (z / "trip_point_1_type").write_text("critical\n")
            (z / "trip_point_1_temp").write_text("95000\n")
    return root


def _put(path: Path, text: str) -> None:
    """Replace a fake sysfs file atomically (a reader never sees it half written, as in sysfs)."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text)
    os.replace(tmp, path)


@pytest.fixture
def rk3399(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = fake_rk3399(tmp_path / "board")
    monkeypatch.setenv("SDK_SYSFS_ROOT", str(root))
    return root


def test_topology_groups_the_clusters_and_checks_the_profile(rk3399: Path) -> None:
    topo = sysinfo.topology(range(6), expected=[[4, 5], [0, 1, 2, 3]])
    assert topo.clusters == [[0, 1, 2, 3], [4, 5]]
    by_cpu = {c.cpu: c for c in topo.cpus}
    assert by_cpu[4].part == "cortex-a72" and by_cpu[0].part == "cortex-a53"
    assert by_cpu[5].max_khz == 1800000 and by_cpu[1].capacity == 485 and by_cpu[2].governor == "performance"
    assert topo.unread == [] and topo.mismatch == []
    wrong = sysinfo.topology(range(6), expected=[[0, 1], [2, 3, 4, 5]])
    assert wrong.mismatch and "profile clusters" in wrong.mismatch[0]
    assert sysinfo.trip_points() == {"soc-thermal": 70.0, "gpu-thermal": 70.0}


def test_a_frequency_drop_half_way_and_a_trip_are_flagged(rk3399: Path) -> None:
    big = rk3399 / "sys/devices/system/cpu/cpu4/cpufreq/scaling_cur_freq"
    temp = rk3399 / "sys/class/thermal/thermal_zone0/temp"

    def throttle() -> None:  # half-way through the run: the big cluster throttles and heats
        time.sleep(0.25)
        _put(big, "1200000\n")
        _put(temp, "72500\n")

    t = threading.Thread(target=throttle)
    with sysinfo.Sampler([4, 5], interval=0.05) as sampler:
        t.start()
        time.sleep(0.5)
    t.join()
    freqs = [s.freq_khz["4"] for s in sampler.samples]
    assert freqs[0] == 1800000 and freqs[-1] == 1200000
    assert {s.freq_khz["5"] for s in sampler.samples} == {1800000}
    assert sampler.samples[0].temp_c == {"soc-thermal": 45.0, "gpu-thermal": 45.0}
    flags = sysinfo.clock_flags(sampler.samples, sysinfo.trip_points())
    assert any("cpu4 frequency dropped 1800 -> 1200 MHz" in f for f in flags), flags
    assert not any("cpu5" in f for f in flags)
    assert any("soc-thermal reached 72.5 C, over its trip point 70.0 C" in f for f in flags), flags


def test_settle_waits_for_the_temperature_and_is_bounded(rk3399: Path) -> None:
    steady = sysinfo.settle(max_s=5, window_s=0.3, step_s=0.1)
    assert steady["settled"] is True and 0.3 <= float(steady["waited_s"]) < 2  # type: ignore[arg-type]
    temp = rk3399 / "sys/class/thermal/thermal_zone0/temp"
    stop = threading.Event()

    def heat() -> None:
        t = 45000
        while not stop.is_set():
            t += 2000
            _put(temp, f"{t}\n")
            time.sleep(0.05)

    th = threading.Thread(target=heat)
    th.start()
    try:
        moving = sysinfo.settle(max_s=0.8, window_s=0.3, step_s=0.1)
    finally:
        stop.set()
        th.join()
    assert moving["settled"] is False and 0.8 <= float(moving["waited_s"]) < 2  # type: ignore[arg-type]


def test_a_sysfs_without_thermal_or_cpufreq_does_not_crash(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    root = fake_rk3399(tmp_path / "bare", zones=False, cpufreq=False)
    monkeypatch.setenv("SDK_SYSFS_ROOT", str(root))
    topo = sysinfo.topology(range(6))
    assert any("cpufreq" in u for u in topo.unread) and any("thermal" in u for u in topo.unread)
    assert sysinfo.settle(10)["reason"] == "no thermal zones"
    with sysinfo.Sampler([0, 1], interval=0.05) as s:
        time.sleep(0.12)
    assert s.samples and all(x.freq_khz == {} and x.temp_c == {} for x in s.samples)
    assert sysinfo.clock_flags(s.samples, sysinfo.trip_points()) == []
    monkeypatch.setenv("SDK_SYSFS_ROOT", str(tmp_path / "nothing-here"))
    empty = sysinfo.topology([0])
    assert empty.cpus[0].part is None and "CPU parts" in empty.unread[0]


def test_pinning_reports_the_cpus_it_got() -> None:
    before = os.sched_getaffinity(0)
    try:
        cpus, notes = sysinfo.pin([0])
        assert cpus == [0] and notes == []
        assert sysinfo.thread_cpus() <= set(range(os.cpu_count() or 1))
        cpus, notes = sysinfo.pin([0, 4096])
        assert cpus == [0] and "4096" in notes[0] and "pinned to [0]" in notes[0]
    finally:
        os.sched_setaffinity(0, before)
