"""What the board's CPUs are and do: topology, clocks, temperatures, affinity.

Board code too (standard library only). Everything is read from sysfs and procfs under
``SDK_SYSFS_ROOT`` (default ``/``), so tests point it at a fake tree of a board's clusters.
Whatever cannot be read is said, never guessed: an emulated board (QEMU user mode) shows the
host's /proc and /sys, usually without cpufreq or thermal zones.

    topology()      per cpu: max frequency, cpu_capacity, CPU part; clusters grouped
    Sampler         a thread reading cur frequency per cpu and every thermal zone
    settle()        wait (bounded) until the temperatures stop moving
    pin()           the process onto some cpus; thread_cpus(): where its threads ran
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from sdk.records import ClockSample, CpuInfo, Topology

# /proc/cpuinfo "CPU part" of the Arm cores boards use
ARM_PARTS = {0xD03: "cortex-a53", 0xD04: "cortex-a35", 0xD05: "cortex-a55", 0xD07: "cortex-a57",
             0xD08: "cortex-a72", 0xD09: "cortex-a73", 0xD0A: "cortex-a75", 0xD0B: "cortex-a76",
             0xD0D: "cortex-a77", 0xD41: "cortex-a78", 0xC07: "cortex-a7", 0xC09: "cortex-a9",
             0xC0F: "cortex-a15", 0xD01: "cortex-a32"}
SETTLE_DELTA_C = 0.5  # temperatures within this over a window count as settled


def root() -> Path:
    return Path(os.environ.get("SDK_SYSFS_ROOT", "/"))


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _int(path: Path) -> int | None:
    text = _read(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _cpu_dir(cpu: int) -> Path:
    return root() / "sys/devices/system/cpu" / f"cpu{cpu}"


def online_cpus() -> list[int]:
    """The cpus this process may run on (its affinity), else those sysfs lists."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        found = [int(m.group(1)) for p in (root() / "sys/devices/system/cpu").glob("cpu[0-9]*")
                 if (m := re.fullmatch(r"cpu(\d+)", p.name))]
        return sorted(found)


def _parts() -> dict[int, str]:
    text = _read(root() / "proc/cpuinfo") or ""
    parts: dict[int, str] = {}
    cpu = None
    for line in text.splitlines():
        key, _, value = (s.strip() for s in line.partition(":"))
        if key == "processor":
            cpu = int(value) if value.isdigit() else None
        elif key == "CPU part" and cpu is not None:
            code = int(value, 16)
            parts[cpu] = ARM_PARTS.get(code, f"part {value}")
    return parts


def topology(cpus: Sequence[int] | None = None, expected: Sequence[Sequence[int]] = ()) -> Topology:
    """The cpus, their max frequency, capacity and part, grouped into clusters (same part and
    max frequency); ``expected``: the profile's clusters, compared with what was found."""
    cpus = list(cpus) if cpus is not None else online_cpus()
    parts = _parts()
    infos = []
    for c in cpus:
        d = _cpu_dir(c)
        infos.append(CpuInfo(cpu=c, part=parts.get(c), max_khz=_int(d / "cpufreq/cpuinfo_max_freq"),
                             capacity=_int(d / "cpu_capacity"),
                             governor=_read(d / "cpufreq/scaling_governor")))
    groups: dict[tuple[object, object, object], list[int]] = {}
    for i in infos:
        groups.setdefault((i.part, i.max_khz, i.capacity), []).append(i.cpu)
    topo = Topology(cpus=infos, clusters=sorted(groups.values(), key=lambda g: g[0]))
    if not parts:
        topo.unread.append("CPU parts (/proc/cpuinfo has no 'CPU part')")
    if all(i.max_khz is None for i in infos):
        topo.unread.append("cpufreq (no cpuinfo_max_freq)")
    if all(i.capacity is None for i in infos):
        topo.unread.append("cpu_capacity")
    if not thermal_zones():
        topo.unread.append("thermal zones (none in /sys/class/thermal)")
    want = sorted(sorted(g) for g in expected)
    if want and want != sorted(topo.clusters):
        topo.mismatch.append(f"profile clusters {want}, found {sorted(topo.clusters)}")
    return topo


def thermal_zones() -> dict[str, Path]:
    """zone name (its type, or thermal_zoneN) -> its temp file."""
    zones = {}
    for d in sorted((root() / "sys/class/thermal").glob("thermal_zone*")):
        if (d / "temp").is_file():
            zones[_read(d / "type") or d.name] = d / "temp"
    return zones


def trip_points() -> dict[str, float]:
    """zone -> its lowest passive or hot trip point, in degrees C."""
    out = {}
    for d in sorted((root() / "sys/class/thermal").glob("thermal_zone*")):
        trips = []
        for t in d.glob("trip_point_*_type"):
            if _read(t) in ("passive", "hot"):
                temp = _int(t.with_name(t.name.replace("_type", "_temp")))
                if temp is not None:
                    trips.append(temp / 1000.0)
        if trips:
            out[_read(d / "type") or d.name] = min(trips)
    return out


def read_clocks(cpus: Sequence[int], t0: float) -> ClockSample:
    freq = {str(c): f for c in cpus if (f := _int(_cpu_dir(c) / "cpufreq/scaling_cur_freq")) is not None}
    temp = {z: v / 1000.0 for z, p in thermal_zones().items() if (v := _int(p)) is not None}
    return ClockSample(t=time.perf_counter() - t0, freq_khz=freq, temp_c=temp)


class Sampler:
    """Reads clocks and temperatures every ``interval`` seconds on a thread, and which cpus the
    process's other threads ran on (those that used cpu time in an interval)."""

    def __init__(self, cpus: Sequence[int], interval: float = 0.5) -> None:
        self.cpus, self.interval = list(cpus), interval
        self.samples: list[ClockSample] = []
        self.thread_cpus: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.t0 = time.perf_counter()

    def _loop(self) -> None:
        seen = thread_stats()  # a thread counts once it used cpu time since the last look
        while not self._stop.is_set():
            self.samples.append(read_clocks(self.cpus, self.t0))
            now = thread_stats()
            self.thread_cpus |= {cpu for tid, (ticks, cpu) in now.items()
                                 if ticks > seen.get(tid, (-1, cpu))[0] and tid != threading.get_native_id()}
            seen = now
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(read_clocks(self.cpus, self.t0))


def clock_flags(samples: Sequence[ClockSample], trips: dict[str, float]) -> list[str]:
    """A frequency that dropped below its first reading, a temperature over a trip point."""
    flags = []
    if samples:
        first = samples[0].freq_khz
        for cpu, f0 in sorted(first.items(), key=lambda kv: int(kv[0])):
            low = min(s.freq_khz.get(cpu, f0) for s in samples)
            if low < f0:
                t = next(s.t for s in samples if s.freq_khz.get(cpu, f0) == low)
                flags.append(f"cpu{cpu} frequency dropped {f0 // 1000} -> {low // 1000} MHz at {t:.1f}s")
        for zone, trip in sorted(trips.items()):
            high = max((s.temp_c[zone] for s in samples if zone in s.temp_c), default=None)
            if high is not None and high >= trip:
                flags.append(f"{zone} reached {high:.1f} C, over its trip point {trip:.1f} C")
    return flags


def settle(max_s: float, window_s: float = 2.0, step_s: float = 0.5) -> dict[str, object]:
    """Wait until every zone's temperature moved less than SETTLE_DELTA_C over ``window_s``,
    at most ``max_s``; what happened (no zones: nothing to wait for)."""
    zones = thermal_zones()
    if not zones or max_s <= 0:
        return {"waited_s": 0.0, "settled": None, "reason": "no thermal zones" if not zones else "disabled"}
    t0 = time.perf_counter()
    history: list[tuple[float, dict[str, float]]] = []
    while True:
        now = time.perf_counter() - t0
        temps = {z: v / 1000.0 for z, p in zones.items() if (v := _int(p)) is not None}
        history.append((now, temps))
        old = [h for t, h in history if now - t >= window_s]
        if old:
            ref = old[-1]
            if all(abs(temps[z] - ref.get(z, temps[z])) < SETTLE_DELTA_C for z in temps):
                return {"waited_s": round(now, 2), "settled": True, "temp_c": temps}
        if now >= max_s:
            return {"waited_s": round(now, 2), "settled": False, "temp_c": temps}
        time.sleep(step_s)


def pin(cpus: Sequence[int]) -> tuple[list[int], list[str]]:
    """Pin the process (and the threads it creates from now on) to those of ``cpus`` it may
    use; the cpus it runs on and what could not be honoured."""
    notes = []
    try:
        avail = os.sched_getaffinity(0)
    except AttributeError:
        return [], ["no sched_setaffinity on this OS: not pinned"]
    use = [c for c in cpus if c in avail]
    missing = [c for c in cpus if c not in avail]
    if missing:
        notes.append(f"cpus {missing} asked for are not on this board (it has {sorted(avail)}): "
                     + (f"pinned to {use}" if use else "not pinned"))
    if use:  # every thread of the process (QEMU user mode has threads of its own), then the new ones
        for task in Path("/proc/self/task").glob("*"):
            if task.name.isdigit():
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(task.name), use)
        os.sched_setaffinity(0, use)
    return sorted(os.sched_getaffinity(0)), notes


def thread_stats() -> dict[int, tuple[int, int]]:
    """Per thread of this process: (cpu time in ticks, the cpu it last ran on), from
    /proc/self/task/*/stat (fields 14 + 15 and 39)."""
    found = {}
    for stat in Path("/proc/self/task").glob("*/stat"):
        text = _read(stat)
        if text and ")" in text:
            f = text.rsplit(")", 1)[1].split()
            if len(f) > 36 and f[11].isdigit() and f[12].isdigit() and f[36].isdigit():
                found[int(stat.parent.name)] = (int(f[11]) + int(f[12]), int(f[36]))
    return found


def thread_cpus() -> set[int]:
    """The cpu each of this process's threads last ran on."""
    return {cpu for _, cpu in thread_stats().values()}


def rss_mb() -> float:
    """The process's resident memory now (/proc/self/statm), in MiB."""
    text = _read(Path("/proc/self/statm"))
    if not text:
        return 0.0
    return int(text.split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
