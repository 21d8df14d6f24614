"""Reports: step progress while working, then a table for people and JSON for machines."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sdk.boards import BoardEntry, BoardProfile
    from sdk.convert import ConversionResult

EMULATED_NOTE = ("emulated board (QEMU user-mode on x86): timings and memory are QEMU's, "
                 "not representative of the real board")


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send fd 1 to fd 2 while engines run: they print banners straight to stdout,
    which would corrupt the JSON a command prints there."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


class Steps:
    """Progress of a long job: one line per step on stderr, a byte bar on a terminal."""

    def __init__(self, *, quiet: bool = False, stream: Any = None) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.timings: dict[str, float] = {}
        self._bar: Any = None
        self._last_pct = -1

    def _print(self, msg: str) -> None:
        if not self.quiet:
            print(msg, file=self.stream, flush=True)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self._print(f"==> {name}")
        t0 = time.time()
        try:
            yield
        finally:
            self._close_bar()
            self.timings[name] = time.time() - t0
        self._print(f"    {name}: done in {self.timings[name]:.1f}s")

    def log(self, msg: str) -> None:
        for line in str(msg).rstrip().splitlines():
            self._print(f"    {line}")

    def bytes_progress(self, done: int, total: int) -> None:
        if self.quiet or total <= 0:
            return
        if self.tty:
            from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

            if self._bar is None:
                self._bar = Progress("    sending", BarColumn(), DownloadColumn(),
                                     TransferSpeedColumn(), transient=True)
                self._bar.start()
                self._task = self._bar.add_task("send", total=total)
            self._bar.update(self._task, completed=done, total=total)
        else:
            pct = int(100 * done / total) // 25 * 25
            if pct != self._last_pct:
                self._last_pct = pct
                self._print(f"    sent {done}/{total} bytes ({pct}%)")

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        self._last_pct = -1


@dataclass
class DeployReport:
    model: str
    board: dict[str, Any]
    precision: str
    threads: int
    host: dict[str, Any]
    bundle: dict[str, Any] = field(default_factory=dict)
    push: dict[str, Any] = field(default_factory=dict)
    device: dict[str, Any] = field(default_factory=dict)
    activated: bool = False
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    quantization: dict[str, Any] = field(default_factory=dict)
    path: str | None = None

    @classmethod
    def start(cls, model: Path, entry: BoardEntry, profile: BoardProfile, precision: str,
              threads: int, results: Mapping[str, ConversionResult]) -> DeployReport:
        host = {
            e: {
                "ok": r.ok, "error": r.error, "seconds": r.seconds,
                "outputs": [m.__dict__ for m in r.metrics],
            }
            for e, r in results.items()
        }
        rep = cls(
            model=str(model), precision=precision, threads=threads, host=host,
            board={"name": entry.name, "profile": profile.name, "arch": profile.arch,
                   "host": f"{entry.host}:{entry.port}", "emulated": entry.emulated,
                   "qemu_cpu": profile.qemu_cpu if entry.emulated else None},
        )
        if entry.emulated:
            rep.notes.append(EMULATED_NOTE)
        for e, r in results.items():
            if not r.ok:
                rep.notes.append(f"{e} not deployed: {r.error}")
        return rep

    def add_quantization(self, quant: dict[str, Any]) -> None:
        """int8 deploys: the host rows of the int8 models show int8 vs fp32, and the fp32
        baselines get rows of their own (``ncnn-fp32``)."""
        self.quantization = quant
        for e, info in quant.items():
            self.host[f"{e}-fp32"] = self.host.pop(e)
            acc = info["accuracy"] or {}
            if info["error"]:
                self.notes.append(f"{e} int8: {info['error']}")
            self.host[e] = {"ok": info["ok"], "error": info["error"], "seconds": info["seconds"],
                            "outputs": [{"output": k, "cosine": v}
                                        for k, v in acc.get("per_output", {}).items()]}
        if quant:
            margins = sorted({o for info in quant.values() for o in info.get("margin_outputs") or []})
            self.notes.append("int8 rows: 'cosine host' is int8 vs fp32 on held-out calibration "
                              "images" + (f" (of the decision margins for the softmax output "
                                          f"{', '.join(margins)})" if margins else "")
                              + "; 'cosine board' is the board vs the host's int8 outputs")

    def add_board_result(self, doc: dict[str, Any]) -> None:
        self.device = doc

    @property
    def ok(self) -> bool:
        engines = self.device.get("engines", {})
        return bool(self.device.get("verified")) and bool(engines) and all(
            r.get("ok") for r in engines.values())

    def failures(self) -> list[str]:
        out = []
        if self.device and not self.device.get("verified", False):
            out.append(self.device.get("error", "bundle not verified"))
        for e, r in self.device.get("engines", {}).items():
            if not r.get("ok"):
                out.append(f"{e}: {r.get('error')}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "model": self.model, "board": self.board,
            "precision": self.precision, "threads": self.threads, "host_validation": self.host,
            "bundle": self.bundle, "push": self.push, "device": self.device,
            "activated": self.activated, "seconds": round(self.seconds, 3), "notes": self.notes,
            "quantization": self.quantization,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = directory / f"deploy-{stamp}.json"
        self.path = str(path)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        tmp.replace(path)
        return path

    def rows(self) -> list[dict[str, Any]]:
        """One row per engine, flat: what the table shows."""
        rows = []
        keys = list(self.host)
        keys += [k for k in self.device.get("engines", {}) if k not in keys]
        for e in keys:
            host = self.host.get(e) or self.host.get(e.removesuffix("-fp32"), {"ok": True, "outputs": []})
            dev = self.device.get("engines", {}).get(e, {})
            lat = dev.get("latency_ms", {})
            outs = dev.get("outputs", [])
            cos = [o["cosine"] for o in outs if "cosine" in o]
            mabs = [o["max_abs"] for o in outs if "max_abs" in o]
            top = [o["top1"] for o in outs if o.get("top1") is not None]
            hcos = [o["cosine"] for o in host.get("outputs", [])]
            rows.append({
                "engine": e if e.endswith("-fp32") or self.precision != "int8" else f"{e}-int8",
                "status": "ok" if dev.get("ok") else ("not deployed" if not host["ok"] else "FAILED"),
                "host_cosine": min(hcos) if hcos else None,
                "board_cosine": min(cos) if cos else None,
                "max_abs": max(mabs) if mabs else None,
                "top1": min(top) if top else None,
                "load_ms": dev.get("load_ms"),
                "p50_ms": lat.get("p50"), "p90_ms": lat.get("p90"), "p99_ms": lat.get("p99"),
                "mean_ms": lat.get("mean"), "peak_rss_mb": dev.get("peak_rss_mb"),
            })
        return rows

    def render(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.table import Table

        console = console or Console()
        b = self.board
        title = (f"{Path(self.model).name} on {b['name']} ({b['profile']}"
                 f"{', emulated ' + str(b['qemu_cpu']) if b['emulated'] else ''}), "
                 f"{self.precision}, {self.threads} threads")
        acc = [("engine", "engine", None), ("status", "status", None),
               ("cosine host", "host_cosine", ".6f"), ("cosine board", "board_cosine", ".6f"),
               ("max-abs", "max_abs", ".2e"), ("top-1", "top1", ".3f")]
        speed = [("engine", "engine", None), ("load ms", "load_ms", ".1f"), ("p50 ms", "p50_ms", ".2f"),
                 ("p90 ms", "p90_ms", ".2f"), ("p99 ms", "p99_ms", ".2f"), ("mean ms", "mean_ms", ".2f"),
                 ("peak RSS MB", "peak_rss_mb", ".0f")]
        rows = self.rows()
        for heading, cols in ((f"{title}: accuracy vs onnxruntime", acc),
                              ("latency on the board (per inference)", speed)):
            t = Table(title=heading, title_justify="left")
            for name, _, _ in cols:
                t.add_column(name, justify="left" if name in ("engine", "status") else "right")
            for row in rows:
                t.add_row(*("-" if row[k] is None else (format(row[k], f) if f else str(row[k]))
                            for _, k, f in cols))
            console.print(t)
        for e, r in sorted(self.device.get("engines", {}).items()):
            pp = r.get("preprocess")
            if pp:
                console.print(
                    f"preprocess on board ({e}): {pp['impl']}, {pp['ms']:.2f} ms/call vs numpy "
                    f"reference {pp['reference_ms']:.2f} ms ({pp['reference_ms'] / pp['ms']:.1f}x); "
                    f"input cosine vs host reference {pp['input_cosine']:.6f}")
        for n in self.notes:
            console.print(f"note: {n}")
        if self.push:
            console.print(f"pushed {self.push['files_sent']} files "
                          f"({self.push['bytes_sent']} bytes), "
                          f"{self.push['files_skipped']} unchanged")
        verdict = "PASS" if self.ok else "FAIL"
        console.print(f"{verdict} in {self.seconds:.1f}s; report: {self.path}")
