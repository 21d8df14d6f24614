"""``sdk convert``: prepare an ONNX model, convert it for each engine, validate it."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import click

from sdk import engines
from sdk.errors import SdkError
from sdk.report import stdout_to_stderr


def _fmt(value: float | None, digits: int) -> str:
    if value is None:
        return "-"
    if math.isnan(value):
        return "nan"
    return f"{value:.{digits}f}" if digits else f"{value:.3g}"


def _worst(result: Any) -> tuple[float | None, float | None, float | None]:
    if not result.metrics:
        return None, None, None
    cos = min(m.cosine for m in result.metrics)
    mab = max(m.max_abs for m in result.metrics)
    tops = [m.top1 for m in result.metrics if m.top1 is not None]
    return cos, mab, (min(tops) if tops else None)


# `sdk convert`, `sdk deploy` and `sdk bench`: the golden inputs every check runs on
golden_option = click.option(
    "--golden",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    metavar="FILE.npz",
    help="Real inputs to check with (numpy .npz, one array per input name) instead of random ones.",
)


@click.command("convert")
@click.argument("model", type=click.Path(path_type=Path))
@click.option(
    "--engine",
    "engine",
    type=click.Choice(engines.choices()),
    default="all",
    show_default=True,
    help="Engine to convert for.",
)
@click.option(
    "--precision",
    type=click.Choice(("fp32", "fp16")),  # what a conversion makes: sdk.convert.PRECISIONS
    default="fp32",
    show_default=True,
    help="Weights/arithmetic precision on the engine.",
)
@click.option(
    "--input-shape",
    "input_shapes",
    multiple=True,
    metavar="NAME=D0,D1,...",
    help="Fix a dynamic input, e.g. x=1,3,48,192 (repeat per input).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Output directory (default: ./<model>-converted).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Threads for the host validation run.",
)
@golden_option
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def convert(
    model: Path,
    engine: str,
    precision: str,
    input_shapes: tuple[str, ...],
    out_dir: Path | None,
    threads: int,
    golden: Path | None,
    as_json: bool,
) -> None:
    """Convert MODEL (ONNX) for each engine and check each against onnxruntime."""
    import sdk.convert as C

    t0 = time.perf_counter()
    engine_names = engines.select(engine)
    out = out_dir if out_dir is not None else Path.cwd() / f"{model.stem}-converted"
    shapes = C.parse_input_shapes(input_shapes)
    with stdout_to_stderr():
        try:
            prepared = C.prepare(model, out, shapes)
            feeds, reference = C.golden_and_reference(prepared, golden)
            results = C.convert(
                prepared, engine_names, precision, out, feeds=feeds, reference=reference, threads=threads
            )
        except SdkError:
            raise
        except Exception as exc:  # a bug or a library's surprise: still one line, no traceback
            raise SdkError(
                f"cannot convert {model.name}: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}",
                fix="report this with the model attached",
            ) from None
    elapsed = time.perf_counter() - t0

    if as_json:
        payload = {
            "model": prepared.to_dict(),
            "precision": precision,
            "results": {k: r.to_dict() for k, r in results.items()},
            "ok": any(r.ok for r in results.values()),
            "seconds": round(elapsed, 3),
        }
        click.echo(json.dumps(payload, indent=2, allow_nan=True))
    else:
        _print_table(prepared, results, precision, elapsed)

    if not any(r.ok for r in results.values()):
        raise SdkError(
            f"every engine failed to convert {model.name} ({', '.join(results)})",
            fix="see each engine's error above; replace the failing op(s) or try fp32",
        )


def _print_table(prepared: Any, results: dict[str, Any], precision: str, elapsed: float) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for w in prepared.warnings:
        console.print(f"[yellow]warning:[/] {w}", markup=True, highlight=False)
    table = Table(title=f"{prepared.source.name} ({precision})")
    for col in ("engine", "status", "cosine", "max-abs", "top1", "seconds"):
        table.add_column(col, justify="left" if col in ("engine", "status") else "right")
    for name, r in results.items():
        cos, mab, top = _worst(r)
        status = "[green]ok[/]" if r.ok else "[red]FAILED[/]"
        table.add_row(name, status, _fmt(cos, 6), _fmt(mab, 0), _fmt(top, 3), f"{r.seconds:.2f}")
    console.print(table)
    for name, r in results.items():
        if r.error:
            console.print(f"[red]{name}:[/] {r.error}", markup=True, highlight=False)
        elif r.model is not None:
            files = ", ".join(str(f) for f in r.model.files)
            console.print(f"{name}: {files}", highlight=False)
    ok = sum(r.ok for r in results.values())
    verdict = "PASSED" if ok == len(results) else ("PARTIAL" if ok else "FAILED")
    console.print(f"{verdict}: {ok}/{len(results)} engines in {elapsed:.1f}s", highlight=False)
