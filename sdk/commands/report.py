"""``sdk report``: the history of results, comparisons with a verdict for CI, HTML pages."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.group("report")
def report() -> None:
    """The history of deploy and bench results, compare two of them, an HTML page."""


@report.command("list")
@click.option("--model", "-m", default=None, help="A model file name, stem or sha256 prefix.")
@click.option("--board", "-b", default=None)
@click.option("--json", "as_json", is_flag=True)
def list_(model: str | None, board: str | None, as_json: bool) -> None:
    """Kept results, newest first (the references last, last~1, ... count in this order)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from sdk.errors import SdkError
    from sdk.report.history import entries

    found = entries(model, board)
    if as_json:
        json.dump([{**e.__dict__, "path": str(e.path)} for e in found], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    if not found:
        raise SdkError(
            "the history is empty" + (" for these filters" if model or board else ""),
            fix="run 'sdk deploy' or 'sdk bench' first: each keeps its result",
        )
    t = Table(box=box.SIMPLE_HEAD, title="results, newest first", title_justify="left")
    for c in ("ref", "created (UTC)", "kind", "model", "board", "ok", "configurations"):
        t.add_column(c, no_wrap=c in ("ref", "created (UTC)", "kind"))
    for i, e in enumerate(found):
        t.add_row(
            "last" if i == 0 else f"last~{i}",
            e.created[5:16].replace("T", " "),  # MM-DD HH:MM (UTC)
            e.kind,
            Path(e.model).stem,
            e.board,
            "ok" if e.ok else "FAILED",
            ", ".join(e.configs[:3]) + (" ..." if len(e.configs) > 3 else ""),
        )
    Console().print(t)


@report.command("compare")
@click.argument("a")
@click.argument("b")
@click.option(
    "--threshold",
    type=click.FloatRange(0),
    default=None,
    metavar="PCT",
    help="A slowdown gates only beyond this many percent (default 10).",
)
@click.option("--model", "-m", default=None, help="Resolve last/last~N among this model's results.")
@click.option("--board", default=None, help="Resolve last/last~N among this board's results.")
@click.option("--json", "as_json", is_flag=True)
def compare_(
    a: str, b: str, threshold: float | None, model: str | None, board: str | None, as_json: bool
) -> None:
    """B against A (result files, or last, last~1 ...): exit 0 no regression, 3 slower beyond
    the threshold, 4 an accuracy drop, 5 both."""
    from sdk.report.compare import DEFAULT_THRESHOLD_PCT, compare, render
    from sdk.report.history import load, resolve

    pa, pb = resolve(a, model, board), resolve(b, model, board)
    cmp = compare(
        load(pa),
        load(pb),
        name_a=a,
        name_b=b,
        threshold_pct=DEFAULT_THRESHOLD_PCT if threshold is None else threshold,
    )
    if as_json:
        json.dump({**cmp.to_dict(), "files": [str(pa), str(pb)]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        render(cmp)
    sys.exit(cmp.exit_code)


@report.command("html")
@click.argument("results", nargs=-1, required=True)
@click.option("-o", "--out", type=click.Path(path_type=Path), default=Path("report.html"), show_default=True)
@click.option("--model", "-m", default=None)
@click.option("--board", default=None)
def html_(results: tuple[str, ...], out: Path, model: str | None, board: str | None) -> None:
    """One self-contained HTML page (plots embedded) of RESULTS (files or last, last~1 ...);
    two results also get a comparison."""
    from sdk.report.history import load, resolve
    from sdk.report.html import write_html

    docs = [(r, load(resolve(r, model, board))) for r in results]
    path = write_html(docs, out)
    click.echo(f"wrote {path} ({path.stat().st_size // 1024} KiB)")
