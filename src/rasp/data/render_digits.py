"""Offline stand-in for SVHN: rendered street-number-like digits in the SVHN layout.

In the style of the "Synthetic Digits" set (Ganin & Lempitsky 2015): each 32x32 RGB
image shows a house-number-like row of digits with the labelled digit centred and
neighbouring distractor digits cut off at the edges, in a random font, size, letter
spacing, colour pair (with a minimum luminance contrast), outline, rotation, position
jitter, background gradient, blur and pixel noise.

Fonts: the TrueType fonts of Debian's ``fonts-dejavu`` package
(``/usr/share/fonts/truetype/dejavu``) when present, otherwise Pillow's scalable
built-in font (``ImageFont.load_default(size=...)``, needs Pillow with FreeType). If
neither is available :func:`available_fonts` raises with instructions. The fonts used
are recorded in the provenance because they change the images.

Images are returned in the SVHN ``.mat`` layout: X uint8 (32, 32, 3, N), labels 1..10
with 10 meaning the digit 0, so that :func:`rasp.data.svhn.load_svhn_mat` converts both
sources the same way.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from rasp.data.provenance import md5_file
from rasp.data.svhn import digits_to_svhn_labels

log = logging.getLogger(__name__)

DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
PILLOW_DEFAULT_FONT = "pillow-default"
_RENDER_PX = 48  # font size (pixels) on the drawing canvas, before scaling to 32x32


@dataclass(frozen=True)
class FontSpec:
    """A font to draw with: display ``name`` and TrueType ``path`` (None: Pillow's)."""

    name: str
    path: str | None

    def record(self) -> dict[str, Any]:
        """Name, path and MD5 of the font file, for provenance."""
        rec: dict[str, Any] = {"name": self.name, "path": self.path}
        if self.path is not None:
            rec["md5"] = md5_file(self.path)
        return rec


def available_fonts(font_dir: str | Path = DEJAVU_DIR) -> list[FontSpec]:
    """The fonts to render with (see module docstring); raises if there are none."""
    font_dir = Path(font_dir)
    if font_dir.is_dir():
        paths = sorted(p for p in font_dir.glob("*.ttf") if "Math" not in p.name)
        if paths:
            return [FontSpec(p.stem, str(p)) for p in paths]
    try:
        font = ImageFont.load_default(size=_RENDER_PX)
    except (ImportError, OSError, TypeError) as err:  # pragma: no cover - Pillow w/o FreeType
        font, reason = None, str(err)
    else:
        reason = "Pillow's default font is a fixed-size bitmap (Pillow built without FreeType)"
    if isinstance(font, ImageFont.FreeTypeFont):
        return [FontSpec(PILLOW_DEFAULT_FONT, None)]
    raise RuntimeError(
        f"no scalable font to render digits: {font_dir} has no .ttf files and {reason}. "
        "Install the Debian package fonts-dejavu-core (apt-get install fonts-dejavu-core) "
        "or a Pillow wheel with FreeType support (the PyPI wheels have it)."
    )


@lru_cache(maxsize=64)
def _load_font(path: str | None, size: int) -> ImageFont.FreeTypeFont:
    if path is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(path, size)


@dataclass(frozen=True)
class DigitRenderSettings:
    """Randomisation ranges (lengths in output pixels of the 32x32 image unless noted)."""

    digit_height_px: tuple[float, float] = (15.0, 26.0)
    max_rotation_deg: float = 12.0
    max_shift_px: float = 2.0
    letter_spacing: tuple[float, float] = (-0.05, 0.35)
    """extra space between digits, as a fraction of the font size"""
    min_contrast: float = 0.3
    """minimum |luminance(foreground) - luminance(background)|, luminance in [0, 1]"""
    outline_prob: float = 0.3
    gradient_strength: float = 0.25
    """maximum brightness change across the background, fraction of full scale"""
    blur_sigma_px: tuple[float, float] = (0.0, 1.0)
    noise_std: tuple[float, float] = (0.0, 0.05)
    """per-pixel Gaussian noise standard deviation, fraction of full scale"""
    max_distractors: int = 2
    """at most this many extra digits on each side of the labelled one"""

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> DigitRenderSettings:
        d = dict(d or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown digit render settings {unknown}; known: {sorted(known)}")
        for k, v in list(d.items()):
            if isinstance(v, list):
                d[k] = tuple(v)
        return cls(**d)


def _luminance(rgb: np.ndarray) -> float:
    return float(np.dot(rgb, [0.299, 0.587, 0.114]) / 255.0)


def _colour_pair(rng: np.random.Generator, min_contrast: float) -> tuple[np.ndarray, np.ndarray]:
    bg = rng.integers(0, 256, size=3)
    for _ in range(100):
        fg = rng.integers(0, 256, size=3)
        if abs(_luminance(fg) - _luminance(bg)) >= min_contrast:
            return bg, fg
    # deterministic fallback: black or white, whichever contrasts more
    fg = np.zeros(3, dtype=np.int64) if _luminance(bg) > 0.5 else np.full(3, 255)
    return bg, fg


def render_digit_image(
    digit: int, rng: np.random.Generator, fonts: list[FontSpec], s: DigitRenderSettings
) -> np.ndarray:
    """One 32x32 RGB uint8 image (H, W, 3) whose centred digit is ``digit`` (0..9)."""
    spec = fonts[int(rng.integers(len(fonts)))]
    font = _load_font(spec.path, _RENDER_PX)
    n_left = int(rng.integers(0, s.max_distractors + 1))
    n_right = int(rng.integers(0, s.max_distractors + 1))
    chars = [str(d) for d in rng.integers(0, 10, size=n_left)]
    chars += [str(digit)]
    chars += [str(d) for d in rng.integers(0, 10, size=n_right)]
    spacing = rng.uniform(*s.letter_spacing) * _RENDER_PX
    advances = [font.getlength(ch) for ch in chars]
    left, top, right, bottom = font.getbbox(chars[n_left])
    glyph_h = float(bottom - top)
    # output square (in canvas pixels) such that the labelled digit is target_h tall
    target_h = rng.uniform(*s.digit_height_px)
    side = glyph_h * 32.0 / target_h
    shift = rng.uniform(-s.max_shift_px, s.max_shift_px, size=2) * side / 32.0
    # the canvas only needs to hold the rotated output square around the digit centre
    half = int(np.ceil(0.75 * side + np.abs(shift).max())) + 2
    size = 2 * half
    bg, fg = _colour_pair(rng, s.min_contrast)

    # background: a linear brightness gradient in a random direction
    angle = rng.uniform(0, 2 * np.pi)
    coords = (np.arange(size, dtype=np.float32) - half) / size
    ramp = np.cos(angle) * coords[None, :] + np.sin(angle) * coords[:, None]
    shade = rng.uniform(-s.gradient_strength, s.gradient_strength) * 255.0
    canvas = np.clip(bg[None, None, :] + shade * ramp[..., None], 0, 255).astype(np.uint8)
    img = Image.fromarray(canvas, "RGB")
    draw = ImageDraw.Draw(img)

    outline = rng.random() < s.outline_prob
    stroke_fill = tuple(int(v) for v in (255 - fg)) if outline else None
    stroke_width = int(rng.integers(1, 3)) if outline else 0
    # pen position of the labelled digit so that its bounding-box centre is the centre
    x0 = half - 0.5 * (left + right)
    y0 = half - 0.5 * (top + bottom)
    pen = [x0 - sum(advances[k] + spacing for k in range(n_left))]
    for k in range(len(chars) - 1):
        pen.append(pen[-1] + advances[k] + spacing)
    for ch, x in zip(chars, pen, strict=True):
        if x > size or x + advances[0] * 2 < 0:
            continue  # entirely outside the canvas
        draw.text((x, y0), ch, font=font, fill=tuple(int(v) for v in fg),
                  stroke_width=stroke_width, stroke_fill=stroke_fill)

    img = img.rotate(
        float(rng.uniform(-s.max_rotation_deg, s.max_rotation_deg)),
        resample=Image.Resampling.BILINEAR,
        center=(half, half),
        fillcolor=tuple(int(v) for v in bg),
    )
    cx, cy = half + shift[0], half + shift[1]
    box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
    img = img.resize((32, 32), resample=Image.Resampling.BILINEAR, box=box, reducing_gap=2.0)
    sigma = rng.uniform(*s.blur_sigma_px)
    if sigma > 0.05:
        img = img.filter(ImageFilter.GaussianBlur(radius=sigma))
    arr = np.asarray(img, dtype=np.float32)
    noise = rng.uniform(*s.noise_std) * 255.0
    arr = arr + rng.normal(0.0, noise, size=arr.shape).astype(np.float32)
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


def render_digits(
    n_images: int,
    seed: int,
    settings: DigitRenderSettings | None = None,
    fonts: list[FontSpec] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Render ``n_images`` digits (uniform over 0..9) from ``seed``.

    Returns ``(X, y, meta)`` in the SVHN layout: X uint8 (32, 32, 3, N), y uint8 (N, 1)
    with labels 1..10 (10 = digit 0), and ``meta`` (seed, settings, fonts) for provenance.
    """
    if n_images < 1:
        raise ValueError(f"n_images must be >= 1, got {n_images}")
    settings = settings or DigitRenderSettings()
    fonts = fonts if fonts is not None else available_fonts()
    rng = np.random.default_rng(seed)
    digits = rng.integers(0, 10, size=n_images)
    x = np.empty((32, 32, 3, n_images), dtype=np.uint8)
    for i, d in enumerate(digits):
        x[..., i] = render_digit_image(int(d), rng, fonts, settings)
        if (i + 1) % 5000 == 0:
            log.info("rendered %d/%d digits", i + 1, n_images)
    y = digits_to_svhn_labels(digits).reshape(-1, 1)
    meta = {
        "n_images": n_images,
        "seed": int(seed),
        "settings": asdict(settings),
        "fonts": [f.record() for f in fonts],
        "digit_counts": np.bincount(digits, minlength=10).tolist(),
    }
    return x, y, meta
