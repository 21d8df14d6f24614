"""Compare two results: per configuration in both, the change of the median with a
bootstrap interval and a verdict; whether the outputs still agree; what differs in the
fingerprints. The exit code gates CI.

    0  nothing regressed
    3  a configuration is significantly slower, by more than the threshold
    4  an accuracy drop: outputs that no longer agree, or a golden check that now fails
    5  both
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sdk.device.stats import compare as compare_samples
from sdk.errors import SdkError
from sdk.records import to_dict
from sdk.report.history import rows

EXIT_OK, EXIT_SLOWER, EXIT_ACCURACY, EXIT_BOTH = 0, 3, 4, 5
DEFAULT_THRESHOLD_PCT = 10.0
AGREEMENT = 0.999  # outputs of the same model on the same board: below this they changed


@dataclass
class ConfigChange:
    label: str
    verdict: str  # faster | slower | no significant change | slower, within the threshold
    regressed: bool
    speed: dict[str, Any] | None
    agreement: dict[str, float]  # output -> cosine between the two runs' outputs
    accuracy_drop: list[str] = field(default_factory=list)


@dataclass
class Comparison:
    a: str
    b: str
    threshold_pct: float
    changes: list[ConfigChange]
    only_a: list[str]
    only_b: list[str]
    fingerprint: dict[str, tuple[Any, Any]]

    @property
    def exit_code(self) -> int:
        slower = any(c.regressed for c in self.changes)
        worse = any(c.accuracy_drop for c in self.changes)
        return (
            EXIT_BOTH if slower and worse else EXIT_SLOWER if slower else EXIT_ACCURACY if worse else EXIT_OK
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = to_dict(self)
        d["exit_code"] = self.exit_code
        return d


def _values(v: list[float | None]) -> np.ndarray:
    return np.asarray([np.nan if x is None else x for x in v], dtype=np.float64)


def _cosine(a: list[float | None], b: list[float | None]) -> float:
    x, y = _values(a), _values(b)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return float("nan")
    if x.shape != y.shape or x.size == 0:
        return float("nan")
    nx, ny = np.linalg.norm(x), np.linalg.norm(y)
    if nx == 0 and ny == 0:
        return 1.0
    return float(x @ y / (nx * ny)) if nx and ny else 0.0


def _agreement(ra: dict[str, Any], rb: dict[str, Any]) -> dict[str, float]:
    oa, ob = ra.get("outputs") or {}, rb.get("outputs") or {}
    out = {}
    for name in oa:
        if name not in ob:
            continue
        same_layout = oa[name].get("shape") == ob[name].get("shape") and oa[name].get("stride") == ob[
            name].get("stride")
        out[name] = _cosine(oa[name]["values"], ob[name]["values"]) if same_layout else float("nan")
    return out


def _fingerprint(doc: dict[str, Any]) -> dict[str, Any]:
    fp = doc.get("fingerprint") or {}
    plat = fp.get("platform") or (doc.get("device") or {}).get("platform") or {}
    keys = ("ncnn", "MNN", "numpy", "python", "kernel", "machine", "qemu_cpu")
    out = {k: plat.get(k) for k in keys if k in plat}
    out.update(
        {
            "sdk": fp.get("sdk"),
            "board": doc.get("board", {}).get("name"),
            "profile": doc.get("board", {}).get("profile"),
            "emulated": doc.get("board", {}).get("emulated"),
        }
    )
    return out


def _change(a: dict[str, Any], b: dict[str, Any], threshold_pct: float) -> ConfigChange:
    speed = None
    verdict, regressed = "no samples to compare", False
    if not a["ok"] or not b["ok"]:  # a run that failed its golden check has no speed to compare
        verdict = ("both failed their golden check" if not a["ok"] and not b["ok"] else
                   "B fails its golden check" if a["ok"] else "A failed its golden check; B passes")
    elif a["samples"] and b["samples"]:
        d = compare_samples(a["samples"], b["samples"])
        speed = to_dict(d)
        verdict = d.verdict
        if d.verdict == "slower":
            regressed = (d.ratio - 1) * 100 > threshold_pct
            if not regressed:
                verdict = f"slower, within the {threshold_pct:g}% threshold"
    agreement = _agreement(a, b) if a["ok"] and b["ok"] else {}
    drop = [
        f"output {k}: cosine {v:.6f} between the runs" for k, v in agreement.items() if not v >= AGREEMENT
    ]
    if a["ok"] and not b["ok"]:
        err = (b.get("result") or {}).get("error")
        drop.append("the golden check passed in A and fails in B" + (f": {err}" if err else ""))
    if not a["ok"] and not b["ok"]:
        drop.append("neither run passed its golden check: nothing to compare")
    return ConfigChange(a["label"], verdict, regressed, speed, agreement, drop)


def compare(
    doc_a: dict[str, Any],
    doc_b: dict[str, Any],
    *,
    name_a: str = "A",
    name_b: str = "B",
    threshold_pct: float = DEFAULT_THRESHOLD_PCT,
) -> Comparison:
    """B against A, configuration by configuration (see the module's docstring)."""
    sha_a, sha_b = doc_a.get("model_sha256"), doc_b.get("model_sha256")
    if sha_a and sha_b and sha_a != sha_b:
        raise SdkError(
            "the two results are of different models",
            found=f"{doc_a.get('model')} ({sha_a[:12]}) and {doc_b.get('model')} ({sha_b[:12]})",
            fix="compare results of one model (sdk report list --model M)",
        )
    ra = {r["key"]: r for r in rows(doc_a)}
    rb = {r["key"]: r for r in rows(doc_b)}
    both = [k for k in ra if k in rb]
    if not both:
        raise SdkError(
            "the two results share no configuration",
            found=f"{len(ra)} and {len(rb)} configurations",
            fix="bench the same engines, precisions, threads and cores",
        )
    fa, fb = _fingerprint(doc_a), _fingerprint(doc_b)
    return Comparison(
        a=name_a,
        b=name_b,
        threshold_pct=threshold_pct,
        changes=[_change(ra[k], rb[k], threshold_pct) for k in both],
        only_a=[ra[k]["label"] for k in ra if k not in rb],
        only_b=[rb[k]["label"] for k in rb if k not in ra],
        fingerprint={k: (fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)},
    )


def render(c: Comparison, console: Any = None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    t = Table(
        title=f"{c.b} against {c.a}: median latency (ms), 95% CI of the change",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for col in ("configuration", "A p50", "B p50", "change", "95% CI", "verdict", "outputs"):
        t.add_column(col, justify="right" if col in ("A p50", "B p50", "change", "95% CI") else "left")
    for ch in c.changes:
        s = ch.speed
        agree = min(ch.agreement.values()) if ch.agreement else None
        t.add_row(
            ch.label,
            f"{s['median_a']:.2f}" if s else "-",
            f"{s['median_b']:.2f}" if s else "-",
            f"{(s['ratio'] - 1):+.1%}" if s else "-",
            f"{s['ci_low']:+.2f}..{s['ci_high']:+.2f}" if s else "-",
            ch.verdict.upper() if ch.regressed else ch.verdict,
            "CHANGED" if ch.accuracy_drop else (f"cos {agree:.6f}" if agree is not None else "-"),
        )
    console.print(t)
    for ch in c.changes:
        for d in ch.accuracy_drop:
            console.print(f"accuracy ({ch.label}): {d}")
    for label in c.only_a:
        console.print(f"only in {c.a}: {label}")
    for label in c.only_b:
        console.print(f"only in {c.b}: {label}")
    for k, (va, vb) in c.fingerprint.items():
        console.print(f"fingerprint: {k}: {va} -> {vb}")
    code = c.exit_code
    what = {
        EXIT_OK: "no regression",
        EXIT_SLOWER: "SLOWER beyond the threshold",
        EXIT_ACCURACY: "ACCURACY DROP",
        EXIT_BOTH: "SLOWER and ACCURACY DROP",
    }[code]
    console.print(f"verdict: {what} (threshold {c.threshold_pct:g}%, exit {code})")
