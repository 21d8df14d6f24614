"""``sdk quantize``: int8 for each engine from calibration images, with per-layer analysis
and automatic mixed precision."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from sdk import engines
from sdk.device.tasks import TASKS
from sdk.errors import SdkError
from sdk.quantize import MAX_FP32_LAYERS, METHODS

TASK_HELP = ("What int8 is judged by: detect (recall/precision of fp32's detections), classify (margin "
             "cosine, top-1), segment / ocr-det (mask IoU), ocr-rec (margins, characters), raw (cosine); "
             "auto: found in the model's outputs.")
BUDGET_HELP = ("Floor of the task metric vs fp32 on held-out images (default per task: detect 0.95, "
               "classify/ocr-rec 0.99 margin cosine, ocr-det/segment 0.95 IoU, raw 0.99 cosine); below it, "
               "layers go back to fp32.")


def parse_preprocess(text: str | None) -> object:
    from sdk.device.preprocess import ImageSpec

    if text is None:
        return None
    try:
        return ImageSpec.parse(text)
    except ValueError as exc:
        raise SdkError(f"bad --preprocess: {exc}",
                       fix="e.g. --preprocess size=192x48,color=bgr,mean=127.5,norm=0.0078431") from exc


@click.command("quantize")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--engine", "-e", type=click.Choice(engines.choices()), default="all", show_default=True)
@click.option("--calib", "calib", type=click.Path(path_type=Path), required=True,
              help="Directory of calibration images (png/jpg/bmp) or .npy input tensors.")
@click.option("--method", type=click.Choice(METHODS), default="auto",
              show_default=True,
              help="How activation ranges are chosen; auto tries percentile and mse and keeps the"
              " closer to fp32; mnn-* run MNN's own quantizer.")
@click.option("--per-channel/--per-tensor", default=True, show_default=True,
              help="Weight scales per output channel or one per layer.")
@click.option("--task", type=click.Choice(("auto", *TASKS)), default="auto", show_default=True,
              help=TASK_HELP)
@click.option("--budget", type=float, default=None, help=BUDGET_HELP)
@click.option("--max-fp32", "max_fp32", type=click.IntRange(0, 10000), default=MAX_FP32_LAYERS,
              show_default=True, help="int8: most layers mixed precision returns to fp32.")
@click.option("--analyze", is_flag=True, help="Per-layer accuracy: print the worst layers.")
@click.option("--input-shape", "input_shape", multiple=True, metavar="NAME=D0,D1,...")
@click.option("--preprocess", default=None, metavar="SPEC",
              help="How images become the input: size=WxH,color=rgb|bgr|gray,mean=..,norm=..,"
              "letterbox=0|1,align=center|topleft,pad=P (the deployment's own spec).")
@click.option("--limit", type=click.IntRange(1, 100000), default=None, help="Use at most N images.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Work directory (default: the SDK cache).")
@click.option("--json", "as_json", is_flag=True, help="Print the result document as JSON.")
@click.option("-q", "--quiet", is_flag=True)
def quantize(model: Path, engine: str, calib: Path, method: str | None, per_channel: bool, task: str,
             budget: float | None, max_fp32: int, analyze: bool, input_shape: tuple[str, ...],
             preprocess: str | None,
             limit: int | None, out: Path | None, as_json: bool, quiet: bool) -> None:
    """Quantize MODEL.onnx to int8 for each engine and report the accuracy vs fp32."""
    from sdk import quantize as q
    from sdk.convert import parse_input_shapes, prepare
    from sdk.deploy import work_dir
    from sdk.report import Steps, stdout_to_stderr

    spec = parse_preprocess(preprocess)
    steps = Steps(quiet=quiet)
    engine_names = engines.select(engine)
    with stdout_to_stderr():
        with steps.step("prepare"):
            work = out or work_dir(model)
            prepared = prepare(model, work, parse_input_shapes(input_shape) or None)
        with steps.step("quantize"):
            results = q.quantize(prepared, engine_names, calib, work / "int8", spec=spec,  # type: ignore[arg-type]
                                 method=method, per_channel=per_channel, budget=budget, analyze=analyze,
                                 limit=limit, max_fp32_layers=max_fp32, log=steps.log, task=task)
    doc = {"model": str(model), "calib": str(calib), "engines": {e: r.to_dict() for e, r in results.items()}}
    (work / "int8").mkdir(parents=True, exist_ok=True)
    report = work / "int8" / "quantize.json"
    report.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    if as_json:
        json.dump(doc, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        render(results, analyze, report)
    if not any(r.ok for r in results.values()):
        raise SdkError("no engine could be quantized",
                       found="; ".join(f"{e}: {r.error}" for e, r in results.items()))


def _figures(acc: object) -> str:
    from sdk.records import Accuracy

    assert isinstance(acc, Accuracy)
    m = acc.metrics
    if acc.task == "detect":
        return (f"recall {m['recall']:.3f}, precision {m['precision']:.3f}, class-score cosine "
                f"{m['class_cosine']:.5f}, box cosine {m['box_cosine']:.5f}, cosine {m['cosine']:.5f} "
                f"({m['detections_ref']:.0f} fp32 / {m['detections']:.0f} int8 detections, "
                f"{m['matched']:.0f} matched)")
    return ", ".join(f"{k} {v:.5f}" for k, v in m.items())


def render(results: dict, analyze: bool, report: Path) -> None:  # type: ignore[type-arg]
    from rich.console import Console
    from rich.table import Table

    con = Console()
    metrics = {f"{r.task.get('task', 'raw')}: {r.accuracy.metric_name}" for r in results.values()
               if r.ok and r.accuracy is not None}
    judged = "; ".join(sorted(metrics)) or "-"
    t = Table(title=f"int8 vs fp32 on held-out calibration images, judged as {judged}", title_justify="left")
    for c in ("engine", "int8", "final", "budget", "held-out", "fp32 layers", "KiB fp32/int8"):
        t.add_column(c, justify="left" if c in ("engine", "budget") else "right")
    for e, r in results.items():
        if not r.ok:
            t.add_row(e, "-", "-", "FAILED", "-", "-", "-")
            continue
        a, a8 = r.accuracy, r.int8_accuracy
        t.add_row(e, f"{a8.value:.5f}", f"{a.value:.5f}", ("met " if r.met else "MISSED ") + f"{r.budget}",
                  str(r.eval_images), str(len(r.fp32_layers)),
                  f"{r.fp32_bytes / 1024:.0f}/{r.int8_bytes / 1024:.0f}")
    con.print(t)
    for e, r in results.items():
        if r.task:
            at = f"; judged at score >= {r.task['threshold']}" if r.task.get("threshold") is not None else ""
            con.print(f"{e}: task {r.task['task']} ({r.task.get('why', '')}{at})")
        if r.ok and r.accuracy is not None:
            con.print(f"{e}: final int8 vs fp32 on {r.accuracy.images} held-out images: "
                      f"{_figures(r.accuracy)}")
        for w in r.warnings:
            con.print(f"{e}: WARNING: {w}")
        con.print(f"{e}: {r.method} {'per-channel' if r.per_channel else 'per-tensor'}, calibrated on "
                  f"{r.calib_images} images in {r.calib_seconds:.1f}s, evaluated on {r.eval_images}"
                  + (f"; host ms fp32/int8 {r.host_ms.get('fp32', 0):.1f}/{r.host_ms.get('int8', 0):.1f}"
                     if r.ok else ""))
        if len(r.method_trials) > 1:
            trials = ", ".join(f"{m} {c:.5f}" for m, c in r.method_trials.items())
            con.print(f"{e}: auto kept {r.method} (int8 task metric vs fp32: {trials})")
        if r.bias_correction:
            bc = r.bias_correction
            before = bc.get("metric_before", bc["cosine_before"])
            after = bc.get("metric_after", bc["cosine_after"])
            con.print(f"{e}: bias correction of {bc['layers']} layers: task metric {before:.5f} -> "
                      f"{after:.5f}, {'kept' if bc['kept'] else 'dropped (no closer)'}")
        if r.search:
            con.print(f"{e}: search: {r.search}")
        if r.error:
            con.print(f"{e}: {r.error}")
        budget_fp32 = [n for n in r.fp32_layers if n not in r.kept_float]
        if budget_fp32:
            con.print(f"{e}: back to fp32 for the budget (most sensitive first): {', '.join(budget_fp32)}")
        for why in dict.fromkeys(r.kept_float.values()):
            names = [n for n, w in r.kept_float.items() if w == why]
            con.print(f"{e}: kept float ({why}): {len(names)} ({', '.join(names[:4])}"
                      f"{', ...' if len(names) > 4 else ''})")
        if analyze and r.layers:
            lt = Table(title=f"{e}: worst layers (int8 vs fp32)", title_justify="left")
            for c in ("layer", "output cosine", "max-abs", "error added"):
                lt.add_column(c, justify="left" if c == "layer" else "right")
            for s in r.layers[:10]:
                lt.add_row(s.name, f"{s.cosine:.5f}", f"{s.max_abs:.3g}", f"{s.added_error:.5f}")
            con.print(lt)
    con.print(f"report: {report}")
