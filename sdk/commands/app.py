"""``sdk app``: whole applications on a board (apps/NAME/), frame in, result out."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sdk import engines
from sdk.commands.common import wait_option


@click.group("app")
def app() -> None:
    """Applications on a board: detect (YOLOv8 + NMS), classify (softmax + top-k), ocr (PP-OCRv4)."""


@app.command("run")
@click.argument("name", metavar="APP")
@click.option("--board", "-b", help="Board name (default: the only real board, else the emulated rk3399), "
              "or labgrid:PLACE[@HOST:PORT].")
@click.option("--image", "-i", "image", type=click.Path(path_type=Path), required=True,
              help="The frame (PNG/JPEG/BMP).")
@click.option("--model", "-m", type=click.Path(path_type=Path), default=None,
              help="Another main model for the app (detect: a YOLOv8 ONNX; class names from its metadata).")
@click.option("--engine", "-e", type=click.Choice(engines.choices()), default="all", show_default=True)
@click.option("--precision", "-p", type=click.Choice(engines.precisions()), default="fp32", show_default=True)
@click.option("--calib", type=click.Path(path_type=Path), default=None, help="int8: calibration images.")
@click.option("--runs", type=click.IntRange(1, 1000), default=3, show_default=True,
              help="Timed passes of the pipeline (median per stage).")
@click.option("--frames", type=click.IntRange(0, 100000), default=0,
              help="Throughput: N frames sequential vs next preprocess overlapped with inference.")
@click.option("--top-k", "top_k", type=click.IntRange(1, 1000), default=4, show_default=True,
              help="classify: how many classes to report.")
@click.option("--det-side", "det_side", type=click.IntRange(32, 2000), default=736, show_default=True,
              help="ocr: the text detector's short side (rapidocr's det_limit_side_len), board and host.")
@click.option("--warmup", type=click.IntRange(0, 100), default=1, show_default=True,
              help="Untimed passes of the pipeline before the timed ones.")
@click.option("--threads", type=click.IntRange(1, 256), default=None)
@click.option("--timeout", type=click.FloatRange(1, 86400), default=3600, show_default=True, metavar="S",
              help="Seconds the whole pipeline run may take on the board.")
@wait_option
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Directory for the annotated images and result.json.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def run(name: str, board: str | None, image: Path, model: Path | None, engine: str, precision: str,
        calib: Path | None, runs: int, frames: int, top_k: int, det_side: int,
        warmup: int, threads: int | None, timeout: float, wait: float, out_dir: Path | None,
        as_json: bool) -> None:
    """Run APP (detect | classify | ocr) on a board over one image: its result, per-stage
    times, the host comparison."""
    from sdk.apps import AppOptions, format_report, run_app
    from sdk.errors import SdkError
    from sdk.report import Steps, stdout_to_stderr

    opts = AppOptions(engine=engine, precision=precision, calib=calib, runs=runs, frames=frames,
                      top_k=top_k, det_side=det_side, warmup=warmup,
                      threads=threads, timeout=timeout, wait=wait)
    with stdout_to_stderr():  # the engines' C++ logs must not mix with the --json document
        rep = run_app(name, image, board, model, opts, out_dir, Steps(quiet=as_json))
    doc = rep.to_dict()
    dest = Path(out_dir or Path(rep.annotated[0]).parent) / f"{name}-{image.stem}.json"
    dest.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    text = json.dumps(doc, indent=2, sort_keys=True) if as_json else format_report(rep) + f"\nresult: {dest}"
    click.echo(text)
    if not rep.ok:
        raise SdkError("the board's result does not match the host reference",
                       found="; ".join(f"{r['variant']}: {r['comparison']['summary']}" for r in rep.results))
