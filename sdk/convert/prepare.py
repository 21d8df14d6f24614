"""Prepare an ONNX model for conversion: check it, fix its shapes, simplify it.

``prepare`` is the first step of the flow: it turns a user's ONNX file into a checked,
fixed-shape, simplified model in a work directory, and records its inputs and outputs with
concrete shapes so every engine (and the golden I/O) agrees on them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdk.errors import ModelError
from sdk.records import sha256_file

if TYPE_CHECKING:
    import onnx

SHAPE_SYNTAX = "--input-shape NAME=1,3,224,224"
_SPEC_RE = re.compile(r"^\s*([^=\s][^=]*?)\s*=\s*(\d+(?:\s*[,x]\s*\d+)*)\s*$")


@dataclass
class TensorSpec:
    """One model input or output: ONNX name, concrete shape, numpy dtype name."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass
class PreparedModel:
    """A checked, fixed-shape, simplified ONNX model written into a work directory."""

    source: Path
    path: Path
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    opset: int
    sha256: str
    warnings: list[str] = field(default_factory=list)
    rewrites: list[str] = field(default_factory=list)  # what normalization wrote out
    # free dims (-1 in ``inputs``/``outputs``, :func:`prepare_free`): the concrete input shapes
    # it was made at, the first two of which a converter may need to trace it (pnnx)
    examples: list[dict[str, list[int]]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["source"] = str(self.source)
        d["path"] = str(self.path)
        d["inputs"] = [t.to_dict() for t in self.inputs]
        d["outputs"] = [t.to_dict() for t in self.outputs]
        return d


def parse_input_shapes(specs: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """Parse ``NAME=1,3,48,192`` strings (``--input-shape``) into a name -> shape map."""
    shapes: dict[str, tuple[int, ...]] = {}
    for spec in specs:
        m = _SPEC_RE.match(spec)
        if not m:
            raise ModelError(
                f"bad input shape {spec!r}",
                expected="NAME=d0,d1,... with positive integers",
                found=repr(spec),
                fix=f"write it as {SHAPE_SYNTAX}",
            )
        name = m.group(1)
        dims = tuple(int(d) for d in re.split(r"\s*[,x]\s*", m.group(2).strip()))
        if any(d <= 0 for d in dims):
            raise ModelError(
                f"bad input shape {spec!r}: dimensions must be positive",
                found=repr(spec),
                fix=f"write it as {SHAPE_SYNTAX}",
            )
        if name in shapes:
            raise ModelError(
                f"input {name!r} given twice in --input-shape",
                found=f"{shapes[name]} and {dims}",
                fix="give each input once",
            )
        shapes[name] = dims
    return shapes


def _dtype_name(elem_type: int) -> str:
    import onnx.helper

    try:
        return str(onnx.helper.tensor_dtype_to_np_dtype(elem_type).name)
    except (KeyError, ValueError, TypeError):
        return f"onnx-type-{elem_type}"


def _graph_inputs(model: onnx.ModelProto) -> list[Any]:
    inits = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def _dims(vi: Any) -> list[int | str | None]:
    """Each dim as int (fixed), str (symbolic name) or None (unknown)."""
    out: list[int | str | None] = []
    for d in vi.type.tensor_type.shape.dim:
        if d.HasField("dim_value") and d.dim_value > 0:
            out.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            out.append(d.dim_param)
        else:
            out.append(None)
    return out


def _load(model: Path) -> onnx.ModelProto:
    import onnx

    if not model.exists():
        raise ModelError(
            f"model file {str(model)!r} does not exist",
            fix="check the path to the .onnx file",
        )
    if not model.is_file():
        raise ModelError(f"model path {str(model)!r} is not a file", fix="pass an .onnx file")
    try:
        proto = onnx.load(str(model), load_external_data=True)
    except Exception as exc:
        raise ModelError(
            f"{str(model)!r} is not an ONNX model",
            found=f"unreadable protobuf ({_first_line(exc)[:120]})",
            fix="export the model to ONNX (e.g. torch.onnx.export) and pass that file",
        ) from None
    if not proto.graph.node or not proto.graph.output:
        raise ModelError(
            f"{str(model)!r} is not an ONNX model",
            found="no graph nodes or outputs",
            fix="export the model to ONNX and pass that file",
        )
    return proto


def _fix_inputs(proto: onnx.ModelProto, source: Path, shapes: Mapping[str, Sequence[int]]) -> None:
    inputs = _graph_inputs(proto)
    names = [i.name for i in inputs]
    unknown = [n for n in shapes if n not in names]
    if unknown:
        raise ModelError(
            f"--input-shape names unknown input(s) {', '.join(map(repr, unknown))}",
            expected="one of " + ", ".join(map(repr, names)),
            found=", ".join(map(repr, unknown)),
            fix=f"use the model's input names, e.g. --input-shape {names[0]}=...",
        )
    for vi in inputs:
        dims = _dims(vi)
        given = shapes.get(vi.name)
        if given is not None:
            given = tuple(int(d) for d in given)
            if len(given) != len(dims):
                raise ModelError(
                    f"--input-shape for input {vi.name!r} has rank {len(given)}",
                    expected=f"rank {len(dims)} ({_fmt_dims(dims)})",
                    found=",".join(map(str, given)),
                    fix=f"give {len(dims)} dims: --input-shape {vi.name}=...",
                )
            for i, (d, g) in enumerate(zip(dims, given, strict=True)):
                if isinstance(d, int) and d != g:
                    raise ModelError(
                        f"--input-shape for input {vi.name!r} changes fixed dim {i}",
                        expected=f"{d} at dim {i} ({_fmt_dims(dims)})",
                        found=str(g),
                        fix=f"keep dim {i} at {d}",
                    )
            new = list(given)
        else:
            dynamic = [
                f"{i}" + (f" ({d!r})" if d else "") for i, d in enumerate(dims) if not isinstance(d, int)
            ]
            if dynamic:
                label = ("dim " if len(dynamic) == 1 else "dims ") + ", ".join(dynamic)
                raise ModelError(
                    f"input {vi.name!r} of {source.name} has dynamic {label}",
                    expected="a fixed shape for every input",
                    found=_fmt_dims(dims),
                    fix=f"pass {_example_spec(vi.name, dims)}",
                )
            new = [int(d) for d in dims]  # type: ignore[arg-type]
        shape_proto = vi.type.tensor_type.shape
        for dim, value in zip(shape_proto.dim, new, strict=True):
            dim.Clear()
            dim.dim_value = value


def _fmt_dims(dims: Sequence[int | str | None]) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in dims) + "]"


def _example_spec(name: str, dims: Sequence[int | str | None]) -> str:
    guess = [str(d) if isinstance(d, int) else ("1" if i == 0 else "N") for i, d in enumerate(dims)]
    return f"--input-shape {name}={','.join(guess)}"


def _clear_value_info_outputs(proto: onnx.ModelProto) -> None:
    """Drop stale symbolic output/value_info shapes so inference can fill concrete ones."""
    del proto.graph.value_info[:]
    for out in proto.graph.output:
        if out.type.HasField("tensor_type"):
            out.type.tensor_type.ClearField("shape")


def _infer(proto: onnx.ModelProto) -> onnx.ModelProto:
    import onnx

    try:
        return onnx.shape_inference.infer_shapes(proto, data_prop=True)
    except Exception:
        return proto


def _output_specs(proto: onnx.ModelProto, path: Path, inputs: list[TensorSpec]) -> list[TensorSpec]:
    specs: list[TensorSpec] = []
    need_run = False
    for out in proto.graph.output:
        dims = _dims(out)
        if not out.type.tensor_type.HasField("shape") or any(not isinstance(d, int) for d in dims):
            need_run = True
        specs.append(
            TensorSpec(
                out.name,
                tuple(d if isinstance(d, int) else -1 for d in dims),
                _dtype_name(out.type.tensor_type.elem_type),
            )
        )
    if need_run:
        import numpy as np
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feeds = {t.name: np.zeros(t.shape, dtype=t.dtype) for t in inputs}
        results = sess.run(None, feeds)
        names = [o.name for o in sess.get_outputs()]
        by_name = dict(zip(names, results, strict=True))
        specs = [
            TensorSpec(s.name, tuple(int(x) for x in by_name[s.name].shape), str(by_name[s.name].dtype))
            for s in specs
        ]
    return specs


def _write_concrete_outputs(proto: onnx.ModelProto, outputs: list[TensorSpec]) -> None:
    by_name = {t.name: t for t in outputs}
    for out in proto.graph.output:
        spec = by_name[out.name]
        shape = out.type.tensor_type.shape
        shape.Clear()
        for d in spec.shape:
            shape.dim.add().dim_value = d


def prepare(
    model: Path,
    workdir: Path,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
) -> PreparedModel:
    """Check ``model``, fix its input shapes, simplify it and write it into ``workdir``.

    Raises :class:`ModelError` (one line) for a missing or non-ONNX file, a dynamic input
    dimension with no ``--input-shape`` for it, an unknown input name or a wrong rank.
    """
    import onnx

    model = Path(model)
    workdir = Path(workdir).resolve()  # engines run their tools in other directories
    proto = _load(model)
    _check(proto, model)
    _fix_inputs(proto, model, input_shapes or {})
    out_path = workdir / f"{model.stem}.prepared.onnx"
    proto, warnings, rewrites = _simplified(proto, out_path)

    inputs = _input_specs(proto)
    outputs = _concrete_outputs(proto, out_path, inputs, model, bool(input_shapes))
    _write_concrete_outputs(proto, outputs)
    onnx.save(proto, str(out_path))
    return PreparedModel(
        source=model,
        path=out_path,
        inputs=inputs,
        outputs=outputs,
        opset=_opset(proto),
        sha256=sha256_file(out_path),
        warnings=warnings,
        rewrites=rewrites,
    )


def prepare_free(model: Path, workdir: Path, shapes: Mapping[str, Sequence[int]],
                 shapes2: Mapping[str, Sequence[int]]) -> PreparedModel:
    """``model`` with every input fixed to ``shapes`` except the dims where ``shapes2``
    differs, which stay free (-1 in the specs): one conversion for every size along them
    (ocr's recogniser over lines of any width, as rapidocr feeds it). Checked, shape-inferred
    and simplified as :func:`prepare` does; an output dim is free when onnxruntime gives it
    two sizes at the two shapes. A one-line ModelError when onnxruntime cannot run it."""
    import numpy as np
    import onnxruntime as ort

    model = Path(model)
    workdir = Path(workdir).resolve()
    proto = _load(model)
    _check(proto, model)
    _fix_inputs(proto, model, shapes)
    free = {n: [i for i, (a, b) in enumerate(zip(s, shapes2[n], strict=True)) if a != b]
            for n, s in shapes.items()}
    for vi in _graph_inputs(proto):
        for i in free.get(vi.name, []):
            dim = vi.type.tensor_type.shape.dim[i]
            dim.Clear()
            dim.dim_param = f"{vi.name}_free{i}"
    out_path = workdir / f"{model.stem}.free.onnx"
    proto, warnings, rewrites = _simplified(proto, out_path)
    examples = [{n: [int(d) for d in s] for n, s in x.items()} for x in (shapes, shapes2)]
    inputs = [TensorSpec(t.name, tuple(-1 if i in free.get(t.name, []) else int(d)
                                       for i, d in enumerate(examples[0][t.name])), t.dtype)
              for t in _free_input_specs(proto)]
    try:
        sess = ort.InferenceSession(str(out_path), providers=["CPUExecutionProvider"])
        runs = [sess.run(None, {t.name: np.zeros(x[t.name], t.dtype) for t in inputs}) for x in examples]
    except Exception as exc:
        raise ModelError(f"onnxruntime cannot run {model.name} at both shapes {examples}: "
                         f"{' '.join(_first_line(exc).split())[:300]}") from None
    outputs = [TensorSpec(o.name, tuple(int(a) if a == b else -1 for a, b in zip(r1.shape, r2.shape,
                                                                                strict=True)), str(r1.dtype))
               for o, r1, r2 in zip(sess.get_outputs(), *runs, strict=True)]
    return PreparedModel(source=model, path=out_path, inputs=inputs, outputs=outputs, opset=_opset(proto),
                         sha256=sha256_file(out_path), warnings=warnings, rewrites=rewrites,
                         examples=examples)


def _simplified(proto: onnx.ModelProto, out_path: Path) -> tuple[onnx.ModelProto, list[str], list[str]]:
    """Shape-inferred, simplified and normalized ``proto`` (its stale output value_info
    cleared first), saved to ``out_path``: with the simplifier's warnings and the rewrites."""
    import onnx

    from sdk.convert.normalize import normalize

    _clear_value_info_outputs(proto)
    warnings: list[str] = []
    proto = _simplify(_infer(proto), warnings)
    rewrites = normalize(proto)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(out_path))
    return proto, warnings, rewrites


def _free_input_specs(proto: onnx.ModelProto) -> list[TensorSpec]:
    return [TensorSpec(vi.name, (), _dtype_name(vi.type.tensor_type.elem_type))
            for vi in _graph_inputs(proto)]


def _first_line(exc: Exception) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _check(proto: onnx.ModelProto, model: Path) -> None:
    """The ONNX checker, its complaint as one ModelError line."""
    import onnx

    try:
        onnx.checker.check_model(proto)
    except Exception as exc:
        raise ModelError(
            f"{model.name} fails the ONNX checker: {_first_line(exc)[:200]}",
            fix="re-export the model with a recent exporter",
        ) from None


def _simplify(proto: onnx.ModelProto, warnings: list[str]) -> onnx.ModelProto:
    """onnxslim's simplified model, checked and re-inferred; the model as it is (and a
    warning) when onnxslim fails or yields no valid model."""
    import onnx

    try:
        import onnxslim

        slim = onnxslim.slim(proto)
        if slim is None or not isinstance(slim, onnx.ModelProto):
            raise RuntimeError("onnxslim returned no model")
        onnx.checker.check_model(slim)
        return _infer(slim)
    except Exception as exc:
        warnings.append(f"onnxslim failed, using the unsimplified model: {_first_line(exc)[:200]}")
        return proto


def _input_specs(proto: onnx.ModelProto) -> list[TensorSpec]:
    """The graph's inputs (initializers excluded), their shapes fixed by now."""
    return [
        TensorSpec(
            vi.name,
            tuple(int(d) for d in _dims(vi)),  # type: ignore[arg-type]
            _dtype_name(vi.type.tensor_type.elem_type),
        )
        for vi in _graph_inputs(proto)
    ]


def _concrete_outputs(proto: onnx.ModelProto, path: Path, inputs: list[TensorSpec], model: Path,
                      shapes_given: bool) -> list[TensorSpec]:
    """Every output with a concrete shape (onnxruntime runs the model where inference left
    one open); a model onnxruntime cannot run, or still no concrete shape, is a ModelError."""
    try:
        outputs = _output_specs(proto, path, inputs)
    except Exception as exc:
        raise ModelError(
            f"onnxruntime cannot run {model.name}"
            + (" with the given shapes" if shapes_given else "")
            + f": {' '.join(_first_line(exc).split())[:300]}",
            fix=f"check the shapes passed with {SHAPE_SYNTAX}" if shapes_given
            else "check that onnxruntime runs the model",
        ) from None
    if any(d < 0 for t in outputs for d in t.shape):
        raise ModelError(f"cannot find concrete output shapes for {model.name}")
    return outputs


def _opset(proto: onnx.ModelProto) -> int:
    """The default-domain opset the model imports (0 when it names none)."""
    return next((int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
