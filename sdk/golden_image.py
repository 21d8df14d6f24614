"""The golden picture of a deploy with ``--preprocess``: a synthetic one or the user's, and the
input tensor the host's reference preprocessing makes of it (the board must make the same)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sdk.device.preprocess import ImageSpec

if TYPE_CHECKING:
    import numpy as np

    from sdk.convert import PreparedModel


def synthetic_image(seed: int = 0, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """A deterministic BGR test picture: gradients, shapes and texture (no data needed)."""
    import cv2
    import numpy as np

    w, h = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xx / w * 255, yy / h * 255, (xx + yy) / (w + h) * 255], axis=2)
    img = (img + rng.normal(0, 12, img.shape)).clip(0, 255).astype(np.uint8)
    for _ in range(12):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x0, y0), (x0 + int(rng.integers(20, 200)), y0 + int(rng.integers(20, 150))),
                          color, -1)
        else:
            cv2.circle(img, (x0, y0), int(rng.integers(10, 90)), color, -1)
    cv2.putText(img, "edge-sdk 0123", (20, h // 2), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (255, 255, 255), 4)
    return img


def image_input(
    prepared: PreparedModel, spec: ImageSpec, image: Path | None
) -> tuple[str, np.ndarray, np.ndarray]:
    """The input ``spec`` feeds, the golden u8 image and its reference-preprocessed tensor."""
    from sdk.device.preprocess import preprocess
    from sdk.errors import ModelError

    names = [t.name for t in prepared.inputs]
    name = spec.input or (names[0] if len(names) == 1 else None)
    if name is None or name not in names:
        raise ModelError(
            "--preprocess must name the image input of a model with several inputs" if name is None
            else f"--preprocess names input '{name}', which the model does not have",
            expected="input=NAME with NAME one of " + ", ".join(names), found=str(spec.input),
        )
    shape = next(t.shape for t in prepared.inputs if t.name == name)
    want = (1, spec.channels, spec.height, spec.width)
    if tuple(shape) != want:
        raise ModelError(
            f"--preprocess does not produce input '{name}'s shape",
            expected=f"{list(shape)} (NCHW)", found=f"{list(want)} from size={spec.width}x{spec.height}, "
            f"color={spec.color}",
            fix=f"use size={shape[3]}x{shape[2]}" if len(shape) == 4 else None,
        )
    if image is None:
        img = synthetic_image()
    else:
        import cv2
        import numpy as np

        data = np.fromfile(image, dtype=np.uint8) if Path(image).is_file() else None
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
        if decoded is None:
            raise ModelError(f"cannot read image {image}", expected="a PNG/JPEG/BMP file",
                             fix="pass --image with a readable picture")
        img = decoded
    src = img
    if spec.color == "gray":
        import cv2

        src = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    x, _ = preprocess(src, spec, "gray" if spec.color == "gray" else "bgr")
    return name, src, x
