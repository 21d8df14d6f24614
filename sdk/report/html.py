"""One self-contained HTML page of results for people: plots embedded, nothing fetched.

matplotlib draws each plot once into a PNG embedded as base64: the page opens offline, in a
mail attachment or a CI artefact, and weighs tens of kilobytes, where an interactive plotly
page would carry ~3.5 MB of JavaScript for plots nobody needs to zoom.

Sections: a summary per result (board, fingerprint, verdict), latency distributions per
configuration, thread scaling, int8 against fp32, per-layer bars, per-stage bars of a frame,
frequency and temperature over the run, and with two results a comparison.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sdk.report.history import rows

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
CSS = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 18px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
.note { color: #555; font-size: 13px; } .bad { color: #b00; font-weight: bold; } .ok { color: #070; }
.emu { background: #fff3cd; padding: 6px 10px; border: 1px solid #e0c36a; }
img { max-width: 100%; display: block; margin: 8px 0 20px; }
"""


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def _fig(w: float = 10, h: float = 4) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(w, h))
    ax.grid(True, alpha=0.3)
    return fig, ax


def _distributions(rs: list[dict[str, Any]]) -> str:
    data = [(r["label"], r["samples"]) for r in rs if r["samples"]]
    if not data:
        return ""
    fig, ax = _fig(10, 0.5 * len(data) + 1.5)
    colors = [COLORS[i % len(COLORS)] for i in range(len(data))]
    _boxes(ax, [s for _, s in data], [lbl for lbl, _ in data], colors)
    ax.set_xlabel("latency per inference (ms), every sample after warm-up")
    return _png(fig)


def _boxes(ax: Any, samples: list[list[float]], labels: list[str], colors: list[str]) -> None:
    """Horizontal box plots, filled, with every sample drawn over its box."""
    import numpy as np

    bp = ax.boxplot(samples, orientation="horizontal", tick_labels=labels, showfliers=False,
                    patch_artist=True, medianprops={"color": "black"})
    for patch, c in zip(bp["boxes"], colors, strict=True):
        patch.set_facecolor(c)
        patch.set_alpha(0.55)
    rng = np.random.default_rng(0)
    for i, (s, c) in enumerate(zip(samples, colors, strict=True), start=1):
        ax.scatter(s, i + rng.uniform(-0.12, 0.12, len(s)), s=10, color=c, zorder=3)


def _ab_plot(cmp: Any, docs: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """A's and B's samples of every configuration they share, one above the other."""
    ra = {r["label"]: r["samples"] for r in rows(docs[0][1])}
    rb = {r["label"]: r["samples"] for r in rows(docs[1][1])}
    samples, labels, colors = [], [], []
    for ch in cmp.changes:
        for side, src, color in (("A", ra, COLORS[0]), ("B", rb, COLORS[1])):
            if src.get(ch.label):
                samples.append(src[ch.label])
                labels.append(f"{ch.label} [{side}]")
                colors.append(color)
    if not samples:
        return ""
    fig, ax = _fig(10, 0.45 * len(samples) + 1.5)
    _boxes(ax, samples, labels, colors)
    ax.invert_yaxis()
    ax.set_xlabel(f"latency per inference (ms): A = {cmp.a}, B = {cmp.b}")
    return _png(fig)


def _scaling(rs: list[dict[str, Any]]) -> str:
    groups: dict[tuple[str, str, str], list[tuple[int, float, float, float]]] = {}
    for r in rs:
        s, (e, p, t, c) = r["summary"], r["key"]
        if s and isinstance(t, int) and "ci_low" in s:
            groups.setdefault((e, p, c), []).append((t, s["p50"], s["ci_low"], s["ci_high"]))
    groups = {k: sorted(v) for k, v in groups.items() if len({t for t, *_ in v}) > 1}
    if not groups:
        return ""
    fig, ax = _fig()
    for i, ((e, p, c), pts) in enumerate(groups.items()):
        t, m, lo, hi = zip(*pts, strict=True)
        ax.errorbar(
            t,
            m,
            yerr=[[a - b for a, b in zip(m, lo, strict=True)], [b - a for a, b in zip(m, hi, strict=True)]],
            marker="o",
            capsize=4,
            color=COLORS[i % len(COLORS)],
            label=f"{e} {p} {c}",
        )
    ax.set_xlabel("threads")
    ax.set_ylabel("p50 latency (ms), 95% CI")
    ax.set_xticks(sorted({t for pts in groups.values() for t, *_ in pts}))
    ax.legend()
    return _png(fig)


def _int8(rs: list[dict[str, Any]]) -> str:
    pairs = []
    for r in rs:
        e, p, t, c = r["key"]
        if p == "int8" and r["summary"]:
            base = next((x for x in rs if x["key"] == (e, "fp32", t, c) and x["summary"]), None)
            if base:
                pairs.append((f"{e} {t}t {c}", base["summary"]["p50"], r["summary"]["p50"]))
    if not pairs:
        return ""
    fig, ax = _fig(10, 0.6 * len(pairs) + 1.5)
    y = range(len(pairs))
    ax.barh([i + 0.2 for i in y], [b for _, b, _ in pairs], height=0.4, label="fp32", color=COLORS[0])
    ax.barh([i - 0.2 for i in y], [q for *_, q in pairs], height=0.4, label="int8", color=COLORS[1])
    ax.set_yticks(list(y), [lbl for lbl, *_ in pairs])
    ax.set_xlabel("p50 latency (ms)")
    ax.legend()
    return _png(fig)


def _layers(r: dict[str, Any]) -> str:
    layers = r["result"].get("layers") or []
    if not layers:
        return ""
    top = layers[:15][::-1]
    fig, ax = _fig(10, 0.3 * len(top) + 1.2)
    ax.barh([f"{x['name']} ({x['type']})" for x in top], [x["ms"] for x in top], color=COLORS[2])
    ax.set_xlabel(f"ms per layer, {r['label']}")
    return _png(fig)


def _stages(rs: list[dict[str, Any]]) -> str:
    frames = [(r["label"], r["result"]["frame"]) for r in rs if r["result"].get("frame")]
    if not frames:
        return ""
    fig, ax = _fig(10, 0.5 * len(frames) + 1.5)
    names = list(frames[0][1]["stages"])
    left = [0.0] * len(frames)
    for i, st in enumerate(names):
        vals = [f["stages"][st]["mean"] for _, f in frames]
        ax.barh([lbl for lbl, _ in frames], vals, left=left, color=COLORS[i % len(COLORS)], label=st)
        left = [a + b for a, b in zip(left, vals, strict=True)]
    ax.set_xlabel("ms per frame (mean): u8 image -> preprocessing -> inference -> post-processing")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(names))
    return _png(fig)


def _clocks(r: dict[str, Any]) -> str:
    clocks = r["result"].get("clocks") or []
    freq = {k for c in clocks for k in c["freq_khz"]}
    temp = {k for c in clocks for k in c["temp_c"]}
    if not clocks or not (freq or temp):
        return ""
    fig, ax = _fig()
    t = [c["t"] for c in clocks]
    for i, cpu in enumerate(sorted(freq, key=int)):
        ax.plot(
            t,
            [c["freq_khz"].get(cpu, float("nan")) / 1000 for c in clocks],
            color=COLORS[i % 8],
            label=f"cpu{cpu} MHz",
        )
    ax.set_xlabel("seconds into the run")
    ax.set_ylabel("MHz")
    if temp:
        ax2 = ax.twinx()
        for i, z in enumerate(sorted(temp)):
            ax2.plot(
                t,
                [c["temp_c"].get(z, float("nan")) for c in clocks],
                "--",
                color=COLORS[(i + 4) % 8],
                label=f"{z} C",
            )
        ax2.set_ylabel("C")
        ax2.legend(loc="lower right")
    if freq:
        ax.legend(loc="lower left")
    return _png(fig)


def _table(head: Sequence[str], body: Sequence[Sequence[object]]) -> str:
    th = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in body)
    return f"<table><tr>{th}</tr>{trs}</table>"


def _ms(v: Any) -> str:
    return "-" if v is None else f"{float(v):.2f}"


def _result_section(doc: dict[str, Any], name: str) -> str:
    rs = rows(doc)
    b = doc["board"]
    parts = [
        f"<h2>{html.escape(name)}: {html.escape(Path(str(doc['model'])).name)} on "
        f"{html.escape(str(b['name']))} ({html.escape(str(b['profile']))}), "
        f"{html.escape(doc.get('kind', 'deploy'))}</h2>"
    ]
    if b.get("emulated"):
        parts.append(
            '<p class="emu">EMULATED board (QEMU user mode on x86): timings are QEMU\'s, not the '
            "board's.</p>"
        )
    body = []
    for r in rs:
        s = r["summary"] or {}
        ci = f"{s['ci_low']:.2f}-{s['ci_high']:.2f}" if "ci_low" in s else "-"
        body.append([r["label"], "ok" if r["ok"] else "FAILED", _ms(s.get("p50")), ci, _ms(s.get("p90")),
                     _ms(s.get("p99")), len(r["samples"])])
    parts.append(_table(("configuration", "check", "p50 ms", "95% CI", "p90", "p99", "samples"), body))
    for r in rs:
        err = r["result"].get("error")
        if not r["ok"] and err:
            parts.append(f'<p class="bad">{html.escape(r["label"])} FAILED: {html.escape(str(err))}</p>')
    for line in (doc.get("verdict") or {}).get("lines", []):
        parts.append(f'<p class="ok">verdict: {html.escape(line)}</p>')
    for n in doc.get("notes", []):
        if not str(n).startswith(("EMULATED", "emulated board")):  # the banner says it
            parts.append(f'<p class="note">note: {html.escape(str(n))}</p>')
    for title, img in (
        ("Latency distributions", _distributions(rs)),
        ("Thread scaling", _scaling(rs)),
        ("int8 against fp32", _int8(rs)),
        ("Per stage of a frame", _stages(rs)),
    ):
        if img:
            parts.append(f"<h3>{title}</h3>{img}")
    layered = set()
    for r in rs:  # the slowest layers once per engine and precision; the clocks of every run
        ep = r["key"][:2]
        if r["result"].get("layers") and ep not in layered:
            layered.add(ep)
            parts.append(f"<h3>{html.escape('Slowest layers: ' + r['label'])}</h3>{_layers(r)}")
        img = _clocks(r)
        if img:
            parts.append(f"<h3>{html.escape('Frequency and temperature: ' + r['label'])}</h3>{img}")
    fp = doc.get("fingerprint")
    if fp:
        keep = {k: v for k, v in fp.items() if k not in ("settings", "cpus", "platform")}
        keep.update({f"board {k}": v for k, v in (fp.get("platform") or {}).items()})
        parts.append("<h3>Fingerprint</h3>" + _table(("field", "value"), [(k, v) for k, v in keep.items()]))
    return "\n".join(parts)


def _comparison_section(cmp: Any, docs: Sequence[tuple[str, dict[str, Any]]] = ()) -> str:
    body = []
    for ch in cmp.changes:
        s = ch.speed or {}
        agree = min(ch.agreement.values()) if ch.agreement else None
        body.append([ch.label, _ms(s.get("median_a")), _ms(s.get("median_b")),
                     f"{s['ratio'] - 1:+.1%}" if "ratio" in s else "-",
                     f"{s['ci_low']:+.2f}..{s['ci_high']:+.2f} ms" if "ci_low" in s else "-", ch.verdict,
                     "CHANGED" if ch.accuracy_drop else (f"cos {agree:.6f}" if agree is not None else "-")])
    out = [
        f"<h2>Comparison: {html.escape(cmp.b)} against {html.escape(cmp.a)}</h2>",
        _table(("configuration", "A p50 ms", "B p50 ms", "change", "95% CI of B - A", "verdict", "outputs"),
               body),
    ]
    out += [
        f'<p class="note">fingerprint: {html.escape(k)}: {html.escape(str(a))} -> {html.escape(str(b))}</p>'
        for k, (a, b) in cmp.fingerprint.items()
    ]
    if len(docs) == 2:
        out.append(_ab_plot(cmp, docs))
    out += [f'<p class="bad">{html.escape(ch.label)}: {html.escape(d)}</p>' for ch in cmp.changes
            for d in ch.accuracy_drop]
    code = cmp.exit_code
    out.append(
        f'<p class="{"bad" if code else "ok"}">verdict: '
        f"{'regression' if code else 'no regression'} (exit {code})</p>"
    )
    return "\n".join(out)


def write_html(docs: Sequence[tuple[str, dict[str, Any]]], out: Path) -> Path:
    """The page for ``docs`` (name, result document); with two results, their comparison too."""
    from sdk.report.compare import compare

    sections = [_result_section(d, n) for n, d in docs]
    if len(docs) == 2:
        try:
            sections.insert(
                0,
                _comparison_section(
                    compare(docs[0][1], docs[1][1], name_a=docs[0][0], name_b=docs[1][0]), docs
                ),
            )
        except Exception as exc:  # results that cannot be compared still get their own sections
            sections.insert(0, f'<p class="note">no comparison: {html.escape(str(exc))}</p>')
    page = (
        '<!doctype html><html><head><meta charset="utf-8"><title>edge-sdk report</title>'
        f"<style>{CSS}</style></head><body><h1>edge-sdk report</h1>\n"
        + "\n".join(sections)
        + "</body></html>\n"
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(page)
    tmp.replace(out)
    return out


def write_page(doc: dict[str, Any], name: str, out: Path) -> Path:
    """``--html FILE`` of sdk deploy and sdk bench: the page of one result; says where on stderr."""
    import sys

    path = write_html([(name, doc)], out)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)", file=sys.stderr)
    return path
