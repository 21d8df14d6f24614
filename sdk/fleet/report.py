"""A fleet run's result: one entry per board, a summary table, the spread per profile."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

PASS, FAIL, SKIPPED, INTERRUPTED = "pass", "FAIL", "skipped", "interrupted"


@dataclass
class BoardRun:
    """One board of the fleet: what happened on it, and its report if it ran."""

    place: str
    profile: str | None
    address: str | None
    status: str = FAIL
    error: str | None = None
    seconds: float = 0.0
    emulated: bool = False
    p50_ms: dict[str, float] = field(default_factory=dict)  # model variant / configuration -> p50
    report: dict[str, Any] | None = None  # the board's deploy or bench report (its JSON form)
    report_path: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == PASS


@dataclass
class FleetReport:
    kind: str  # deploy | bench
    model: str
    coordinator: str
    tags: dict[str, str]
    boards: list[BoardRun] = field(default_factory=list)
    seconds: float = 0.0
    released: bool = True  # every place this run held was released
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every matching board ran and passed (a skipped board is not a pass)."""
        return bool(self.boards) and all(b.ok for b in self.boards)

    def spread(self) -> list[dict[str, Any]]:
        """Per profile and variant, p50 across the boards that passed: min, median, max and
        the spread (max - min) / median."""
        groups: dict[tuple[str, str], list[float]] = {}
        for b in self.boards:
            for variant, p50 in b.p50_ms.items() if b.ok else ():
                groups.setdefault((b.profile or "?", variant), []).append(p50)
        out = []
        for (profile, variant), vals in sorted(groups.items()):
            med = statistics.median(vals)
            out.append({"profile": profile, "variant": variant, "boards": len(vals), "min_ms": min(vals),
                        "median_ms": med, "max_ms": max(vals),
                        "spread_pct": 100.0 * (max(vals) - min(vals)) / med if med > 0 and len(vals) > 1
                        else None})
        return out

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for b in self.boards:
            out[b.status] = out.get(b.status, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"kind": f"fleet-{self.kind}", "ok": self.ok, "model": self.model,
                "coordinator": self.coordinator, "tags": self.tags, "seconds": round(self.seconds, 3),
                "released": self.released, "counts": self.counts(), "notes": self.notes,
                "boards": [asdict(b) for b in self.boards], "spread": self.spread()}

    def render(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.table import Table

        console = console or Console()
        variants = sorted({v for b in self.boards for v in b.p50_ms})
        t = Table(title=f"{self.kind} of {self.model} on {len(self.boards)} boards from {self.coordinator}",
                  title_justify="left")
        for c in ("place", "profile", "address", "result", *(f"{v} p50 ms" for v in variants), "s", "error"):
            t.add_column(c, justify="right" if c.endswith(("ms", " s")) or c == "s" else "left")
        for b in self.boards:
            lat = ["-" if v not in b.p50_ms else f"{b.p50_ms[v]:.2f}" for v in variants]
            t.add_row(b.place, b.profile or "-", b.address or "-", b.status, *lat, f"{b.seconds:.0f}",
                      (b.error or "")[:160])
        console.print(t)
        spread = self.spread()
        if spread:
            s = Table(title="spread across boards of the same profile (p50 of the boards that passed)",
                      title_justify="left")
            for c in ("profile", "variant", "boards", "min ms", "median ms", "max ms", "spread"):
                s.add_column(c, justify="left" if c in ("profile", "variant") else "right")
            for r in spread:
                s.add_row(r["profile"], r["variant"], str(r["boards"]), f"{r['min_ms']:.2f}",
                          f"{r['median_ms']:.2f}", f"{r['max_ms']:.2f}",
                          "-" if r["spread_pct"] is None else f"{r['spread_pct']:.1f}%")
            console.print(s)
        if any(b.emulated for b in self.boards):
            console.print("note: emulated boards (QEMU user-mode on x86): their timings are QEMU's, "
                          "not a board's")
        for n in self.notes:
            console.print(f"note: {n}")
        counts = ", ".join(f"{n} {k}" for k, n in sorted(self.counts().items()))
        console.print(f"{'PASS' if self.ok else 'FAIL'}: {counts or 'no boards'} in {self.seconds:.1f}s; "
                      + ("every place released" if self.released else "NOT every place was released"))
