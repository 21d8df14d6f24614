"""``sdk deploy``: the main job."""

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


@click.command("deploy")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--board", "-b", help="Board name from the inventory (default: the only real "
              "board, else the emulated rk3399), or labgrid:PLACE[@HOST:PORT] (a labgrid place, "
              "held for the deploy; the coordinator defaults to LG_COORDINATOR).")
@click.option("--engine", "-e", type=click.Choice(engines.choices()), default="all",
              show_default=True)
@click.option("--precision", "-p", type=click.Choice(engines.precisions()), default="fp32",
              show_default=True, help="int8 needs --calib; the fp32 model is deployed beside it.")
@click.option("--calib", type=click.Path(path_type=Path), default=None,
              help="int8: calibration images, preprocessed with --preprocess.")
@click.option("--method", type=click.Choice(METHODS), default="auto",
              show_default=True,
              help="int8: activation range method; auto tries percentile and mse and keeps the"
              " closer to fp32; mnn-* run MNN's own quantizer.")
@click.option("--per-channel/--per-tensor", default=True, show_default=True)
@click.option("--task", type=click.Choice(("auto", *TASKS)), default="auto", show_default=True,
              help="int8: " + TASK_HELP)
@click.option("--budget", type=float, default=None, help="int8: " + BUDGET_HELP)
@click.option("--max-fp32", "max_fp32", type=click.IntRange(0, 10000), default=MAX_FP32_LAYERS,
              show_default=True, help="int8: most layers mixed precision returns to fp32.")
@click.option("--input-shape", "input_shape", multiple=True, metavar="NAME=D0,D1,...",
              help="Fix an input's shape (needed for dynamic dims), e.g. x=1,3,48,192.")
@click.option("--runs", type=click.IntRange(1, 100000), default=20, show_default=True)
@click.option("--warmup", type=click.IntRange(0, 10000), default=3, show_default=True)
@click.option("--threads", type=click.IntRange(1, 256), default=None,
              help="Threads per engine (default: the board profile's).")
@click.option("--preprocess", "preprocess", default=None, metavar="SPEC",
              help="The board builds the image input itself with the fused NEON kernel: "
              "size=WxH,color=rgb|bgr|gray,mean=M[:M:M],norm=N[:N:N],letterbox=0|1,pad=P,input=NAME.")
@click.option("--image", type=click.Path(path_type=Path), default=None,
              help="Golden image for --preprocess (default: a synthetic picture).")
@golden_option
@click.option("--app", default=None, metavar="NAME",
              help="The app's directory name on the board (default: the model file's name).")
@timeout_option("model variant", "the model's size and --runs")
@wait_option
@click.option("--report-dir", type=click.Path(path_type=Path), default=None,
              help="Where to save the JSON report (default: the SDK cache).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option("--html", "html_out", type=click.Path(path_type=Path), default=None, metavar="FILE",
              help="Also write the report as one self-contained HTML page with plots.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
@fleet_options
def deploy(model: Path, board: str | None, engine: str, precision: str, calib: Path | None,
           method: str | None, per_channel: bool, task: str, budget: float | None, max_fp32: int,
           input_shape: tuple[str, ...], runs: int, warmup: int, threads: int | None,
           preprocess: str | None, image: Path | None, golden: Path | None, app: str | None,
           timeout: float | None,
           wait: float, report_dir: Path | None, as_json: bool, html_out: Path | None,
           quiet: bool, fleet: str | None, tags: tuple[str, ...], max_parallel: int) -> None:
    """Convert MODEL.onnx for each engine, push it to a board, check and benchmark it."""
    from sdk.convert import parse_input_shapes
    from sdk.deploy import DeployOptions, check_result
    from sdk.deploy import deploy as run_deploy
    from sdk.device.preprocess import ImageSpec
    from sdk.errors import SdkError
    from sdk.report import Steps, stdout_to_stderr

    spec = None
    if preprocess is not None:
        try:
            spec = ImageSpec.parse(preprocess)
        except ValueError as exc:
            raise SdkError(f"bad --preprocess: {exc}",
                           fix="e.g. --preprocess size=192x48,color=bgr,mean=127.5,norm=0.0078431") from exc
    if image is not None and spec is None:
        raise SdkError("--image is the golden image of --preprocess", fix="add --preprocess SPEC")

    opts = DeployOptions(engine=engine, precision=precision,
                         input_shapes=parse_input_shapes(input_shape), runs=runs,
                         warmup=warmup, threads=threads, report_dir=report_dir, preprocess=spec,
                         image=image, golden=golden, calib=calib, method=method, per_channel=per_channel,
                         budget=budget, max_fp32_layers=max_fp32, app=app, timeout=timeout,
                         wait=wait, task=task)
    want = check_fleet_args(fleet, board, tags)
    if fleet is not None:
        from sdk.fleet.jobs import fleet_deploy

        if html_out is not None:
            raise SdkError("--html is one board's page", fix="drop --html with --fleet; each board's "
                           "report is in the --json output")
        with stdout_to_stderr():
            rep = fleet_deploy(model, fleet, want, opts, max_parallel=max_parallel, steps=Steps(quiet=quiet))
        finish(rep, as_json)
        return
    with stdout_to_stderr():
        report = run_deploy(model, board, opts, steps=Steps(quiet=quiet))
    if html_out is not None:
        from sdk.report.html import write_page

        write_page(report.to_dict(), model.name, html_out)
    if as_json:
        json.dump(report.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        report.render()
    check_result(report)
