"""The history of results: every ``sdk deploy`` and ``sdk bench`` report, kept under the cache.

    <cache>/history/<model sha256[:16]>/<board>/<time>-<kind>-<pid>.json

One file per result, written under a unique name and renamed into place, so two deploys
writing at once both land whole (nothing to lock). References: a result file's path, or
``last``, ``last~1``... (newest first, among the results that match the filters).
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdk.errors import SdkError
from sdk.paths import cache_dir

KINDS = ("deploy", "bench")


def history_dir() -> Path:
    return cache_dir() / "history"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "_"


def record(doc: dict[str, Any]) -> Path:
    """Keep a report document (as its ``to_dict`` gives it) in the history; its path."""
    sha = str(doc.get("model_sha256") or "unknown")[:16]
    board = _safe(str(doc.get("board", {}).get("name", "unknown")))
    d = history_dir() / sha / board
    d.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{time.time_ns() % 1_000_000_000:09d}"
    path = d / f"{stamp}-{doc.get('kind', 'deploy')}-{os.getpid()}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)
    return path


@dataclass
class Entry:
    path: Path
    kind: str
    model: str
    model_sha256: str
    board: str
    created: str
    ok: bool
    configs: list[str]


def _entry(path: Path) -> Entry | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or "board" not in doc:
        return None
    return Entry(
        path=path,
        kind=str(doc.get("kind", "deploy")),
        model=Path(str(doc.get("model", "?"))).name,
        model_sha256=str(doc.get("model_sha256", "")),
        board=str(doc["board"].get("name", "?")),
        created=str(doc.get("created", "")),
        ok=bool(doc.get("ok", doc.get("verdict", {}).get("best"))),
        configs=[r["label"] for r in rows(doc)],
    )


def entries(model: str | None = None, board: str | None = None, kind: str | None = None) -> list[Entry]:
    """Every kept result, newest first; ``model`` matches a file name, a stem or a sha256 prefix."""
    found = []
    for p in history_dir().glob("*/*/*.json"):
        e = _entry(p)
        if e is None:
            continue
        if model and model not in (e.model, Path(e.model).stem) and not e.model_sha256.startswith(model):
            continue
        if (board and e.board != board) or (kind and e.kind != kind):
            continue
        found.append(e)
    return sorted(found, key=lambda e: e.path.name, reverse=True)


def resolve(ref: str, model: str | None = None, board: str | None = None) -> Path:
    """A result file: a path, or ``last`` / ``last~N`` in the history."""
    m = re.fullmatch(r"last(?:~(\d+))?", ref)
    if not m:
        path = Path(ref)
        if not path.is_file():
            raise SdkError(
                f"no result file {ref}",
                expected="a result JSON, or last / last~N from the history",
                fix="'sdk report list' shows the history",
            )
        return path
    n = int(m.group(1) or 0)
    found = entries(model, board)
    if not found:
        raise SdkError(
            "the history is empty" + (f" for {model or ''} {board or ''}".rstrip() if model or board else ""),
            fix="run 'sdk deploy' or 'sdk bench' first: each keeps its result",
        )
    if n >= len(found):
        raise SdkError(
            f"{ref}: the history holds {len(found)} result(s)", expected=f"last~0 .. last~{len(found) - 1}"
        )
    return found[n].path


def load(path: Path) -> dict[str, Any]:
    """A result document; a file that is not one is a one-line error."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise SdkError(
            f"{path} is not a result",
            expected="the JSON of sdk deploy or sdk bench",
            found=type(exc).__name__,
        ) from None
    if not isinstance(doc, dict) or "board" not in doc or not ({"results", "device"} & set(doc)):
        raise SdkError(
            f"{path} is not a result",
            expected="the JSON of sdk deploy or sdk bench",
            found="a JSON without board and results",
        )
    return doc


def rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per configuration of a result, bench or deploy alike: label, key, samples,
    the golden check, the output sample."""
    out = []
    if doc.get("kind") == "bench":
        for r in doc.get("results", []):
            c = r["config"]
            out.append(
                {
                    "key": (c["engine"], c["precision"], c["threads"], c["cores"]),
                    "label": f"{c['engine']} {c['precision']} {c['threads']}t {c['cores']}",
                    "ok": r.get("ok", False),
                    "samples": r.get("samples_ms", []),
                    "outputs": r.get("output_sample", {}),
                    "summary": r.get("summary"),
                    "result": r,
                }
            )
        return out
    threads = doc.get("threads")
    for r in (doc.get("device") or {}).get("results", []):
        out.append(
            {
                "key": (r["engine"], r["precision"], threads, "big"),
                "label": f"{r['engine']} {r['precision']} {threads}t big",
                "ok": r.get("ok", False),
                "samples": r.get("samples_ms", []),
                "outputs": r.get("output_sample", {}),
                "summary": r.get("latency_ms"),
                "result": r,
            }
        )
    return out
