"""Which task a model does, read from its outputs, and what that means for int8.

:func:`find_task` looks at the outputs of the prepared ONNX model (shapes and the ops that
produce them) and names the task its int8 agreement is judged by (:mod:`sdk.device.tasks`);
``--task`` overrides it. The rules, first match wins:

- ``ocr-rec``: a softmax over the last axis of a ``[1, T, C]`` output (T > 1 time steps);
- ``classify``: a softmax over the last axis of a ``[1, C]`` output, or ``[1, C]`` logits;
- ``detect``: a ``[1, 4 + C, N]`` (YOLOv8/v11) or ``[1, N, 5 + C]`` (YOLOv5/v7) output with
  N > 4 + C anchors and a Sigmoid among the ops that make it (the class scores);
- ``ocr-det``: a ``[1, 1, H, W]`` map made by a Sigmoid (DBNet / PP-OCR's text probability);
- ``segment``: a ``[1, C, H, W]`` map with C > 1 classes at >= 1/8 of the input's size;
- ``raw``: anything else.

Also what the int8 search needs from the task: the default budget of each task metric
(:data:`DEFAULT_BUDGETS`), a continuous figure to rank layers by (:func:`rank_score`), and
the layers known to hurt it in int8 (:func:`culprits`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sdk.device.tasks import TASKS, TaskSpec, class_scores, cosine, margin_cosine, output_cosine, yolo_rows
from sdk.errors import QuantizeError

if TYPE_CHECKING:
    from sdk.convert.prepare import PreparedModel

__all__ = ["DEFAULT_BUDGETS", "EVIDENCE_THRESHOLDS", "MIN_DETECTIONS", "GraphOp", "culprits",
           "detection_evidence", "find_task", "rank_score", "task_spec"]

# The budget of each task metric when --budget is not given: recall and precision of the
# fp32 detections (the detector targets), the margin cosine (what the PP-OCR targets were
# tuned on), the mask IoU of a map, the cosine of anything else.
DEFAULT_BUDGETS = {"detect": 0.95, "classify": 0.99, "ocr-rec": 0.99, "ocr-det": 0.95, "segment": 0.95,
                   "raw": 0.99}
# A detector's recall and precision on the held-out images rest on the fp32 detections found
# there: on 2 (a YOLOv8 fall detector on 12 held-out views of photos with few people) both
# read 1.0 for a full int8 model that kept 0.936 of 47 detections on other photos, and the
# search stopped at once. Below MIN_DETECTIONS the flow judges at the highest of
# EVIDENCE_THRESHOLDS that gives that many (the same NMS, more low-score detections), and says so.
MIN_DETECTIONS = 20
EVIDENCE_THRESHOLDS = (0.2, 0.15, 0.1, 0.05)
_SIGMOID_DEPTH = 12  # how far back from an output a Sigmoid still counts as its producer


def _producers(model: Any) -> dict[str, Any]:
    return {t: n for n in model.graph.node for t in n.output}


def _upstream_ops(producer: Mapping[str, Any], tensor: str, depth: int) -> list[str]:
    """The op types within ``depth`` ops upstream of ``tensor`` (breadth first)."""
    seen: set[int] = set()
    frontier, kinds = [tensor], []
    for _ in range(depth):
        nxt = []
        for t in frontier:
            node = producer.get(t)
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            kinds.append(node.op_type)
            nxt += list(node.input)
        frontier = nxt
    return kinds


def _softmax_last(model: Any, producer: Mapping[str, Any], name: str, rank: int) -> bool:
    import onnx

    node = producer.get(name)
    while node is not None and node.op_type == "Identity":
        node = producer.get(node.input[0])
    if node is None or node.op_type not in ("Softmax", "LogSoftmax"):
        return False
    axes = [onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"]
    axis = axes[0] if axes else (-1 if model.opset_import[0].version >= 13 else 1)
    return axis in (-1, rank - 1)


def find_task(prepared: PreparedModel) -> TaskSpec:
    """The task of ``prepared``'s outputs by the rules above (the first output that names one)."""
    import onnx

    model = onnx.load(str(prepared.path), load_external_data=False)
    producer = _producers(model)
    in_shape = tuple(prepared.inputs[0].shape) if prepared.inputs else ()
    for out in prepared.outputs:
        shape = tuple(int(d) for d in out.shape)
        rank = len(shape)
        desc = f"{out.name} {list(shape)}"
        if rank >= 2 and shape[0] == 1 and _softmax_last(model, producer, out.name, rank):
            if rank == 3 and shape[1] > 1:
                return TaskSpec("ocr-rec", out.name, classes=shape[2],
                                why=f"{desc}: a softmax over {shape[2]} classes at each of {shape[1]} steps")
            if rank == 2:
                return TaskSpec("classify", out.name, classes=shape[1],
                                why=f"{desc}: a softmax over {shape[1]} classes")
        ups = _upstream_ops(producer, out.name, _SIGMOID_DEPTH)
        if rank == 3 and shape[0] == 1 and "Sigmoid" in ups:
            a, b = shape[1], shape[2]
            if 5 <= a < b:
                return TaskSpec("detect", out.name, "yolov8", a - 4,
                                why=f"{desc}: a YOLOv8-style head (4 box rows + {a - 4} class scores "
                                f"over {b} anchors)")
            if 6 <= b < a:
                return TaskSpec("detect", out.name, "yolov5", b - 5,
                                why=f"{desc}: a YOLOv5-style head ({a} anchors x (4 box + objectness + "
                                f"{b - 5} class scores))")
        if rank == 2 and shape[0] == 1 and shape[1] > 1:
            return TaskSpec("classify", out.name, classes=shape[1], why=f"{desc}: {shape[1]} class logits")
        if rank == 4 and shape[0] == 1:
            if shape[1] == 1 and "Sigmoid" in ups[:4]:
                return TaskSpec("ocr-det", out.name,
                                why=f"{desc}: a one-channel sigmoid map (text probability)")
            big = len(in_shape) == 4 and shape[2] * 8 >= in_shape[2] and shape[3] * 8 >= in_shape[3]
            if shape[1] > 1 and big:
                return TaskSpec("segment", out.name, classes=shape[1],
                                why=f"{desc}: a map of {shape[1]} class scores per pixel")
    return TaskSpec("raw", None, why="no output looks like detections, class scores or a map")


def task_spec(prepared: PreparedModel, task: str | None) -> TaskSpec:
    """``--task`` (checked against the outputs it needs) or the task found in the model."""
    if task is None or task == "auto":
        return find_task(prepared)
    if task not in TASKS:
        import difflib

        close = difflib.get_close_matches(task, TASKS, n=1)
        raise QuantizeError(f"unknown task '{task}'", expected=" | ".join(TASKS), found=task,
                            fix=f"did you mean {close[0]}?" if close else None)
    found = find_task(prepared)
    if found.task == task:
        return TaskSpec(**{**found.to_dict(), "why": f"--task {task} ({found.why})"})
    if task == "raw":
        return TaskSpec("raw", None, why="--task raw")
    out = prepared.outputs[0]
    shape = tuple(int(d) for d in out.shape)
    if task == "detect":
        if len(shape) != 3 or shape[0] != 1 or min(shape[1:]) < 5:
            raise QuantizeError("--task detect needs a YOLO head output",
                                expected="[1, 4+C, N] (YOLOv8) or [1, N, 5+C] (YOLOv5)",
                                found=f"{out.name} {list(shape)}", fix="pass --task raw or leave --task out")
        layout = "yolov8" if shape[1] < shape[2] else "yolov5"
        classes = shape[1] - 4 if layout == "yolov8" else shape[2] - 5
        return TaskSpec("detect", out.name, layout, classes, why=f"--task detect ({layout} layout)")
    if task in ("classify", "ocr-rec") and len(shape) < 2:
        raise QuantizeError(f"--task {task} needs class scores", expected="[1, C] or [1, T, C]",
                            found=f"{out.name} {list(shape)}")
    if task in ("ocr-det", "segment") and len(shape) != 4:
        raise QuantizeError(f"--task {task} needs a map output", expected="[1, C, H, W]",
                            found=f"{out.name} {list(shape)}")
    return TaskSpec(task, out.name, classes=shape[-1] if task in ("classify", "ocr-rec") else
                    (shape[1] if task == "segment" else 0), why=f"--task {task}")


# ------------------------------------------------------------------------- the search


def detection_evidence(spec: TaskSpec, refs: Sequence[Mapping[str, np.ndarray]],
                       ) -> tuple[TaskSpec, str | None]:
    """The detector's spec with the score threshold its held-out figures can rest on, and a
    warning when that is not the deployment's (:data:`MIN_DETECTIONS`): ``spec`` as it is for
    other tasks, for a threshold set by the caller, and when the reference finds enough."""
    from dataclasses import replace

    from sdk.device.tasks import SCORE_THRESHOLD, decode

    if spec.task != "detect" or spec.threshold is not None or spec.output is None or not refs:
        return spec, None
    lay, out = spec.layout or "yolov8", spec.output

    def count(thr: float) -> int:
        return sum(len(decode(np.asarray(r[out]), lay, thr)) for r in refs)

    n0 = count(SCORE_THRESHOLD)
    if n0 >= MIN_DETECTIONS:
        return spec, None
    thr, n = SCORE_THRESHOLD, n0
    for thr in EVIDENCE_THRESHOLDS:
        n = count(thr)
        if n >= MIN_DETECTIONS:
            break
    msg = (f"the fp32 model finds {n0} detections (score >= {SCORE_THRESHOLD}) on the {len(refs)} held-out "
           f"images, too few to judge recall and precision by (< {MIN_DETECTIONS}): int8 is judged at "
           f"score >= {thr} ({n} detections); calibration images with more of the objects it detects "
           "give a truer figure")
    return replace(spec, threshold=thr), msg



def rank_score(spec: TaskSpec, output_names: Sequence[str], margins: Sequence[str] = (),
               ) -> Callable[[Sequence[Sequence[np.ndarray]], Sequence[Sequence[np.ndarray]]], float]:
    """A continuous figure (higher: closer) of a few feeds' outputs, to rank layers by: for a
    detector the worse of the class-score and box cosines (the detections' recall moves in
    steps, too coarse to rank 60 layers on 4 images), the margin cosine of class scores,
    the cosine of anything else. ``refs[k][i]``: feed k's output i in ``output_names`` order."""
    names = list(output_names)
    head = names.index(spec.output) if spec.output in names else None

    def detect(refs: Sequence[Sequence[np.ndarray]], gots: Sequence[Sequence[np.ndarray]]) -> float:
        assert head is not None
        a = [np.asarray(r[head]) for r in refs]
        b = [np.asarray(g[head]).reshape(x.shape) for g, x in zip(gots, a, strict=True)]
        lay = spec.layout or "yolov8"
        cls = cosine(np.concatenate([class_scores(x, lay).ravel() for x in a]),
                     np.concatenate([class_scores(y, lay).ravel() for y in b]))
        box = cosine(np.concatenate([yolo_rows(x, lay)[:4].ravel() for x in a]),
                     np.concatenate([yolo_rows(y, lay)[:4].ravel() for y in b]))
        return min(cls, box)

    def generic(refs: Sequence[Sequence[np.ndarray]], gots: Sequence[Sequence[np.ndarray]]) -> float:
        figs = []
        for i, name in enumerate(names):
            a = [np.asarray(r[i]) for r in refs]
            b = [np.asarray(g[i]).reshape(x.shape) for g, x in zip(gots, a, strict=True)]
            if name in margins or (spec.task in ("classify", "ocr-rec") and name == spec.output):
                from sdk.device.tasks import _as_probs

                figs.append(margin_cosine([_as_probs(x) for x in a], [_as_probs(y) for y in b]))
            else:
                figs.append(output_cosine(a, b, worst=True))
        return min(figs)

    return detect if spec.task == "detect" and head is not None else generic


@dataclass(frozen=True)
class GraphOp:
    """One op of an engine's own graph, as the culprit search reads it."""

    name: str
    kind: str  # conv (quantizable) | concat | softmax | sigmoid | shape | other
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


HEAD = "last layer before an output (its int8 error goes straight into the scores/boxes)"
DECODE = "decode layer: its input is a softmax (DFL's expectation), 0..1 crushed into int8"
CONCAT = "its tensor is concatenated with one of a {ratio:.0f}x larger range: one int8 scale crushes it"
RANGE_RATIO = 16.0  # two concatenated ranges further apart than this share an int8 scale badly
_THROUGH = ("shape", "other")  # ops a path walks through to find a conv's consumers


def culprits(ops: Sequence[GraphOp], graph_outputs: Sequence[str],
             absmax: Callable[[Sequence[str]], Mapping[str, float]] | None = None) -> dict[str, str]:
    """Quantizable layers known to hurt a head in int8, and why: those after a softmax
    (decode), those whose tensors are concatenated with a much larger range (measured by
    ``absmax`` on the fp32 model), and the last ones before each output (head)."""
    producer = {t: op for op in ops for t in op.outputs}
    consumers: dict[str, list[GraphOp]] = {}
    for op in ops:
        for t in op.inputs:
            consumers.setdefault(t, []).append(op)
    found: dict[str, str] = {}

    def convs_up(tensor: str, through_softmax: bool = False, depth: int = 64) -> list[str]:
        """The convs that make ``tensor`` through non-conv ops (through a softmax only if asked)."""
        out, todo, seen = [], [tensor], set()
        while todo and depth > 0:
            depth -= 1
            t = todo.pop()
            op = producer.get(t)
            if op is None or op.name in seen:
                continue
            seen.add(op.name)
            if op.kind == "conv":
                out.append(op.name)
            elif op.kind != "softmax" or through_softmax:
                todo += list(op.inputs)
        return out

    # decode: a conv whose input comes from a softmax through shape ops only
    for op in ops:
        if op.kind != "conv":
            continue
        t, hops = op.inputs[0] if op.inputs else "", 0
        while hops < 6 and t in producer and producer[t].kind == "shape":
            t, hops = (producer[t].inputs[0] if producer[t].inputs else ""), hops + 1
        if t in producer and producer[t].kind == "softmax":
            found[op.name] = DECODE
    # concat of very different ranges: the convs that make the smaller inputs
    concats = [op for op in ops if op.kind == "concat" and len(op.inputs) > 1]
    if absmax is not None and concats:
        try:
            ranges = absmax(sorted({t for op in concats for t in op.inputs}))
        except Exception:  # the engine cannot read those tensors: no range rule, the others hold
            ranges = {}
        for op in concats:
            r = [ranges.get(t, 0.0) for t in op.inputs]
            top = max(r)
            for t, v in zip(op.inputs, r, strict=True):
                if v > 0 and top / v > RANGE_RATIO:
                    for c in convs_up(t):
                        found.setdefault(c, CONCAT.format(ratio=top / v))
    # head: the convs an output is made from without another conv in between
    for out in graph_outputs:
        for c in convs_up(out, through_softmax=True):
            found.setdefault(c, HEAD)
    return found
