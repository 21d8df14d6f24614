"""``sdk convert`` over ONNX's own node conformance tests: a per-op coverage table.

    python -m sdk.tools.conformance [--ops Conv,MaxPool] [--per-op N] [--jobs N] [--json]
    python -m sdk.tools.conformance --from RUN.json --readme README.md   # the README's table

Every case of ``onnx.backend.test.case.node`` whose single node is a vision op is built into
a model the way a real model would have it (the first float input stays an input; weights
and integer side inputs become initializers), then run through the real CLI,
``python -m sdk convert MODEL --json``, as a new user would. Each run must end in JSON or
exactly one ``error:`` line, never a signal or a traceback. For every engine the SDK calls
ok, the converted model is run on the test's own inputs and compared with the test's
expected outputs: an "ok" that disagrees is a *wrong ok*, the one thing that must never be.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sdk import engines

# ops of vision models, in the order the table prints them
VISION_OPS = (
    "Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
    "BatchNormalization", "InstanceNormalization", "LayerNormalization", "Relu", "LeakyRelu",
    "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu", "Selu", "Softplus", "Mish",
    "Gelu", "Erf", "Softmax", "LogSoftmax", "Clip", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt",
    "Exp", "Log", "Abs", "Neg", "Reciprocal", "Floor", "Ceil", "Min", "Max", "Sum", "Mean",
    "Concat", "Split", "Slice", "Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze",
    "Gather", "Pad", "Resize", "DepthToSpace", "SpaceToDepth", "Tile", "Expand", "ReduceMean",
    "ReduceMax", "ReduceMin", "ReduceSum", "ReduceProd", "ReduceL2", "ArgMax", "ArgMin", "TopK",
    "MatMul", "Gemm", "Einsum", "Dropout", "Identity",
)
# ops whose float inputs are all data (the rest take one data input and parameters)
_DATA_INPUTS = {"Add", "Sub", "Mul", "Div", "Pow", "Min", "Max", "Sum", "Mean", "MatMul", "Concat",
                "Einsum"}
CASE_TIMEOUT_S = 600
ENGINES = tuple(engines.names())


@dataclass
class Case:
    name: str
    op: str
    model: Any  # onnx.ModelProto
    inputs: dict[str, np.ndarray]
    expected: list[np.ndarray]
    rtol: float
    atol: float


@dataclass
class Outcome:
    name: str
    op: str
    status: str  # "json", "error" (one line), "signal", "traceback", "garbled", "timeout"
    line: str = ""
    engines: dict[str, str] = field(default_factory=dict)  # engine -> ok | wrong-ok | failed
    errors: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "op": self.op, "status": self.status, "line": self.line,
                "engines": self.engines, "errors": self.errors}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Outcome:
        return cls(d["name"], d["op"], d["status"], d.get("line", ""), dict(d.get("engines", {})),
                   dict(d.get("errors", {})))


def cases(ops: Sequence[str] = VISION_OPS) -> Iterator[Case]:
    """The node test cases of ``ops`` (one node, float32 outputs), built as real models."""
    import warnings

    import onnx
    from onnx import numpy_helper
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():  # the case generators overflow casts on purpose
        warnings.simplefilter("ignore")
        testcases = collect_testcases(None)
    for tc in testcases:
        model = tc.model
        if model is None or len(model.graph.node) != 1 or not tc.data_sets:
            continue
        node = model.graph.node[0]
        if node.op_type not in ops or node.domain not in ("", "ai.onnx"):
            continue
        if "_expanded" in tc.name:
            continue
        ins, outs = tc.data_sets[0]
        if any(np.asarray(o).dtype not in (np.float32, np.int64) for o in outs):
            continue
        model = onnx.ModelProto.FromString(model.SerializeToString())
        graph_inputs = list(model.graph.input)
        if len(graph_inputs) != len(ins):
            continue
        keep: list[Any] = []
        feeds: dict[str, np.ndarray] = {}
        first_float = True
        for vi, value in zip(graph_inputs, ins, strict=True):
            arr = np.asarray(value)
            data = arr.dtype == np.float32 and arr.ndim > 0 and (first_float or node.op_type in _DATA_INPUTS)
            if data:
                first_float = False
                keep.append(vi)
                feeds[vi.name] = arr
            else:
                model.graph.initializer.append(numpy_helper.from_array(arr, vi.name))
        if not keep:
            continue
        del model.graph.input[:]
        model.graph.input.extend(keep)
        name = tc.name.removeprefix("test_")
        yield Case(name, node.op_type, model, feeds, [np.asarray(o) for o in outs],
                   float(tc.rtol), float(tc.atol))


def _agrees(expected: Sequence[np.ndarray], got: Sequence[np.ndarray], rtol: float, atol: float) -> bool:
    for e, g in zip(expected, got, strict=True):
        g = np.asarray(g, dtype=np.float64)
        e = np.asarray(e, dtype=np.float64)
        if g.size != e.size:
            return False
        g = g.reshape(e.shape)
        # engines compute in float32 with their own kernels: ONNX's rtol/atol, at least 1e-3
        atol = max(atol, 1e-3 * float(np.abs(e).max(initial=1.0)))
        if not np.allclose(g, e, rtol=max(rtol, 1e-3), atol=atol):
            return False
    return True


def _check_engine(result: dict[str, Any], case: Case) -> bool:
    """Run the converted model the SDK called ok on the test's inputs: agrees with expected?"""
    from sdk.report import stdout_to_stderr

    model = result["model"]
    model_dir = Path(model["files"][0]).parent
    with stdout_to_stderr(), engines.open_runner(result["engine"], model_dir, model["meta"], 1) as runner:
        outs = runner.run(case.inputs)
    names = [o["name"] for o in model["meta"]["outputs"]]
    return _agrees(case.expected, [outs[n] for n in names], case.rtol, case.atol)


def run_case(case: Case, workdir: Path, timeout: float = CASE_TIMEOUT_S) -> Outcome:
    """``python -m sdk convert`` on one case; its outcome, wrong oks found."""
    import onnx

    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"{case.name}.onnx"
    onnx.save(case.model, str(path))
    argv = [sys.executable, "-m", "sdk", "convert", str(path), "--json", "--out", str(workdir / "out")]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return Outcome(case.name, case.op, "timeout")
    out = Outcome(case.name, case.op, "json")
    err_lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    if proc.returncode < 0:
        out.status, out.line = "signal", f"killed by signal {-proc.returncode}"
        return out
    if "Traceback (most recent call last)" in proc.stderr + proc.stdout:
        out.status, out.line = "traceback", (err_lines or ["?"])[-1]
        return out
    try:
        doc = json.loads(proc.stdout) if proc.stdout.strip() else None
    except ValueError:
        doc = None
    if doc is None:
        errors = [ln for ln in err_lines if ln.startswith("error:")]
        if proc.returncode == 1 and len(errors) == 1 and len(err_lines) == 1:
            out.status, out.line = "error", errors[0]
        else:
            out.status, out.line = "garbled", " | ".join(err_lines)[-300:]
        return out
    for engine, res in doc["results"].items():
        if not res["ok"]:
            out.engines[engine] = "failed"
            out.errors[engine] = res["error"] or ""
            continue
        try:
            out.engines[engine] = "ok" if _check_engine(res, case) else "wrong-ok"
        except Exception as exc:
            out.engines[engine] = "wrong-ok"
            out.errors[engine] = f"rerun failed: {' '.join(str(exc).split())[:200]}"
    return out


def sample(ops: Sequence[str] = VISION_OPS, per_op: int | None = None) -> list[Case]:
    """Every case of ``ops``, or the first ``per_op`` of each."""
    taken: dict[str, int] = {}
    chosen = []
    for c in cases(ops):
        if per_op is not None and taken.get(c.op, 0) >= per_op:
            continue
        taken[c.op] = taken.get(c.op, 0) + 1
        chosen.append(c)
    return chosen


def table(outcomes: Sequence[Outcome]) -> str:
    """The per-op coverage table (markdown): cases, and how many each engine got right."""
    rows = ["| op | cases | " + " | ".join(f"{e} ok" for e in ENGINES) + " | failures (first reason) |",
            "|---|---:|" + "---:|" * len(ENGINES) + "---|"]
    by_op: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_op.setdefault(o.op, []).append(o)
    for op in sorted(by_op, key=lambda x: VISION_OPS.index(x) if x in VISION_OPS else 999):
        group = by_op[op]
        counts = [sum(o.engines.get(e) == "ok" for o in group) for e in ENGINES]
        reason = next((o.errors.get(e, "") for o in group for e in ENGINES if o.errors.get(e)), "")
        reason = reason or next((o.line for o in group if o.line), "")
        reason = re.sub(r"\[\d\d:\d\d:\d\d\] ", "", reason)  # MNN's log times: no churn
        cells = " | ".join(map(str, counts))
        rows.append(f"| {op} | {len(group)} | {cells} | {reason[:110].replace('|', '/')} |")
    return "\n".join(rows)


def summary(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    return {
        "cases": len(outcomes),
        "signals": sum(o.status == "signal" for o in outcomes),
        "tracebacks": sum(o.status == "traceback" for o in outcomes),
        "garbled": sum(o.status in ("garbled", "timeout") for o in outcomes),
        "ok": {e: sum(o.engines.get(e) == "ok" for o in outcomes) for e in ENGINES},
        "wrong_ok": {e: sum(o.engines.get(e) == "wrong-ok" for o in outcomes) for e in ENGINES},
    }


# the README's generated part sits between these lines; `--readme README.md` rewrites it
README_BEGIN = "<!-- generated by python -m sdk.tools.conformance --readme: begin -->"
README_END = "<!-- generated by python -m sdk.tools.conformance --readme: end -->"


def readme_block(outcomes: Sequence[Outcome], command: str, per_op: int | None = 3) -> str:
    """The README's figures and per-op table for ``outcomes`` (measured by ``command``)."""
    s = summary(outcomes)
    agree = ", ".join(f"{engines.get(e).caps.label} agrees on {s['ok'][e]}" for e in ENGINES)
    wrong = sum(s["wrong_ok"].values())
    figures = (
        f"Measured with `{command}` ({s['cases']} cases"
        + ("" if per_op is None else f", at most {per_op} per op") + ", on the host): "
        f"{s['signals']} runs killed by a signal, {s['tracebacks']} tracebacks, {s['garbled']} runs "
        f"without JSON or one `error:` line; {agree}; {wrong} engines called ok that disagree with "
        "the test's expected outputs.")
    return "\n".join([
        README_BEGIN,
        *textwrap.wrap(figures, 95, break_on_hyphens=False),
        "",
        "<details><summary>Per-op coverage (generated)</summary>",
        "",
        table(outcomes),
        "",
        "</details>",
        README_END,
    ])


def write_readme(path: Path, outcomes: Sequence[Outcome], command: str, per_op: int | None = 3) -> None:
    """Replace the generated block of ``path`` (between the markers) with ``outcomes``' own."""
    text = path.read_text()
    if README_BEGIN not in text or README_END not in text:
        raise SystemExit(f"error: {path} has no generated block ({README_BEGIN!r} ... {README_END!r})")
    head, rest = text.split(README_BEGIN, 1)
    tail = rest.split(README_END, 1)[1]
    path.write_text(head + readme_block(outcomes, command, per_op) + tail)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sdk.tools.conformance", description=__doc__.split("\n")[0])
    ap.add_argument("--ops", default=",".join(VISION_OPS), help="comma-separated ONNX op types")
    ap.add_argument("--per-op", type=int, default=3, help="at most N cases per op (default 3)")
    ap.add_argument("--json", action="store_true", help="print every outcome as JSON")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--jobs", type=int, default=1, help="cases run at once")
    ap.add_argument("--from", dest="saved", type=Path, default=None, metavar="RUN.json",
                    help="the outcomes of an earlier --json run instead of running again")
    ap.add_argument("--readme", type=Path, default=None, metavar="README.md",
                    help="rewrite the README's generated figures and table from these outcomes")
    args = ap.parse_args(argv)
    if args.saved is not None:
        doc = json.loads(args.saved.read_text())
        outcomes = [Outcome.from_dict(c) for c in doc["cases"]]
        command = doc.get("command", "python -m sdk.tools.conformance --json --jobs 2")
        per_op = doc.get("per_op", 3)
    else:
        per_op = args.per_op
        outcomes = _run(args)
        command = "python -m sdk.tools.conformance " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.readme is not None:
        write_readme(args.readme, outcomes, command, per_op)
    s = summary(outcomes)
    if args.json:
        print(json.dumps({"summary": s, "command": command, "per_op": per_op,
                          "cases": [o.to_dict() for o in outcomes]}, indent=2))
    else:
        print(table(outcomes))
        print()
        print(json.dumps(s))
    bad = s["signals"] + s["tracebacks"] + s["garbled"] + sum(s["wrong_ok"].values())
    return 1 if bad else 0


def _run(args: argparse.Namespace) -> list[Outcome]:
    ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    chosen = sample(ops, args.per_op)
    from concurrent.futures import ThreadPoolExecutor

    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="sdk-conformance-") as tmp:
        root = args.workdir or Path(tmp)

        def one(case: Case) -> Outcome:
            o = run_case(case, root / case.name)
            print(f"[{len(outcomes) + 1}/{len(chosen)}] {case.name}: {o.status} "
                  + " ".join(f"{e}={s}" for e, s in o.engines.items()), file=sys.stderr, flush=True)
            outcomes.append(o)
            return o

        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            return [*pool.map(one, chosen)]


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
