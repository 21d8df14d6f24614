"""The bundle: one self-contained directory a board needs to run and check a model.

Layout::

    manifest.json             sdk.records.Manifest: sha256 of every file, versions, profile,
                              I/O spec, the models with their agreement floors, golden data
    models/<engine>-<precision>/...   converted models, one directory per variant
    golden/{inputs,outputs}/  golden input and onnxruntime outputs, one .npy per tensor
    golden/<variant>/outputs/ golden outputs of a variant checked against its own (int8)
    runtime/sdk/              the on-board code (:func:`board_modules`)
    wheels/                   every wheel the board installs, offline

All files are written deterministically, so an unchanged model yields identical bytes
and a re-deploy sends nothing but what changed. ``wheels.py`` picks the board's wheels.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sdk
from sdk.boards import BoardProfile
from sdk.errors import BundleError
from sdk.records import (
    BundledModel,
    BundledPreprocess,
    EngineModel,
    Golden,
    Manifest,
    TaskSamples,
    TensorFile,
    sha256_file,
    to_json,
)

if TYPE_CHECKING:
    import numpy as np

    from sdk.convert import PreparedModel

FORMAT = 2
SDK_DIR = Path(__file__).resolve().parent.parent


@dataclass
class Bundle:
    root: Path
    manifest: Manifest

    @property
    def id(self) -> str:
        return self.manifest.bundle_id

    @property
    def size(self) -> int:
        return sum((self.root / p).stat().st_size for p in self.manifest.files)

    @classmethod
    def load(cls, root: Path) -> Bundle:
        return cls(root, Manifest.load(root))


def board_modules() -> list[tuple[Path, str]]:
    """The SDK's code that runs on the board: (source file, path under ``runtime/``).

    The on-board runner (:mod:`sdk.device`), the records it reads and writes, the runner
    base class and every engine's runner. They import only the standard library, numpy, the
    engines and ``sdk._kernels`` (``tests/test_device_imports.py`` checks it).
    """
    from sdk import engines

    files = [(py, f"sdk/records/{py.name}") for py in sorted((SDK_DIR / "records").glob("*.py"))]
    files += [(SDK_DIR / "engines" / "base.py", "sdk/engines/base.py")]
    files += [(SDK_DIR / "engines" / e / "runner.py", f"sdk/engines/{e}/runner.py") for e in engines.names()]
    files += [(py, f"sdk/device/{py.name}") for py in sorted((SDK_DIR / "device").glob("*.py"))]
    return files


def _engine_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    from sdk import engines

    out = {}
    dists = {n: b.caps.runtime_package for n, b in engines.BACKENDS.items()}
    for engine, dist in {**dists, "onnxruntime": "onnxruntime"}.items():
        try:
            out[engine] = version(dist)
        except PackageNotFoundError:
            out[engine] = "unknown"
    return out


def _save_tensors(d: Path, tensors: Mapping[str, np.ndarray], root: Path) -> list[TensorFile]:
    import numpy as np

    d.mkdir(parents=True, exist_ok=True)
    index = []
    for i, (name, arr) in enumerate(tensors.items()):
        path = d / f"{i}.npy"
        np.save(path, np.ascontiguousarray(arr), allow_pickle=False)
        index.append(TensorFile(name, path.relative_to(root).as_posix(), list(arr.shape), str(arr.dtype)))
    return index


def _write_samples(tmp: Path, vid: str, samples: Mapping[str, Any]) -> TaskSamples:
    """Held-out inputs and the host's outputs on them, ``golden/<variant>/task/<k>/...``."""
    d = tmp / "golden" / vid / "task"
    parts: dict[str, list[list[TensorFile]]] = {"inputs": [], "host": [], "fp32": []}
    for part in parts:
        for k, tensors in enumerate(samples[part]):
            parts[part].append(_save_tensors(d / str(k) / part, tensors, tmp))
    return TaskSamples(task=dict(samples["task"]), inputs=parts["inputs"], host=parts["host"],
                       fp32=parts["fp32"], floor=float(samples["floor"]))


def _write_models(tmp: Path, models: Sequence[EngineModel],
                  golden_by_model: Mapping[str, Mapping[str, np.ndarray]],
                  samples_by_model: Mapping[str, Mapping[str, Any]]) -> list[BundledModel]:
    from sdk import engines

    versions = _engine_versions()
    out = []
    for em in models:
        caps = engines.get(em.engine).caps
        mdir = tmp / "models" / em.id
        mdir.mkdir(parents=True)
        for f in em.files:
            shutil.copy2(f, mdir / f.name)
        golden = golden_by_model.get(em.id)
        out.append(BundledModel(
            engine=em.engine, precision=em.precision, package=caps.runtime_package,
            version=versions.get(em.engine, "unknown"), dir=f"models/{em.id}",
            files=[f.name for f in em.files], meta=em.meta, min_cosine=caps.floor(em.precision),
            golden_outputs=None if golden is None else _save_tensors(tmp / "golden" / em.id / "outputs",
                                                                     golden, tmp),
            task_samples=_write_samples(tmp, em.id, samples_by_model[em.id]) if em.id in samples_by_model
            else None,
        ))
    return out


def _write_runtime(tmp: Path, extra_runtime: Sequence[Path]) -> None:
    rt = tmp / "runtime"
    for src, rel in board_modules():
        (rt / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, rt / rel)
    for pkg in sorted({p.parent for p in rt.rglob("*.py")} | {rt / "sdk"}):
        if not (pkg / "__init__.py").exists():
            (pkg / "__init__.py").write_text('"""On-board part of the edge SDK."""\n')
    for extra in extra_runtime:  # a file, or a folder (an app's secondary models)
        if extra.is_dir():
            shutil.copytree(extra, rt / "sdk" / extra.name)
        else:
            shutil.copy2(extra, rt / "sdk" / extra.name)


def build_bundle(
    out: Path,
    *,
    prepared: PreparedModel,
    profile: BoardProfile,
    models: Sequence[EngineModel],
    feeds: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray],
    wheels: Sequence[Path],
    requirements: Sequence[str],
    extra_runtime: Sequence[Path] = (),
    options: Mapping[str, Any] | None = None,
    preprocess: BundledPreprocess | None = None,
    image: np.ndarray | None = None,
    golden_by_model: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    task_samples: Mapping[str, Mapping[str, Any]] | None = None,
) -> Bundle:
    """Write a bundle to ``out`` (replaced atomically) and return it.

    ``models``: one per variant (engine, precision). ``preprocess`` with the u8 ``image``
    makes the board build that input itself, through the fused kernel in ``extra_runtime``.
    ``golden_by_model`` (keyed by variant id) replaces the onnxruntime golden outputs for
    some models (int8: the host's own int8 outputs, which the board must reproduce).
    ``task_samples`` (keyed by variant id; ``task``, ``floor``, and per sample the ``inputs``,
    the ``host``'s int8 outputs and the ``fp32`` model's) lets the board judge its int8 outputs
    by the model's task (:class:`~sdk.records.TaskSamples`).
    """
    if not models:
        raise BundleError("nothing to bundle: no engine converted the model")
    if preprocess is not None and image is None:
        raise BundleError("a preprocess spec needs the golden image it applies to")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        bundled = _write_models(tmp, models, golden_by_model or {}, task_samples or {})
        golden = Golden(inputs=_save_tensors(tmp / "golden" / "inputs", feeds, tmp),
                        outputs=_save_tensors(tmp / "golden" / "outputs", reference, tmp))
        pre = None
        if preprocess is not None:
            import numpy as np

            np.save(tmp / "golden" / "image.npy", np.ascontiguousarray(image), allow_pickle=False)
            pre = BundledPreprocess(preprocess.spec, preprocess.input, preprocess.source, "golden/image.npy")
        _write_runtime(tmp, extra_runtime)
        wdir = tmp / "wheels"
        wdir.mkdir()
        for w in wheels:
            shutil.copy2(w, wdir / w.name)
        files = {p.relative_to(tmp).as_posix(): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        wheel_hashes = sorted(v for k, v in files.items() if k.startswith("wheels/"))
        manifest = Manifest(
            format=FORMAT, sdk_version=sdk.__version__, engine_versions=_engine_versions(),
            board_profile=profile.to_dict(), model=_model_info(prepared), models=bundled, golden=golden,
            wheels={"requirements": list(requirements),
                    "set_sha256": hashlib.sha256("\n".join(wheel_hashes).encode()).hexdigest()},
            options=dict(options or {}), preprocess=pre, files=files,
        )
        manifest.bundle_id = manifest.content_id()
        (tmp / Manifest.NAME).write_text(to_json(manifest))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Bundle(out, manifest)


def _model_info(prepared: PreparedModel) -> dict[str, Any]:
    def spec(t: Any) -> dict[str, Any]:
        return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype}

    return {"name": prepared.source.stem, "source_sha256": prepared.sha256, "opset": prepared.opset,
            "inputs": [spec(t) for t in prepared.inputs], "outputs": [spec(t) for t in prepared.outputs]}
