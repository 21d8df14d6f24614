"""The bench report: a table per sweep for people, JSON with every sample for machines, and
the verdict (the fastest passing configuration; did int8, did more threads pay?)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sdk
from sdk.records import BenchPlan, BenchResult, BenchRun, to_dict
from sdk.report import EMULATED_NOTE

if TYPE_CHECKING:
    from sdk.boards import BoardEntry, BoardProfile


def _best(results: list[BenchResult]) -> BenchResult | None:
    ok = [r for r in results if r.ok and r.summary]
    return min(ok, key=lambda r: r.summary.p50) if ok else None  # type: ignore[union-attr]


def _paid(what: str, base: BenchResult | None, other: BenchResult | None) -> dict[str, Any] | None:
    """Whether ``other`` is significantly faster than ``base`` (a bootstrap of the medians)."""
    from sdk.device.stats import compare

    if base is None or other is None or not base.samples_ms or not other.samples_ms:
        return None
    d = compare(base.samples_ms, other.samples_ms)
    paid = d.significant and d.diff < 0
    line = (f"{what}: {other.config.label} vs {base.config.label}: x{d.ratio:.2f} "
            f"({d.diff:+.2f} ms, 95% CI {d.ci_low:+.2f} to {d.ci_high:+.2f}): "
            + ("paid" if paid else "slower" if d.significant else "no significant change"))
    return {"what": what, "base": base.config.label, "other": other.config.label, "paid": paid, "line": line,
            "difference": to_dict(d)}


def verdict(results: list[BenchResult]) -> dict[str, Any]:
    best = _best(results)
    out: dict[str, Any] = {"best": None, "lines": [], "comparisons": []}
    if best is None or best.summary is None:
        out["lines"].append("no configuration passed its golden check: nothing to recommend")
        return out
    s = best.summary
    out["best"] = to_dict(best.config)
    out["lines"].append(f"fastest passing: {best.config.label}: p50 {s.p50:.2f} ms "
                        f"(95% CI {s.ci_low:.2f}-{s.ci_high:.2f}, n={s.n})")
    engines = dict.fromkeys(r.config.engine for r in results)
    for e in engines:
        mine = [r for r in results if r.config.engine == e]
        cmp = _paid(f"int8 on {e}", _best([r for r in mine if r.config.precision == "fp32"]),
                    _best([r for r in mine if r.config.precision == "int8"]))
        if cmp:
            out["comparisons"].append(cmp)
        for p in dict.fromkeys(r.config.precision for r in mine):
            for cores in dict.fromkeys(r.config.cores for r in mine):
                group = sorted((r for r in mine if (r.config.precision, r.config.cores) == (p, cores)),
                               key=lambda r: r.config.threads)
                if len(group) > 1:
                    cmp = _paid(f"threads on {e} {p} {cores}", group[0], _best(group[1:]))
                    if cmp:
                        out["comparisons"].append(cmp)
    out["lines"] += [c["line"] for c in out["comparisons"]]
    return out


@dataclass
class BenchReport:
    model: str
    model_sha256: str
    board: dict[str, Any]
    fingerprint: dict[str, Any]
    plan: BenchPlan
    run: BenchRun
    host: list[Any] = field(default_factory=list)
    quantization: dict[str, Any] = field(default_factory=dict)
    verdict: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    path: str | None = None

    @classmethod
    def build(cls, model: Path, sha256: str, entry: BoardEntry, profile: BoardProfile, plan: BenchPlan,
              run: BenchRun, host: Any, bundle_id: str) -> BenchReport:
        from sdk.report import DeployReport

        deploy_rows = DeployReport.start(model, entry, profile, "fp32", 0, host.results)
        deploy_rows.add_quantization(host.quant)
        fingerprint = {
            "board": entry.name, "profile": profile.name, "emulated": entry.emulated,
            "qemu_cpu": profile.qemu_cpu if entry.emulated else None,
            "cpus": [to_dict(c) for c in run.topology.cpus], "clusters": run.topology.clusters,
            "unread": run.topology.unread, "platform": run.platform, "sdk": sdk.__version__,
            "model_sha256": sha256, "bundle_id": bundle_id, "settings": to_dict(plan),
        }
        rep = cls(model=str(model), model_sha256=sha256, fingerprint=fingerprint, plan=plan, run=run,
                  board=deploy_rows.board, host=deploy_rows.host, quantization=deploy_rows.quantization,
                  notes=[n for n in deploy_rows.notes if n != EMULATED_NOTE])
        if entry.emulated:
            rep.notes.append("EMULATED: every figure is QEMU user-mode on x86, not the board's")
        rep.notes += [f"could not read: {u}" for u in run.topology.unread]
        rep.notes += [f"topology: {m}" for m in run.topology.mismatch]
        rep.verdict = verdict(run.results)
        return rep

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "bench", "ok": any(r.ok for r in self.run.results), "model": self.model,
                "model_sha256": self.model_sha256, "board": self.board,
                "fingerprint": self.fingerprint, "results": to_dict(self.run.results),
                "host_validation": to_dict(self.host),
                "quantization": {e: q.to_dict() for e, q in self.quantization.items()},
                "verdict": self.verdict, "notes": self.notes, "seconds": round(self.seconds, 3),
                "created": datetime.now(UTC).isoformat(timespec="seconds")}

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"bench-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
        self.path = str(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        doc = self.to_dict()
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        tmp.replace(path)
        from sdk.report.history import record

        record(doc)  # the history sdk report lists and compares
        return path

    def render(self, console: Any = None) -> None:
        from rich import box
        from rich.console import Console
        from rich.table import Table

        console = console or Console()
        b = self.board
        emu = f", EMULATED {b['qemu_cpu']}: QEMU timings" if b["emulated"] else ""
        console.print(f"{Path(self.model).name} on {b['name']} ({b['profile']}{emu})")
        lat = Table(title="latency per inference, ms (warm-up discarded)", title_justify="left",
                    box=box.SIMPLE_HEAD)
        for c in ("configuration", "p50", "95% CI of p50", "p90", "p99", "CV", "n"):
            lat.add_column(c, justify="left" if c == "configuration" else "right")
        run = Table(title="on the board: load and first inference ms, peak RSS MB above the interpreter",
                    title_justify="left", box=box.SIMPLE_HEAD)
        for c in ("configuration", "check", "load", "first", "RSS", "pinned", "ran on", "flags"):
            run.add_column(c, justify="right" if c in ("load", "first", "RSS", "flags") else "left")
        for r in self.run.results:
            s = r.summary
            if s is not None:
                lat.add_row(r.config.label, f"{s.p50:.2f}", f"{s.ci_low:.2f}-{s.ci_high:.2f}", f"{s.p90:.2f}",
                            f"{s.p99:.2f}", f"{s.cv:.1%}", str(s.n))
            run.add_row(r.config.label, "ok" if r.ok else "FAILED",
                        *(f"{v:.0f}" if v is not None else "-"
                          for v in (r.load_ms, r.first_ms, r.peak_rss_mb)),
                        ",".join(map(str, r.cpus_used)) or "any", ",".join(map(str, r.thread_cpus)) or "-",
                        str(len(r.flags)) if r.flags else "")
        console.print(lat)
        console.print(run)
        self._render_details(console)
        for n in self.notes:
            console.print(f"note: {n}")
        for line in self.verdict.get("lines", []):
            console.print(f"verdict: {line}")
        console.print(f"report: {self.path}")

    def _render_details(self, console: Any) -> None:
        from rich import box
        from rich.table import Table

        methods: dict[str, str] = {}
        for r in self.run.results:
            for f in r.flags:
                console.print(f"flag ({r.config.label}): {f}")
            if r.error:
                console.print(f"FAILED ({r.config.label}): {r.error}")
            if r.overhead and r.overhead.get("overhead") is not None:
                o = r.overhead
                console.print(f"runner overhead ({r.config.label}): {o['overhead']:+.1%} "
                              f"({o['runner_ms']:.2f} ms vs the engine's bare loop {o['bare_ms']:.2f} ms)")
            if r.frame:
                st = r.frame["stages"]
                parts = ", ".join(f"{k} {v['mean']:.2f} ({v['share']:.0%})" for k, v in st.items())
                console.print(f"frame ({r.config.label}): {r.frame['frame']['mean']:.2f} ms = {parts} "
                              f"[{r.frame['preprocess_impl']}, {r.frame['postprocess_kernel']}]")
            if r.layers:
                methods[r.config.engine] = r.layer_method or ""
                lt = Table(title=f"slowest layers, {r.config.label}", title_justify="left",
                           box=box.SIMPLE_HEAD)
                for c in ("layer", "type", "ms", "share"):
                    lt.add_column(c, justify="left" if c in ("layer", "type") else "right")
                total = sum(x.ms for x in r.layers) or 1.0
                for x in r.layers[:5]:
                    lt.add_row(x.name, x.type, f"{x.ms:.3f}", f"{x.ms / total:.1%}")
                console.print(lt)
        for engine, how in methods.items():
            console.print(f"layer times ({engine}): {how}")
