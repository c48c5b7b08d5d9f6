"""The rendered SVHN stand-in: SVHN layout, labels, determinism, fonts."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import ImageFont

from rasp.data import render_digits as rd
from rasp.data.svhn import load_svhn_mat, write_svhn_mat


def test_rendered_digits_have_the_svhn_layout(tmp_path):
    x, y, meta = rd.render_digits(60, seed=1)
    assert x.shape == (32, 32, 3, 60) and x.dtype == np.uint8
    assert y.shape == (60, 1) and set(np.unique(y)) <= set(range(1, 11))
    assert 10 in y  # digit 0 is label 10, as in SVHN
    assert sum(meta["digit_counts"]) == 60 and meta["seed"] == 1 and meta["fonts"]
    # images are not blank: every image has contrast
    spread = x.reshape(-1, 60).max(axis=0).astype(int) - x.reshape(-1, 60).min(axis=0)
    assert (spread > 40).all()
    # the converter used for the real files reads them back as digits 0..9
    path = write_svhn_mat(tmp_path / "train_0.mat", x, y)
    images, digits = load_svhn_mat(path)
    assert images.shape == (60, 3, 32, 32)
    np.testing.assert_array_equal(digits, np.where(y[:, 0] == 10, 0, y[:, 0]))


def test_rendering_is_deterministic_per_seed():
    a = rd.render_digits(20, seed=7)
    b = rd.render_digits(20, seed=7)
    c = rd.render_digits(20, seed=8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_fonts_dejavu_or_pillow_default(tmp_path):
    fonts = rd.available_fonts()
    if rd.DEJAVU_DIR.is_dir() and any(rd.DEJAVU_DIR.glob("*.ttf")):
        assert all(f.path and f.path.endswith(".ttf") for f in fonts)
    # an empty font directory falls back to Pillow's scalable built-in font
    fallback = rd.available_fonts(tmp_path)
    assert fallback == [rd.FontSpec(rd.PILLOW_DEFAULT_FONT, None)]
    x, y, meta = rd.render_digits(5, seed=2, fonts=fallback)
    assert x.shape == (32, 32, 3, 5) and meta["fonts"][0]["name"] == "pillow-default"


def test_no_scalable_font_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr(ImageFont, "load_default", lambda size=None: ImageFont.ImageFont())
    with pytest.raises(RuntimeError, match="fonts-dejavu"):
        rd.available_fonts(tmp_path)


def test_render_settings_validation():
    s = rd.DigitRenderSettings.from_dict({"max_rotation_deg": 0, "noise_std": [0.0, 0.0]})
    assert s.max_rotation_deg == 0 and s.noise_std == (0.0, 0.0)
    with pytest.raises(ValueError, match="unknown digit render settings"):
        rd.DigitRenderSettings.from_dict({"colour": "red"})
    with pytest.raises(ValueError, match="n_images"):
        rd.render_digits(0, seed=1)
