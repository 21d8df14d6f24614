"""``sdk deploy``: the main job."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command("deploy")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--board", "-b", help="Board name from the inventory (default: the only real "
              "board, else the emulated rk3399).")
@click.option("--engine", "-e", type=click.Choice(["ncnn", "mnn", "all"]), default="all",
              show_default=True)
@click.option("--precision", "-p", type=click.Choice(["fp32", "fp16"]), default="fp32",
              show_default=True)
@click.option("--input-shape", "input_shape", multiple=True, metavar="NAME=D0,D1,...",
              help="Fix an input's shape (needed for dynamic dims), e.g. x=1,3,48,192.")
@click.option("--runs", type=click.IntRange(1, 100000), default=20, show_default=True)
@click.option("--warmup", type=click.IntRange(0, 10000), default=3, show_default=True)
@click.option("--threads", type=click.IntRange(1, 256), default=None,
              help="Threads per engine (default: the board profile's).")
@click.option("--report-dir", type=click.Path(path_type=Path), default=None,
              help="Where to save the JSON report (default: the SDK cache).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
def deploy(model: Path, board: str | None, engine: str, precision: str,
           input_shape: tuple[str, ...], runs: int, warmup: int, threads: int | None,
           report_dir: Path | None, as_json: bool, quiet: bool) -> None:
    """Convert MODEL.onnx for ncnn and MNN, push it to a board, check and benchmark it."""
    from sdk.convert import parse_input_shapes
    from sdk.deploy import DeployOptions, check_result
    from sdk.deploy import deploy as run_deploy
    from sdk.report import Steps, stdout_to_stderr

    opts = DeployOptions(engine=engine, precision=precision,
                         input_shapes=parse_input_shapes(input_shape), runs=runs,
                         warmup=warmup, threads=threads, report_dir=report_dir)
    with stdout_to_stderr():
        report = run_deploy(model, board, opts, steps=Steps(quiet=quiet))
    if as_json:
        json.dump(report.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        report.render()
    check_result(report)
