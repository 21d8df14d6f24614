"""Synthetic calibration and evaluation images for OCR models, deterministic by seed.

Text lines (for recognisers and direction classifiers) and document-like pages (for
detectors) rendered with the TrueType fonts Debian ships (``fonts-dejavu-core``,
``fonts-liberation``, ``fonts-freefont-ttf``), over flat, gradient and textured
backgrounds, with colour, noise, blur and small rotations. Item ``i`` of seed ``s`` depends
only on ``(s, i)``: asking for more images never changes the first ones.

Text lines can also be Chinese (``cjk=``, a fraction): the 3755 common hanzi of GB2312
level 1 in WenQuanYi Micro Hei (``fonts-wqy-microhei``). The PP-OCR ``ch_`` models are
trained on Chinese and English; on Latin-only lines their direction classifier is right
for only ~92% of lines (one in 14 is a near tie), so a calibration or evaluation set for
them should hold the script they are deployed on.

Also the input specs of the PP-OCR models (:data:`PPOCR_SPECS`), which say how these
images become model inputs through :func:`sdk.device.preprocess.preprocess`.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sdk.device.preprocess import ImageSpec
from sdk.errors import SdkError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "FONT_DIRS",
    "PPOCR_SPECS",
    "find_cjk_fonts",
    "find_fonts",
    "is_chinese",
    "render_pages",
    "render_text_lines",
    "render_text_lines_with_labels",
    "write_images",
]

FONT_DIRS = (
    ("/usr/share/fonts/truetype/dejavu", "fonts-dejavu-core"),
    ("/usr/share/fonts/truetype/liberation", "fonts-liberation"),
    ("/usr/share/fonts/truetype/freefont", "fonts-freefont-ttf"),
)

CJK_FONT_DIRS = (("/usr/share/fonts/truetype/wqy", "fonts-wqy-microhei"),)

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

# PP-OCR (PaddleOCR / RapidOCR) inputs: the image is used in OpenCV's BGR order as-is.
PPOCR_SPECS: dict[str, ImageSpec] = {
    "det": ImageSpec(
        width=640,
        height=640,
        color="bgr",
        mean=tuple(m * 255.0 for m in _IMAGENET_MEAN),
        norm=tuple(1.0 / (s * 255.0) for s in _IMAGENET_STD),
        letterbox=True,
        align="topleft",
        pad=0.0,
    ),
    "rec": ImageSpec(
        width=320,
        height=48,
        color="bgr",
        mean=(127.5,),
        norm=(1.0 / 127.5,),
        letterbox=True,
        align="topleft",
        pad=127.5,
    ),
}
# the direction classifier takes the recogniser's preprocessing on a narrower crop
PPOCR_SPECS["cls"] = replace(PPOCR_SPECS["rec"], width=192)

_WORD_TEXT = (
    "the of and to in is for on with as by at from that this be are was it or an not have "
    "invoice total amount date number price quantity order customer address street city "
    "phone email account payment receipt balance due tax subtotal item description unit "
    "model serial version board device memory power voltage current sensor camera network "
    "station platform north south east west avenue road lane park river bridge market "
    "Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April "
    "May June July August September October November December Paris Berlin London Madrid "
    "Rome Tokyo Oslo Vienna Prague Warsaw Lisbon Dublin Zurich hello world open close start "
    "stop exit entrance warning caution danger office room floor level section page chapter "
    "figure table report summary result status ready error success pending shipped delivered "
    "café naïve résumé straße Größe año niño façade déjà über Ärger"
)
_WORDS = _WORD_TEXT.split()

_LATIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS = "0123456789"
_PUNCT = ".,:;-/()#%&+*'!?"


def _fonts_in(dirs: Sequence[tuple[str, str]], suffixes: tuple[str, ...], what: str) -> tuple[Path, ...]:
    fonts: list[Path] = []
    for d, _pkg in dirs:
        p = Path(d)
        if p.is_dir():
            fonts += sorted(f for f in p.iterdir() if f.suffix in suffixes and "Math" not in f.name)
    if not fonts:
        raise SdkError(
            f"no {what}",
            expected=f"{' or '.join('*' + x for x in suffixes)} under {', '.join(d for d, _ in dirs)}",
            found="none",
            fix=f"apt-get install {' '.join(pkg for _, pkg in dirs)}",
        )
    return tuple(fonts)


@lru_cache(maxsize=1)
def find_fonts() -> tuple[Path, ...]:
    """The TrueType fonts used for rendering, sorted (so rendering is deterministic)."""
    return _fonts_in(FONT_DIRS, (".ttf",), "TrueType fonts to render synthetic text")


@lru_cache(maxsize=1)
def find_cjk_fonts() -> tuple[Path, ...]:
    """The fonts used for Chinese lines (TrueType collections; face 0 is used), sorted."""
    return _fonts_in(CJK_FONT_DIRS, (".ttc", ".ttf"), "CJK font to render Chinese text lines")


@lru_cache(maxsize=1)
def _hanzi() -> tuple[str, ...]:
    """GB2312 level 1: the 3755 most common simplified Chinese characters (rows 16-55)."""
    return tuple(bytes([a, b]).decode("gb2312") for a in range(0xB0, 0xD8) for b in range(0xA1, 0xFF)
                 if not (a == 0xD7 and b > 0xF9))


def is_chinese(text: str) -> bool:
    """Whether a rendered line's text is one of the Chinese lines (it holds hanzi)."""
    return any("\u4e00" <= c <= "\u9fff" for c in text)


def _random_hanzi_text(rng: np.random.Generator, max_chars: int = 28) -> str:
    text = "".join(str(c) for c in rng.choice(_hanzi(), size=int(rng.integers(2, 15))))
    r = rng.random()
    if r < 0.2:  # a number, as in prices, dates and addresses
        text += str(rng.integers(0, 10000))
    elif r < 0.35:
        text += str(rng.choice(list("，。：；！？、")))
    return text[:max_chars]


@lru_cache(maxsize=256)
def _font(path: str, size: int):  # type: ignore[no-untyped-def]
    from PIL import ImageFont

    return ImageFont.truetype(path, size)


def _rng(seed: int, i: int, salt: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(i), salt])


def _random_text(rng: np.random.Generator, max_chars: int = 28) -> str:
    kind = rng.integers(0, 6)
    if kind == 0:  # a date or a time
        y, m, d = rng.integers(1950, 2040), rng.integers(1, 13), rng.integers(1, 29)
        sep = str(rng.choice(["-", "/", "."]))
        text = f"{y}{sep}{m:02d}{sep}{d:02d}"
        if rng.random() < 0.5:
            text += f" {rng.integers(0, 24):02d}:{rng.integers(0, 60):02d}"
    elif kind == 1:  # a price or an amount
        text = f"{rng.choice(['$', '€', '£', ''])}{rng.integers(0, 100000)}.{rng.integers(0, 100):02d}"
        if rng.random() < 0.5:
            text = f"{rng.choice(_WORDS).capitalize()} {text}"
    elif kind == 2:  # digits: phone numbers, codes
        sizes = rng.integers(2, 5, size=int(rng.integers(2, 5)))
        groups = ["".join(rng.choice(list(_DIGITS), size=int(k))) for k in sizes]
        text = str(rng.choice([" ", "-", ""])).join(groups)
    elif kind == 3:  # random Latin letters, digits and punctuation (code-like)
        alphabet = list(_LATIN + _DIGITS + _PUNCT)
        text = "".join(rng.choice(alphabet, size=int(rng.integers(4, 16))))
    else:  # words
        n = int(rng.integers(1, 6))
        words = [str(w) for w in rng.choice(_WORDS, size=n)]
        if rng.random() < 0.3:
            words = [w.capitalize() for w in words]
        elif rng.random() < 0.15:
            words = [w.upper() for w in words]
        text = " ".join(words)
        if rng.random() < 0.3:
            text += str(rng.choice(list(_PUNCT[:4])))
    text = text.strip() or "0"
    return text[:max_chars].strip() or "0"


def _color(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, size=3).astype(np.float32)


def _luma(c: np.ndarray) -> float:
    return float(0.114 * c[0] + 0.587 * c[1] + 0.299 * c[2])  # BGR


def _background(rng: np.random.Generator, h: int, w: int, light: bool | None = None) -> np.ndarray:
    """float32 HxWx3 BGR background: flat, gradient or noise texture."""
    import cv2

    def pick() -> np.ndarray:
        c = _color(rng)
        if light is True:
            c = 150 + c * (105 / 255)
        elif light is False:
            c = c * (100 / 255)
        return c

    kind = rng.integers(0, 3)
    if kind == 0:
        bg = np.broadcast_to(pick(), (h, w, 3)).astype(np.float32)
    elif kind == 1:
        a, b = pick(), pick()
        ang = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = xx * np.cos(ang) + yy * np.sin(ang)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        bg = a[None, None] * (1 - t[..., None]) + b[None, None] * t[..., None]
    else:
        base = pick()
        cell = int(rng.integers(2, 16))
        small = rng.standard_normal((h // cell + 2, w // cell + 2, 3)).astype(np.float32)
        tex = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)[:h, :w]
        bg = base[None, None] + tex * rng.uniform(5, 30)
    return np.clip(bg, 0, 255).astype(np.float32)


def _contrasting(rng: np.random.Generator, bg_luma: float) -> np.ndarray:
    for _ in range(20):
        c = _color(rng)
        if abs(_luma(c) - bg_luma) > 90:
            return c
    return np.zeros(3, np.float32) if bg_luma > 127 else np.full(3, 255.0, np.float32)


def _text_mask(text: str, font_path: str, size: int) -> np.ndarray:
    """float32 alpha in [0,1] of ``text`` with a small margin, tight around the ink."""
    from PIL import Image, ImageDraw

    font = _font(font_path, size)
    left, top, right, bottom = font.getbbox(text)
    w, h = max(1, right - left), max(1, bottom - top)
    m = max(2, size // 8)
    img = Image.new("L", (w + 2 * m, h + 2 * m), 0)
    ImageDraw.Draw(img).text((m - left, m - top), text, font=font, fill=255)
    return np.asarray(img, dtype=np.float32) / 255.0


def _degrade(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    import cv2

    if rng.random() < 0.5:
        sigma = rng.uniform(0.3, 1.3)
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    if rng.random() < 0.7:
        img = img + rng.standard_normal(img.shape).astype(np.float32) * rng.uniform(1, 10)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _one_line(seed: int, i: int, height: int, cjk: float = 0.0) -> tuple[np.ndarray, str]:
    import cv2

    rng = _rng(seed, i, 1)
    fonts = find_fonts()
    font = str(fonts[int(rng.integers(0, len(fonts)))])
    text = _random_text(rng)
    if cjk > 0.0:  # its own stream: the Latin lines stay exactly what they were without cjk
        crng = _rng(seed, i, 7)
        if crng.random() < cjk:
            cj = find_cjk_fonts()
            font = str(cj[int(crng.integers(0, len(cj)))])
            text = _random_hanzi_text(crng)
    max_w = int(rng.integers(100, 401))
    size = round(height * float(rng.uniform(0.55, 0.85)))
    mask = _text_mask(text, font, size)
    # fit the target height, then keep the width within ~100..400 (drop trailing chars if needed)
    while True:
        scale = height * float(rng.uniform(0.7, 0.95)) / mask.shape[0]
        width = round(mask.shape[1] * scale)
        if width <= max_w or len(text) <= 2:
            break
        cut = text[: max(2, int(len(text) * max_w / width))]
        if " " in cut.strip():  # end on a whole word when there is one
            cut = cut.strip().rsplit(" ", 1)[0]
        text = cut.strip() or text[:2]
        mask = _text_mask(text, font, size)
    th = max(1, round(mask.shape[0] * scale))
    mask = cv2.resize(mask, (max(1, width), th), interpolation=cv2.INTER_AREA)
    pad_l = int(rng.integers(2, 16))
    pad_r = int(rng.integers(2, 16))
    out_w = max(100, width + pad_l + pad_r)
    alpha = np.zeros((height, out_w), np.float32)
    y0 = int(rng.integers(0, max(1, height - th + 1)))
    x0 = min(pad_l, out_w - width)
    alpha[y0:y0 + th, x0:x0 + width] = mask[: height - y0]
    bg = _background(rng, height, out_w)
    fg = _contrasting(rng, float(np.mean(bg @ np.array([0.114, 0.587, 0.299], np.float32))))
    img = bg * (1 - alpha[..., None]) + fg[None, None] * alpha[..., None]
    angle = rng.uniform(-3, 3)
    if abs(angle) > 0.3:
        rot = cv2.getRotationMatrix2D((out_w / 2, height / 2), angle, 1.0)
        img = cv2.warpAffine(
            img, rot, (out_w, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
    return _degrade(rng, img), text


def render_text_lines_with_labels(n: int, seed: int, height: int = 48,
                                  cjk: float = 0.0) -> list[tuple[np.ndarray, str]]:
    """``n`` BGR uint8 text-line crops (``height`` x ~100-400 px) with the text they show;
    about a ``cjk`` fraction of them Chinese."""
    if n < 0 or height < 8 or not 0.0 <= cjk <= 1.0:
        raise ValueError(f"expected n >= 0, height >= 8 and 0 <= cjk <= 1, got n={n}, height={height}, "
                         f"cjk={cjk}")
    return [_one_line(seed, i, height, cjk) for i in range(n)]


def render_text_lines(n: int, seed: int, height: int = 48, cjk: float = 0.0) -> list[np.ndarray]:
    """``n`` BGR uint8 text-line crops; see :func:`render_text_lines_with_labels`."""
    return [img for img, _ in render_text_lines_with_labels(n, seed, height, cjk)]


def _paste(canvas: np.ndarray, alpha: np.ndarray, color: np.ndarray, x: int, y: int) -> None:
    h, w = canvas.shape[:2]
    ah, aw = alpha.shape
    x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + aw), min(h, y + ah)
    if x1 <= x0 or y1 <= y0:
        return
    a = alpha[y0 - y:y1 - y, x0 - x:x1 - x, None]
    region = canvas[y0:y1, x0:x1]
    canvas[y0:y1, x0:x1] = region * (1 - a) + color[None, None] * a


def _rotated(alpha: np.ndarray, angle: float) -> np.ndarray:
    import cv2

    if abs(angle) < 0.2:
        return alpha
    h, w = alpha.shape
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    c, s = abs(rot[0, 0]), abs(rot[0, 1])
    nw, nh = int(h * s + w * c) + 2, int(h * c + w * s) + 2
    rot[0, 2] += nw / 2 - w / 2
    rot[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(alpha, rot, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=0)


def _shapes(rng: np.random.Generator, page: np.ndarray) -> None:
    import cv2

    h, w = page.shape[:2]
    for _ in range(int(rng.integers(0, 5))):
        kind = rng.integers(0, 4)
        color = tuple(float(c) for c in _color(rng))
        thick = int(rng.integers(1, 4)) if rng.random() < 0.7 else -1
        p = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        q = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        if kind == 0:
            cv2.line(page, p, q, color, int(rng.integers(1, 4)), cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(page, p, q, color, thick)
        elif kind == 2:
            cv2.circle(page, p, int(rng.integers(5, max(6, min(h, w) // 6))), color, thick, cv2.LINE_AA)
        else:  # a smooth "photo": low-frequency colour noise in a box
            bw, bh = int(rng.integers(w // 8, w // 3)), int(rng.integers(h // 8, h // 3))
            gh, gw = int(rng.integers(2, 8)), int(rng.integers(2, 8))
            small = np.asarray(rng.uniform(0, 255, size=(gh, gw, 3)))
            photo = np.asarray(
                cv2.resize(small.astype(np.float32), (bw, bh), interpolation=cv2.INTER_CUBIC), np.float32
            )
            photo = photo + np.asarray(rng.standard_normal(photo.shape), dtype=np.float32) * 8
            x, y = p[0] % max(1, w - bw), p[1] % max(1, h - bh)
            page[y:y + bh, x:x + bw] = np.clip(photo, 0, 255)


def _one_page(seed: int, i: int, size: tuple[int, int]) -> np.ndarray:
    rng = _rng(seed, i, 2)
    w, h = size
    fonts = find_fonts()
    light = bool(rng.random() < 0.8)
    page = np.ascontiguousarray(_background(rng, h, w, light=light))
    _shapes(rng, page)
    page_angle = rng.uniform(-10, 10) if rng.random() < 0.4 else 0.0
    n_lines = int(rng.integers(3, 14))
    y = int(rng.integers(0, max(1, h // 10)))
    for _ in range(n_lines):
        font = str(fonts[int(rng.integers(0, len(fonts)))])
        size_px = int(rng.integers(max(10, h // 50), max(12, h // 12)))
        parts = [_random_text(rng, 40) for _ in range(int(rng.integers(1, 4)))]
        alpha = _text_mask("  ".join(parts), font, size_px)
        angle = page_angle + (rng.uniform(-25, 25) if rng.random() < 0.15 else rng.uniform(-2, 2))
        alpha = _rotated(alpha, angle)
        x = int(rng.integers(-alpha.shape[1] // 8, max(1, w - alpha.shape[1] // 2)))
        yy = y if rng.random() < 0.8 else int(rng.integers(0, h))
        region = page[max(0, yy):yy + alpha.shape[0], max(0, x):x + alpha.shape[1]]
        bg_luma = float(region.mean(axis=(0, 1)) @ np.array([0.114, 0.587, 0.299])) if region.size else 128.0
        _paste(page, alpha, _contrasting(rng, bg_luma), x, yy)
        y += alpha.shape[0] + int(rng.integers(0, max(2, h // 20)))
        if y >= h:
            y = int(rng.integers(0, h // 2))
    return _degrade(rng, page)


def render_pages(n: int, seed: int, size: tuple[int, int] = (640, 640)) -> list[np.ndarray]:
    """``n`` BGR uint8 document-like pages of ``size`` = (width, height) with text and shapes."""
    if n < 0 or min(size) < 32:
        raise ValueError(f"expected n >= 0 and a size of at least 32x32, got n={n}, size={size}")
    return [_one_page(seed, i, (int(size[0]), int(size[1]))) for i in range(n)]


def write_images(images: Sequence[np.ndarray], dir: Path) -> list[Path]:
    """Write ``images`` (BGR or gray uint8) as ``00000.png``, ``00001.png``... into ``dir``."""
    import cv2

    out = Path(dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for k, img in enumerate(images):
        ok, buf = cv2.imencode(".png", np.asarray(img))
        if not ok:
            raise ValueError(f"image {k}: cannot encode {img.dtype} {img.shape} as PNG")
        path = out / f"{k:05d}.png"
        path.write_bytes(buf.tobytes())
        paths.append(path)
    return paths
