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

from sdk.records import BoardResult, QuantResult, to_dict, variant_id

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


def task_line(t: Mapping[str, Any]) -> str:
    """The board's task figures (:func:`sdk.device.runner.check_task`) as one line."""

    def figs(m: Mapping[str, Any]) -> str:
        if t["task"] == "detect":
            return (f"recall {m['recall']:.3f}, precision {m['precision']:.3f}, class-score cosine "
                    f"{m['class_cosine']:.5f}")
        return ", ".join(f"{k} {v:.5f}" for k, v in m.items() if k != "metric")

    dec = f"; decode: {t['decoder']}" if t.get("decoder") else ""
    return (f"vs the host's int8 {t['metric_name']} {t['vs_host']['metric']:.4f} (floor {t['floor']}; "
            f"{figs(t['vs_host'])}); vs fp32 {t['vs_fp32']['metric']:.4f} ({figs(t['vs_fp32'])}){dec}")


@dataclass
class HostCheck:
    """One model variant checked on the host: converted and validated, or quantized."""

    engine: str
    precision: str
    ok: bool
    error: str | None = None
    seconds: float = 0.0
    outputs: list[dict[str, Any]] = field(default_factory=list)  # {"output", "cosine", ...}


@dataclass
class DeployReport:
    model: str
    board: dict[str, Any]
    precision: str
    threads: int
    host: list[HostCheck]
    bundle: dict[str, Any] = field(default_factory=dict)
    push: dict[str, Any] = field(default_factory=dict)
    device: BoardResult | None = None
    activated: bool = False
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    quantization: dict[str, QuantResult] = field(default_factory=dict)
    path: str | None = None
    model_sha256: str = ""  # of the prepared model: the history's index

    @classmethod
    def start(cls, model: Path, entry: BoardEntry, profile: BoardProfile, precision: str,
              threads: int, results: Mapping[str, ConversionResult], model_sha256: str = "") -> DeployReport:
        base = "fp32" if precision == "int8" else precision  # int8 is made from the fp32 conversion
        host = [HostCheck(e, base, r.ok, r.error, r.seconds, [m.to_dict() for m in r.metrics])
                for e, r in results.items()]
        rep = cls(
            model=str(model), precision=precision, threads=threads, host=host, model_sha256=model_sha256,
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

    def add_quantization(self, quant: Mapping[str, QuantResult]) -> None:
        """int8 deploys: each engine's int8 model gets a host row of its own, int8 vs fp32."""
        self.quantization = dict(quant)
        for e, q in quant.items():
            if q.error:
                self.notes.append(f"{e} int8: {q.error}")
            per_output = q.accuracy.per_output if q.accuracy else {}
            self.host.append(HostCheck(e, "int8", q.ok, q.error, q.seconds,
                                       [{"output": k, "cosine": v} for k, v in per_output.items()]))
        for e, q in quant.items():
            if q.ok and q.accuracy is not None and q.accuracy.metric is not None:
                a = q.accuracy
                self.notes.append(f"{e} int8 judged as {a.task} on {a.images} held-out images: "
                                  f"{a.metric_name} {a.metric:.4f} (budget {q.budget}, "
                                  f"{'met' if q.met else 'MISSED'}); "
                                  + ", ".join(f"{k} {v:.4g}" for k, v in a.metrics.items()))
            for w in q.warnings:
                self.notes.append(f"{e} int8: {w}")
        if quant:
            margins = sorted({o for q in quant.values() for o in q.margin_outputs})
            self.notes.append("int8 rows: 'cosine host' is int8 vs fp32 on held-out calibration "
                              "images" + (f" (of the decision margins for the softmax output "
                                          f"{', '.join(margins)})" if margins else "")
                              + "; 'cosine board' is the board vs the host's int8 outputs")

    def add_board_result(self, doc: BoardResult) -> None:
        self.device = doc

    def host_check(self, engine: str, precision: str) -> HostCheck | None:
        return next((h for h in self.host if (h.engine, h.precision) == (engine, precision)), None)

    @property
    def ok(self) -> bool:
        return self.device is not None and self.device.ok

    def failures(self) -> list[str]:
        out = []
        if self.device and not self.device.verified:
            out.append(self.device.error or "bundle not verified")
        for r in self.device.results if self.device else []:
            if not r.ok:
                out.append(f"{r.id}: {r.error}")
        return out

    def to_dict(self) -> dict[str, Any]:
        import sdk

        return {
            "kind": "deploy", "ok": self.ok, "model": self.model, "model_sha256": self.model_sha256,
            "board": self.board, "fingerprint": {"sdk": sdk.__version__, "model_sha256": self.model_sha256},
            "precision": self.precision, "threads": self.threads, "host_validation": to_dict(self.host),
            "bundle": self.bundle, "push": self.push, "device": to_dict(self.device) if self.device else {},
            "activated": self.activated, "seconds": round(self.seconds, 3), "notes": self.notes,
            "quantization": {e: q.to_dict() for e, q in self.quantization.items()},
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = directory / f"deploy-{stamp}.json"
        self.path = str(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        doc = self.to_dict()
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        tmp.replace(path)
        from sdk.report.history import record

        record(doc)  # the history sdk report lists and compares
        return path

    def rows(self) -> list[dict[str, Any]]:
        """One row per model variant, flat: what the table shows."""
        keys = [(h.engine, h.precision) for h in self.host]
        results = self.device.results if self.device else []
        keys += [(r.engine, r.precision) for r in results if (r.engine, r.precision) not in keys]
        rows = []
        for e, p in keys:
            host = self.host_check(e, p)
            dev = self.device.result(e, p) if self.device else None
            outs = dev.outputs if dev else []
            cos = [o.cosine for o in outs if o.cosine is not None]
            mabs = [o.max_abs for o in outs if o.max_abs is not None]
            top = [o.top1 for o in outs if o.top1 is not None]
            hcos = [o["cosine"] for o in host.outputs] if host else []
            lat = dev.latency_ms if dev else None
            rows.append({
                "engine": variant_id(e, p) if self.precision == "int8" else e,
                "status": "ok" if dev and dev.ok else ("not deployed" if host and not host.ok else "FAILED"),
                "host_cosine": min(hcos) if hcos else None,
                "board_cosine": min(cos) if cos else None,
                "max_abs": max(mabs) if mabs else None,
                "top1": min(top) if top else None,
                "load_ms": dev.load_ms if dev else None,
                "p50_ms": lat.p50 if lat else None, "p90_ms": lat.p90 if lat else None,
                "p99_ms": lat.p99 if lat else None, "mean_ms": lat.mean if lat else None,
                "peak_rss_mb": dev.peak_rss_mb if dev else None,
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
        for r in sorted(self.device.results if self.device else [], key=lambda r: r.id):
            pp = r.preprocess
            if pp:
                console.print(
                    f"preprocess on board ({r.id}): {pp['impl']}, {pp['ms']:.2f} ms/call vs numpy "
                    f"reference {pp['reference_ms']:.2f} ms ({pp['reference_ms'] / pp['ms']:.1f}x); "
                    f"input cosine vs host reference {pp['input_cosine']:.6f}")
        for r in sorted(self.device.results if self.device else [], key=lambda r: r.id):
            if r.task:
                console.print(f"{r.id} on board, judged as {r.task['task']} on {r.task['images']} held-out "
                              f"images: {task_line(r.task)}")
        for n in self.notes:
            console.print(f"note: {n}")
        if self.push:
            console.print(f"pushed {self.push['files_sent']} files "
                          f"({self.push['bytes_sent']} bytes), "
                          f"{self.push['files_skipped']} unchanged")
        verdict = "PASS" if self.ok else "FAIL"
        console.print(f"{verdict} in {self.seconds:.1f}s; report: {self.path}")
