"""The bundle: one self-contained directory a board needs to run and check a model.

Layout::

    manifest.json             sha256 of every file, versions, profile, I/O spec, golden data
    models/<engine>/...       converted models
    golden/{inputs,outputs}/  golden input and onnxruntime outputs, one .npy per tensor
    runtime/sdk/device/       the on-board runner (stdlib + numpy + engines only)
    wheels/                   every wheel the board installs, offline

All files are written deterministically, so an unchanged model yields identical bytes
and a re-deploy sends nothing but what changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sdk
from sdk.boards import BoardProfile
from sdk.device.runner import sha256_file
from sdk.errors import BundleError

if TYPE_CHECKING:
    import numpy as np

    from sdk.convert import EngineModel, PreparedModel

MANIFEST = "manifest.json"
FORMAT = 1
DEVICE_DIR = Path(__file__).resolve().parent.parent / "device"


@dataclass
class Bundle:
    root: Path
    manifest: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.manifest["bundle_id"])

    @property
    def size(self) -> int:
        return sum((self.root / p).stat().st_size for p in self.manifest["files"])

    @classmethod
    def load(cls, root: Path) -> Bundle:
        return cls(root, json.loads((root / MANIFEST).read_text()))


def _engine_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for engine, dist in (("ncnn", "ncnn"), ("mnn", "MNN"), ("onnxruntime", "onnxruntime")):
        try:
            out[engine] = version(dist)
        except PackageNotFoundError:
            out[engine] = "unknown"
    return out


def _save_tensors(d: Path, tensors: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    import numpy as np

    d.mkdir(parents=True, exist_ok=True)
    index = []
    for i, (name, arr) in enumerate(tensors.items()):
        fname = f"{i}.npy"
        np.save(d / fname, np.ascontiguousarray(arr), allow_pickle=False)
        index.append({"name": name, "file": f"{d.name}/{fname}", "shape": list(arr.shape),
                      "dtype": str(arr.dtype)})
    return index


def build_bundle(
    out: Path,
    *,
    prepared: PreparedModel,
    profile: BoardProfile,
    models: Mapping[str, EngineModel],
    feeds: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray],
    wheels: Sequence[Path],
    requirements: Sequence[str],
    extra_runtime: Sequence[Path] = (),
    options: Mapping[str, Any] | None = None,
    preprocess: Mapping[str, Any] | None = None,
    image: np.ndarray | None = None,
    golden_by_model: Mapping[str, Mapping[str, np.ndarray]] | None = None,
) -> Bundle:
    """Write a bundle to ``out`` (replaced atomically) and return it.

    ``models`` is keyed by the name the board reports (``ncnn``, ``ncnn-fp32``...).
    ``preprocess`` (spec, source format, input name) with the u8 ``image`` makes the board
    build that input itself, through the fused kernel in ``extra_runtime``.
    ``golden_by_model`` replaces the onnxruntime golden outputs for some models (int8: the
    host's own int8 outputs, which the board must reproduce).
    """
    if not models:
        raise BundleError("nothing to bundle: no engine converted the model")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        engines: dict[str, Any] = {}
        versions = _engine_versions()
        for key, em in models.items():
            mdir = tmp / "models" / key
            mdir.mkdir(parents=True)
            for f in em.files:
                shutil.copy2(f, mdir / f.name)
            engines[key] = {
                "engine": em.engine,
                "precision": em.precision,
                "version": versions.get(em.engine, "unknown"),
                "dir": f"models/{key}",
                "files": [f.name for f in em.files],
                "meta": em.meta,
            }
            if golden_by_model and key in golden_by_model:
                engines[key]["golden_outputs"] = [
                    {**t, "file": f"golden/{key}/{t['file']}"}
                    for t in _save_tensors(tmp / "golden" / key / "outputs", golden_by_model[key])
                ]
        golden = {
            "inputs": _save_tensors(tmp / "golden" / "inputs", feeds),
            "outputs": _save_tensors(tmp / "golden" / "outputs", reference),
        }
        pre = None
        if preprocess is not None:
            if image is None:
                raise BundleError("a preprocess spec needs the golden image it applies to")
            import numpy as np

            np.save(tmp / "golden" / "image.npy", np.ascontiguousarray(image), allow_pickle=False)
            pre = {**preprocess, "image": "golden/image.npy"}
        for k in golden:  # files are relative to the bundle root
            for t in golden[k]:
                t["file"] = f"golden/{t['file']}"
        rt = tmp / "runtime" / "sdk"
        (rt / "device").mkdir(parents=True)
        (rt / "__init__.py").write_text('"""On-board part of the edge SDK."""\n')
        for py in sorted(DEVICE_DIR.glob("*.py")):
            shutil.copy2(py, rt / "device" / py.name)
        for extra in extra_runtime:
            shutil.copy2(extra, rt / extra.name)
        wdir = tmp / "wheels"
        wdir.mkdir()
        for w in wheels:
            shutil.copy2(w, wdir / w.name)
        files = {
            p.relative_to(tmp).as_posix(): sha256_file(p)
            for p in sorted(tmp.rglob("*"))
            if p.is_file()
        }
        wheel_hashes = sorted(v for k, v in files.items() if k.startswith("wheels/"))
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "sdk_version": sdk.__version__,
            "engine_versions": versions,
            "board_profile": profile.to_dict(),
            "model": {
                "name": prepared.source.stem,
                "source_sha256": prepared.sha256,
                "opset": prepared.opset,
                "inputs": [_spec(t) for t in prepared.inputs],
                "outputs": [_spec(t) for t in prepared.outputs],
            },
            "engines": engines,
            "golden": golden,
            "wheels": {
                "requirements": list(requirements),
                "set_sha256": hashlib.sha256("\n".join(wheel_hashes).encode()).hexdigest(),
            },
            "options": dict(options or {}),
            "preprocess": pre,
            "files": files,
        }
        canon = json.dumps({k: v for k, v in manifest.items()}, sort_keys=True).encode()
        manifest["bundle_id"] = hashlib.sha256(canon).hexdigest()[:16]
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Bundle(out, manifest)


def _spec(t: Any) -> dict[str, Any]:
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype}
