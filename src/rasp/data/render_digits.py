"""Offline stand-in for SVHN: rendered street-number-like digits in the SVHN layout.

In the style of the "Synthetic Digits" set (Ganin & Lempitsky 2015), made about as hard
as the real SVHN crops: each 32x32 RGB image shows a house-number-like row of digits with
the labelled digit near the centre and neighbouring distractor digits, close to it, cut
off by the crop. Per image (every step drawn from the seeded generator, see
:class:`DigitRenderSettings` for the ranges):

- text: a random font, digit height, horizontal stretch (aspect), shear, rotation,
  position jitter and letter spacing; optional outline and drop shadow (embossed plates);
- background: a muted random colour with multi-scale filtered noise (cloud-like texture
  from a few to 16 px), sometimes a periodic structure (stripes, bricks, siding),
  straight edges of plates, doors or windows near the border, random blobs and
  fragments of other text (letters and digits of another font, size and colour);
- foreground colour with a minimum luminance contrast to the background, its own faint
  texture, and both colours desaturated by a random amount;
- occluders (bars crossing the image: wires, poles, frames), cast shadows (a soft-edged
  darker half-plane), an illumination gradient, global contrast, brightness, gamma and
  white-balance jitter (so that low-contrast crops are common);
- degradations: low resolution (down- and upsampled, like SVHN's upscaled small crops),
  Gaussian blur, pixel noise and JPEG compression.

Rendering runs at about 550 images/s on one core (see docs/datasets.md).

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

import io
import logging
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from rasp import schemas
from rasp.data.provenance import md5_file
from rasp.data.svhn import digits_to_svhn_labels

log = logging.getLogger(__name__)

DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
PILLOW_DEFAULT_FONT = "pillow-default"
_RENDER_PX = 48  # font size (pixels) on the drawing canvas of the digit row
_OUT = 32  # output image side (pixels)
_SUPER = 2  # the digit masks are resampled at _SUPER x the output size, then box-averaged
_CLUTTER_PX = (10, 16, 24, 36)  # font sizes (output pixels) of the background text fragments
_CLUTTER_CHARS = "0123456789ABCDEFGHKLMNPRSTWXYabcdehknorstuwxyz#-/."
_SIGNED_RANGES = frozenset({"letter_spacing", "brightness"})
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


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


@lru_cache(maxsize=256)
def _load_font(path: str | None, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size) if path is None else ImageFont.truetype(path, size)


@dataclass(frozen=True)
class DigitRenderSettings(schemas.Settings):
    """Randomisation ranges of the rendered digits.

    Units: lengths are pixels of the 32x32 output image (``_px``), angles degrees
    (``_deg``), probabilities are per image in [0, 1] (``_prob``), intensities are
    fractions of the full 0-255 scale unless a field says otherwise. A pair ``(lo, hi)``
    is drawn uniformly per image.
    """

    digit_height_px: tuple[float, float] = (14.0, 28.0)
    """height of the labelled digit's glyph (output pixels), before aspect and rotation"""
    aspect: tuple[float, float] = (0.75, 1.3)
    """horizontal stretch of the text (1 = the font's own width; unitless factor)"""
    max_shear: float = 0.2
    """horizontal shear (slant) up to this, in pixels of x per pixel of y"""
    max_rotation_deg: float = 12.0
    """rotation of the text row, uniform in +-this (degrees)"""
    max_shift_px: float = 2.5
    """offset of the labelled digit's centre from the image centre, per axis (pixels)"""
    letter_spacing: tuple[float, float] = (-0.1, 0.2)
    """extra space between digits, as a fraction of the font size (negative: closer)"""
    max_distractors: int = 2
    """at most this many extra digits on each side of the labelled one"""
    min_contrast: float = 0.3
    """minimum |luminance(foreground) - luminance(background)| before desaturation
    and global contrast jitter, luminance in [0, 1]"""
    saturation: tuple[float, float] = (0.2, 1.0)
    """colourfulness of the text and background colours: 0 = grey, 1 = as drawn"""
    outline_prob: float = 0.2
    """probability of an outline (1-2 font pixels) in a contrasting colour"""
    drop_shadow_prob: float = 0.2
    """probability of a darker copy of the digits offset by 1-2 pixels (embossed plates)"""
    texture_strength: tuple[float, float] = (0.0, 0.12)
    """standard deviation of the multi-scale background noise, fraction of full scale"""
    pattern_prob: float = 0.25
    """probability of a periodic background structure (stripes, bricks or siding,
    period 3-12 pixels, amplitude 4-18 % of full scale)"""
    edge_prob: float = 0.5
    """probability of 1-3 straight edges near the border (plate, door, window frames)
    with a differently coloured region behind each"""
    max_blobs: int = 2
    """at most this many random ellipses / rectangles (2-12 pixels) on the background"""
    clutter_text_prob: float = 0.2
    """probability of 1-4 fragments of other text (another font, size and colour)"""
    occluder_prob: float = 0.08
    """probability of a bar (1-4 pixels wide) crossing the image in front of the digits"""
    shadow_prob: float = 0.2
    """probability of a cast shadow: a half-plane darkened to 35-80 % brightness"""
    gradient_strength: float = 0.3
    """maximum illumination change across the image, fraction of full scale"""
    contrast_scale: tuple[float, float] = (0.65, 1.0)
    """global contrast: deviations from the image mean are multiplied by this"""
    brightness: tuple[float, float] = (-0.1, 0.1)
    """added to every pixel after the contrast jitter, fraction of full scale"""
    gamma: tuple[float, float] = (0.75, 1.35)
    """gamma applied to the [0, 1] intensities (unitless exponent)"""
    lowres_prob: float = 0.15
    """probability that the image is downsampled and upsampled again (small crops)"""
    lowres_px: tuple[float, float] = (14.0, 24.0)
    """side of the downsampled image when ``lowres_prob`` hits (pixels)"""
    blur_sigma_px: tuple[float, float] = (0.0, 1.0)
    """Gaussian blur radius (pixels)"""
    noise_std: tuple[float, float] = (0.0, 0.04)
    """per-pixel Gaussian noise standard deviation, fraction of full scale"""
    jpeg_prob: float = 0.5
    """probability of JPEG compression"""
    jpeg_quality: tuple[int, int] = (35, 90)
    """JPEG quality (libjpeg scale 1-95), uniform integer in [lo, hi]"""

    WHERE = "digit render settings"

    def __post_init__(self) -> None:
        problems = []
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, tuple):
                if len(v) != 2 or v[0] > v[1]:
                    problems.append(f"{f.name}={list(v)} must be a range [lo, hi] with lo <= hi")
                elif min(v) < 0 and f.name not in _SIGNED_RANGES:
                    problems.append(f"{f.name}={list(v)} must not be negative")
            elif f.name.endswith("_prob") and not 0.0 <= v <= 1.0:
                problems.append(f"{f.name}={v} is a probability and must lie in [0, 1]")
            elif v < 0:
                problems.append(f"{f.name}={v} must not be negative")
        if self.aspect[0] <= 0 or self.digit_height_px[0] <= 0 or self.lowres_px[0] < 2:
            problems.append("aspect and digit_height_px must be > 0 and lowres_px >= 2")
        if not 1 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 95:
            problems.append(f"jpeg_quality={list(self.jpeg_quality)} must lie in 1..95")
        if problems:
            raise ValueError("invalid digit render settings: " + "; ".join(problems))


def _luminance(rgb: np.ndarray) -> float:
    return float(np.dot(rgb, _LUMA) / 255.0)


def _colour_pair(rng: np.random.Generator, min_contrast: float) -> tuple[np.ndarray, np.ndarray]:
    bg = rng.integers(0, 256, size=3)
    for _ in range(100):
        fg = rng.integers(0, 256, size=3)
        if abs(_luminance(fg) - _luminance(bg)) >= min_contrast:
            return bg, fg
    # deterministic fallback: black or white, whichever contrasts more
    fg = np.zeros(3, dtype=np.int64) if _luminance(bg) > 0.5 else np.full(3, 255)
    return bg, fg


def _desaturate(rgb: np.ndarray, s: float) -> np.ndarray:
    """Mix a colour with its grey of equal luminance (s = 1: unchanged, 0: grey)."""
    rgb = np.asarray(rgb, dtype=np.float32)
    return s * rgb + (1.0 - s) * float(np.dot(rgb, _LUMA))


@lru_cache(maxsize=8)
def _upsampler(k: int) -> np.ndarray:
    """(32, k) matrix that bilinearly interpolates k samples to 32 (corners aligned)."""
    pos = np.linspace(0.0, k - 1.0, _OUT)
    lo = np.minimum(np.floor(pos).astype(int), k - 2)
    frac = pos - lo
    m = np.zeros((_OUT, k), dtype=np.float32)
    m[np.arange(_OUT), lo] = 1.0 - frac
    m[np.arange(_OUT), lo + 1] = frac
    return m


_YY, _XX = np.mgrid[0:_OUT, 0:_OUT].astype(np.float32) + 0.5 - _OUT / 2


def _smooth_noise(rng: np.random.Generator, channels: int) -> np.ndarray:
    """Multi-scale (1/f-like) noise (32, 32, channels), unit standard deviation.

    Octaves of 3, 5, 9 and 17 random samples per side, bilinearly upsampled (features of
    about 16, 8, 4 and 2 pixels), weighted 2**(-beta * octave) with beta in [0, 1.5].
    """
    beta = rng.uniform(0.0, 1.5)
    field = np.zeros((channels, _OUT, _OUT), dtype=np.float32)
    for octave, k in enumerate((3, 5, 9, 17)):
        m = _upsampler(k)
        coarse = rng.standard_normal((channels, k, k)).astype(np.float32)
        field += np.float32(2.0 ** (-beta * (3 - octave))) * (m @ coarse @ m.T)
    return np.moveaxis(field, 0, -1) / (field.std() + 1e-6)


def _rotated_coords(rng: np.random.Generator, max_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates rotated by a random angle: mostly axis-aligned structures."""
    a = np.deg2rad(rng.uniform(-max_deg, max_deg) + 90.0 * rng.integers(0, 2))
    c, s = np.cos(a), np.sin(a)
    return c * _XX + s * _YY, -s * _XX + c * _YY


def _pattern(rng: np.random.Generator) -> np.ndarray:
    """A periodic structure in [-1, 1] (32, 32): stripes, siding or bricks."""
    u, v = _rotated_coords(rng, 15.0)
    period = rng.uniform(3.0, 12.0)
    phase = rng.uniform(0, period)
    kind = int(rng.integers(0, 3))
    if kind == 0:  # smooth stripes
        return np.sin(2 * np.pi * (v + phase) / period).astype(np.float32)
    if kind == 1:  # siding: a sawtooth, bright edge then shading
        return (2.0 * (((v + phase) / period) % 1.0) - 1.0).astype(np.float32)
    # bricks: mortar lines between rows, staggered joints
    row = np.floor((v + phase) / period)
    length = period * rng.uniform(1.8, 3.0)
    joint = ((u + 0.5 * length * (row % 2)) % length) < 1.0
    mortar = (((v + phase) % period) < 1.0) | joint
    return np.where(mortar, 1.0, -0.3).astype(np.float32)


def _half_plane(rng: np.random.Generator, dist: tuple[float, float], max_deg: float,
                softness_px: float) -> np.ndarray:
    """Soft mask in [0, 1] (32, 32) of a half-plane whose edge is ``dist`` px from centre."""
    a = rng.uniform(0, 2 * np.pi) if max_deg >= 180 else (
        np.deg2rad(90.0 * rng.integers(0, 4) + rng.uniform(-max_deg, max_deg)))
    d = np.cos(a) * _XX + np.sin(a) * _YY - rng.uniform(*dist)
    return np.clip(0.5 + d / max(softness_px, 1e-3), 0.0, 1.0).astype(np.float32)


def _random_colour(rng: np.random.Generator, sat: float) -> np.ndarray:
    return _desaturate(rng.integers(0, 256, size=3), sat)


def _background(rng: np.random.Generator, fonts: list[FontSpec], bg: np.ndarray,
                s: DigitRenderSettings, sat: float) -> np.ndarray:
    """Textured background (32, 32, 3) float32 on the 0-255 scale."""
    img = np.broadcast_to(bg, (_OUT, _OUT, 3)).astype(np.float32)
    # regions behind straight edges (plate border, door or window frame)
    if rng.random() < s.edge_prob:
        for _ in range(int(rng.integers(1, 4))):
            m = _half_plane(rng, (6.0, 15.0), 8.0, rng.uniform(0.3, 1.5))
            img = img + m[..., None] * (_random_colour(rng, sat) - img)
    # periodic structure
    if rng.random() < s.pattern_prob:
        amp = rng.uniform(0.04, 0.18) * 255.0
        img = img + amp * _pattern(rng)[..., None] * rng.uniform(0.6, 1.0, size=3)
    # cloud-like texture, mostly luminance with a little colour
    strength = rng.uniform(*s.texture_strength) * 255.0
    if strength > 0:
        lum = _smooth_noise(rng, 1)
        chroma = _smooth_noise(rng, 3)
        img = img + strength * (lum + 0.35 * sat * chroma)
    # blobs and fragments of other text, drawn with Pillow
    n_blobs = int(rng.integers(0, s.max_blobs + 1))
    clutter = rng.random() < s.clutter_text_prob
    if n_blobs or clutter:
        pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
        draw = ImageDraw.Draw(pil)
        for _ in range(n_blobs):
            cx, cy = rng.uniform(-4, _OUT + 4, size=2)
            rx, ry = rng.uniform(2.0, 12.0, size=2)
            colour = tuple(int(v) for v in np.clip(_random_colour(rng, sat), 0, 255))
            box = (cx - rx, cy - ry, cx + rx, cy + ry)
            if rng.random() < 0.5:
                draw.ellipse(box, fill=colour)
            else:
                draw.rectangle(box, fill=colour)
        if clutter:
            for _ in range(int(rng.integers(1, 5))):
                spec = fonts[int(rng.integers(len(fonts)))]
                font = _load_font(spec.path, _CLUTTER_PX[int(rng.integers(len(_CLUTTER_PX)))])
                ch = _CLUTTER_CHARS[int(rng.integers(len(_CLUTTER_CHARS)))]
                xy = tuple(float(v) for v in rng.uniform(-12, _OUT, size=2))
                colour = tuple(int(v) for v in np.clip(_random_colour(rng, sat), 0, 255))
                draw.text(xy, ch, font=font, fill=colour)
        img = np.asarray(pil, dtype=np.float32)
    return img


def _shifted(a: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``a`` moved by (dx, dy) pixels, zero-filled."""
    out = np.zeros_like(a)
    h, w = a.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        a[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def _text_masks(digit: int, rng: np.random.Generator, fonts: list[FontSpec],
                s: DigitRenderSettings) -> tuple[np.ndarray, np.ndarray | None]:
    """Coverage masks in [0, 1] (32, 32) of the digit row and of its outline (or None)."""
    spec = fonts[int(rng.integers(len(fonts)))]
    font = _load_font(spec.path, _RENDER_PX)
    n_left = int(rng.integers(0, s.max_distractors + 1))
    n_right = int(rng.integers(0, s.max_distractors + 1))
    chars = [*map(str, rng.integers(0, 10, size=n_left)), str(digit),
             *map(str, rng.integers(0, 10, size=n_right))]
    spacing = rng.uniform(*s.letter_spacing) * _RENDER_PX
    advances = [font.getlength(ch) for ch in chars]
    left, top, right, bottom = font.getbbox(chars[n_left])
    glyph_h = float(bottom - top)

    # output pixel -> canvas pixel: rotation @ shear @ horizontal stretch, scaled so that
    # the labelled digit is target_h output pixels tall
    target_h = rng.uniform(*s.digit_height_px)
    px = glyph_h / target_h  # canvas pixels per output pixel (vertical)
    aspect = float(np.exp(rng.uniform(*np.log(s.aspect))))
    shear = rng.uniform(-s.max_shear, s.max_shear)
    theta = np.deg2rad(rng.uniform(-s.max_rotation_deg, s.max_rotation_deg))
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    lin = rot @ np.array([[1.0 / aspect, shear], [0.0, 1.0]]) * px / _SUPER
    shift = rng.uniform(-s.max_shift_px, s.max_shift_px, size=2) * px
    # canvas: big enough for everything the output square sees
    corners = lin @ (np.array([[-1, -1, 1, 1], [-1, 1, -1, 1]]) * (_OUT * _SUPER / 2))
    hx = int(np.ceil(np.abs(corners[0]).max() + abs(shift[0]))) + 2
    hy = int(np.ceil(np.abs(corners[1]).max() + abs(shift[1]))) + 2
    centre = np.array([hx, hy]) - shift  # canvas point seen at the output centre
    offset = centre - lin @ np.full(2, _OUT * _SUPER / 2)
    data = (lin[0, 0], lin[0, 1], offset[0], lin[1, 0], lin[1, 1], offset[1])

    outline = rng.random() < s.outline_prob
    stroke_width = int(rng.integers(1, 3)) if outline else 0
    # pen position of the labelled digit so that its bounding-box centre is (hx, hy)
    x0 = hx - 0.5 * (left + right)
    y0 = hy - 0.5 * (top + bottom)
    pen = [x0 - sum(advances[k] + spacing for k in range(n_left))]
    for k in range(len(chars) - 1):
        pen.append(pen[-1] + advances[k] + spacing)

    def draw_row(stroke: int) -> np.ndarray:
        canvas = Image.new("L", (2 * hx, 2 * hy), 0)
        draw = ImageDraw.Draw(canvas)
        for ch, x in zip(chars, pen, strict=True):
            if x > 2 * hx or x + 2 * _RENDER_PX < 0:
                continue  # entirely outside the canvas
            draw.text((x, y0), ch, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
        out = canvas.transform((_OUT * _SUPER,) * 2, Image.Transform.AFFINE, data,
                               resample=Image.Resampling.BILINEAR).reduce(_SUPER)
        return np.asarray(out, dtype=np.float32) / 255.0

    fill = draw_row(0)
    ring = np.clip(draw_row(stroke_width) - fill, 0.0, 1.0) if outline else None
    return fill, ring


def render_digit_image(
    digit: int, rng: np.random.Generator, fonts: list[FontSpec], s: DigitRenderSettings
) -> np.ndarray:
    """One 32x32 RGB uint8 image (H, W, 3) whose centred digit is ``digit`` (0..9)."""
    fill, ring = _text_masks(digit, rng, fonts, s)
    sat = rng.uniform(*s.saturation)
    bg, fg = _colour_pair(rng, s.min_contrast)
    bg, fg = _desaturate(bg, sat), _desaturate(fg, sat)
    img = _background(rng, fonts, bg, s, sat)

    if rng.random() < s.drop_shadow_prob:
        d = rng.integers(1, 3, size=2) * rng.choice([-1, 1], size=2)
        shadow = _shifted(np.maximum(fill, ring if ring is not None else 0.0), *map(int, d))
        img = img * (1.0 - rng.uniform(0.3, 0.7) * shadow[..., None])
    if ring is not None:
        img = img + ring[..., None] * (255.0 - fg - img)
    # foreground: the text colour with a faint texture of its own
    fg_img = fg + rng.uniform(0.0, 0.08) * 255.0 * _smooth_noise(rng, 1)
    img = img + fill[..., None] * (fg_img - img)

    if rng.random() < s.occluder_prob:
        pil = Image.new("L", (_OUT, _OUT), 0)
        p0, p1 = rng.uniform(-4, _OUT + 4, size=(2, 2))
        if rng.random() < 0.6:  # mostly near-vertical or near-horizontal poles and wires
            k = int(rng.integers(0, 2))
            p1[k] = p0[k] + rng.uniform(-4, 4)
            p0[1 - k], p1[1 - k] = -4.0, _OUT + 4.0
        ImageDraw.Draw(pil).line([tuple(p0), tuple(p1)], fill=255,
                                 width=int(rng.integers(1, 5)))
        bar = np.asarray(pil, dtype=np.float32)[..., None] / 255.0
        img = img + bar * (_random_colour(rng, sat) - img)
    if rng.random() < s.shadow_prob:
        m = _half_plane(rng, (-10.0, 10.0), 180.0, rng.uniform(0.5, 4.0))
        img = img * (1.0 - (1.0 - rng.uniform(0.35, 0.8)) * m[..., None])
    # illumination gradient in a random direction
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * _XX + np.sin(angle) * _YY) / _OUT
    img = img + rng.uniform(-s.gradient_strength, s.gradient_strength) * 255.0 * ramp[..., None]

    # global colour jitter: contrast, brightness, white balance, gamma
    mean = img.mean(axis=(0, 1))
    img = mean + rng.uniform(*s.contrast_scale) * (img - mean)
    img = img * rng.uniform(0.85, 1.15, size=3) + rng.uniform(*s.brightness) * 255.0
    img = 255.0 * np.clip(img / 255.0, 0.0, 1.0) ** rng.uniform(*s.gamma)

    pil = Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB")
    if rng.random() < s.lowres_prob:
        side = int(round(rng.uniform(*s.lowres_px)))
        pil = pil.resize((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0)
        pil = pil.resize((_OUT, _OUT), Image.Resampling.BILINEAR)
    sigma = rng.uniform(*s.blur_sigma_px)
    if sigma > 0.05:
        pil = pil.filter(ImageFilter.GaussianBlur(radius=sigma))
    arr = np.asarray(pil, dtype=np.float32)
    noise = rng.uniform(*s.noise_std) * 255.0
    arr = arr + rng.normal(0.0, noise, size=arr.shape).astype(np.float32)
    out = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    if rng.random() < s.jpeg_prob:
        q = int(rng.integers(s.jpeg_quality[0], s.jpeg_quality[1] + 1))
        buf = io.BytesIO()
        Image.fromarray(out, "RGB").save(buf, format="JPEG", quality=q)
        out = np.asarray(Image.open(buf).convert("RGB"), dtype=np.uint8)
    return out


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
    x = np.empty((_OUT, _OUT, 3, n_images), dtype=np.uint8)
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
