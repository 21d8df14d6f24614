"""``sdk bench``: a sweep of configurations on a board, statistics with confidence, a verdict."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from sdk import engines
from sdk.commands.common import timeout_option, wait_option
from sdk.commands.convert import golden_option
from sdk.commands.fleet import check_fleet_args, finish, fleet_options
from sdk.commands.quantize import BUDGET_HELP, TASK_HELP
from sdk.device.tasks import TASKS
from sdk.quantize import MAX_FP32_LAYERS, METHODS


def _list(kind: str, text: str, choices: tuple[str, ...] | None = None) -> tuple[str, ...]:
    from sdk.errors import SdkError

    items = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    bad = [s for s in items if choices is not None and s not in choices]
    if not items or bad:
        raise SdkError(f"bad --{kind} {text!r}", expected=f"a comma list of {' | '.join(choices or ('N',))}",
                       found=", ".join(bad) or "nothing")
    return items


def _threads(text: str | None) -> tuple[int, ...]:
    from sdk.errors import SdkError

    if text is None:
        return ()
    items = _list("threads", text)
    if not all(s.isdigit() and int(s) > 0 for s in items):
        raise SdkError(f"bad --threads {text!r}", expected="a comma list of positive counts, e.g. 1,2,4",
                       found=text)
    return tuple(int(s) for s in items)


@click.command("bench")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--board", "-b", help="Board name from the inventory (default as for 'sdk deploy'), or "
              "labgrid:PLACE[@HOST:PORT].")
@click.option("--engine", "-e", type=click.Choice(engines.choices()), default="all", show_default=True)
@click.option("--precision", "-p", default="fp32", show_default=True, metavar="LIST",
              help=f"Comma list of {', '.join(engines.precisions())}; int8 needs --calib.")
@click.option("--threads", default=None, metavar="LIST",
              help="Comma list, e.g. 1,2,4 (default: the profile's).")
@click.option("--cores", multiple=True, metavar="SET",
              help="big | little | all | a cpu list like 4,5 or 0-3; repeat for several (default: big).")
@click.option("--runs", type=click.IntRange(1, 1000000), default=20, show_default=True)
@click.option("--warmup", type=click.IntRange(0, 100000), default=3, show_default=True)
@click.option("--min-time", "min_time", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Extend the runs until this many seconds of samples.")
@click.option("--rate", type=click.FloatRange(0, min_open=True), default=None,
              help="Pace the runs at this many frames per second (the latency a camera pipeline sees).")
@click.option("--duration", type=click.FloatRange(0, min_open=True), default=None,
              help="A sustained run of this many seconds per configuration (first vs last minute).")
@click.option("--layers", is_flag=True, help="Per-layer times, the slowest layers with their type.")
@click.option("--settle", "settle_s", type=click.FloatRange(0), default=30.0, show_default=True,
              help="Longest wait (s) for the thermal zones to settle before each configuration.")
@click.option("--preprocess", default=None, metavar="SPEC",
              help="Time the whole frame too: u8 image -> NEON preprocessing -> inference -> "
              "post-processing.")
@click.option("--image", type=click.Path(path_type=Path), default=None, help="The frame for --preprocess.")
@golden_option
@click.option("--input-shape", "input_shape", multiple=True, metavar="NAME=D0,D1,...")
@click.option("--calib", type=click.Path(path_type=Path), default=None, help="int8: calibration images.")
@click.option("--method", type=click.Choice(METHODS), default="auto", show_default=True)
@click.option("--task", type=click.Choice(("auto", *TASKS)), default="auto", show_default=True,
              help="int8: " + TASK_HELP)
@click.option("--budget", type=float, default=None, help="int8: " + BUDGET_HELP)
@click.option("--max-fp32", "max_fp32", type=click.IntRange(0, 10000), default=MAX_FP32_LAYERS,
              show_default=True)
@timeout_option("configuration", "the model's size, --runs and the sweep")
@wait_option
@click.option("--json", "as_json", is_flag=True,
              help="Print the report (every sample, the fingerprint) as JSON.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Also write the JSON report here.")
@click.option("--engine-version", "engine_version", multiple=True, metavar="ENGINE=OLD,NEW",
              help="A/B: the same sweep with two releases of ENGINE on the board, then B compared "
              "with A (speed verdict, output agreement; exit code as 'sdk report compare').")
@click.option("--threshold", type=click.FloatRange(0), default=None, metavar="PCT",
              help="With --engine-version: a slowdown gates only beyond this many percent (default 10).")
@click.option("--html", "html_out", type=click.Path(path_type=Path), default=None, metavar="FILE",
              help="Also write the report as one self-contained HTML page with plots.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
@fleet_options
def bench(model: Path, board: str | None, engine: str, precision: str, threads: str | None,
          cores: tuple[str, ...], runs: int, warmup: int, min_time: float, rate: float | None,
          duration: float | None, layers: bool, settle_s: float, preprocess: str | None, image: Path | None,
          golden: Path | None, input_shape: tuple[str, ...], calib: Path | None, method: str, task: str,
          budget: float | None, max_fp32: int, timeout: float | None, wait: float,
          as_json: bool, out: Path | None, engine_version: tuple[str, ...], threshold: float | None,
          html_out: Path | None, quiet: bool, fleet: str | None, tags: tuple[str, ...],
          max_parallel: int) -> None:
    """Benchmark MODEL.onnx on a board: one result per engine x precision x threads x cores."""
    from sdk.bench import BenchOptions, check_result, parse_engine_versions
    from sdk.bench import bench as run_bench
    from sdk.commands.quantize import parse_preprocess
    from sdk.convert import parse_input_shapes
    from sdk.report import Steps, stdout_to_stderr

    opts = BenchOptions(
        engine=engine, precisions=_list("precision", precision, engines.precisions()),
        threads=_threads(threads),
        cores=cores or ("big",), runs=runs, warmup=warmup, min_time=min_time, rate=rate, duration=duration,
        layers=layers, settle_s=settle_s, input_shapes=parse_input_shapes(input_shape),
        preprocess=parse_preprocess(preprocess), image=image, golden=golden,  # type: ignore[arg-type]
        calib=calib, method=method, budget=budget,
        max_fp32_layers=max_fp32, engine_versions=parse_engine_versions(engine_version), task=task,
        timeout=timeout, wait=wait,
    )
    if opts.engine_versions:
        _ab(model, board, opts, threshold, as_json, out, html_out, quiet)
        return
    if threshold is not None:
        from sdk.errors import SdkError

        raise SdkError("--threshold goes with --engine-version",
                       fix="compare two results with 'sdk report compare A B --threshold PCT'")
    want = check_fleet_args(fleet, board, tags)
    if fleet is not None:
        _fleet(model, fleet, want, opts, max_parallel, as_json, out, html_out, quiet)
        return
    with stdout_to_stderr():
        report = run_bench(model, board, opts, steps=Steps(quiet=quiet))
    doc = report.to_dict()
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=2) + "\n")
    if html_out is not None:
        from sdk.report.html import write_page

        write_page(doc, model.name, html_out)
    if as_json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        report.render()
    check_result(report)


def _ab(model: Path, board: str | None, opts: object, threshold: float | None, as_json: bool,
        out: Path | None, html_out: Path | None, quiet: bool) -> None:
    """The engine-version A/B: both sweeps, then the comparison; exits with its code."""
    from sdk.bench import BenchOptions, bench_ab
    from sdk.report import Steps, stdout_to_stderr
    from sdk.report.compare import render

    assert isinstance(opts, BenchOptions)
    with stdout_to_stderr():
        ab = bench_ab(model, board, opts, steps=Steps(quiet=quiet), threshold_pct=threshold)
    doc = ab.to_dict()
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=2) + "\n")
    if html_out is not None:
        from sdk.report.html import write_html

        write_html([(ab.comparison.a, doc["a"]), (ab.comparison.b, doc["b"])], html_out)
        click.echo(f"wrote {html_out}", err=True)
    if as_json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for rep, name in ((ab.a, ab.comparison.a), (ab.b, ab.comparison.b)):
            click.echo(f"--- {name}")
            rep.render()
        render(ab.comparison)
    sys.exit(ab.comparison.exit_code)


def _fleet(model: Path, fleet: str, tags: dict[str, str], opts: object, max_parallel: int,
           as_json: bool, out: Path | None, html_out: Path | None, quiet: bool) -> None:
    """The sweep on every matching labgrid place; exits 1 unless every board passed."""
    from sdk.errors import SdkError
    from sdk.fleet.jobs import fleet_bench
    from sdk.report import Steps, stdout_to_stderr

    if opts.engine_versions or html_out is not None:  # type: ignore[attr-defined]
        raise SdkError("--fleet runs one sweep per board", found="--engine-version or --html",
                       fix="drop them with --fleet; each board's report is in the --json output")
    with stdout_to_stderr():
        rep = fleet_bench(model, fleet, tags, opts, max_parallel=max_parallel,
                          steps=Steps(quiet=quiet))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rep.to_dict(), indent=2) + "\n")
    finish(rep, as_json)
