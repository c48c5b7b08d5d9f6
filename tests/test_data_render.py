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


CLEAN = {
    "max_distractors": 0, "max_rotation_deg": 0, "max_shear": 0, "saturation": [1, 1],
    "outline_prob": 0, "drop_shadow_prob": 0, "texture_strength": [0, 0], "pattern_prob": 0,
    "edge_prob": 0, "max_blobs": 0, "clutter_text_prob": 0, "occluder_prob": 0,
    "shadow_prob": 0, "gradient_strength": 0, "contrast_scale": [1, 1], "brightness": [0, 0],
    "gamma": [1, 1], "lowres_prob": 0, "blur_sigma_px": [0, 0], "noise_std": [0, 0],
    "jpeg_prob": 0, "digit_height_px": [16, 20], "max_shift_px": 2.0,
}


def test_labelled_digit_is_centred_with_its_drawn_height():
    """With every clutter and degradation switched off, one digit of 16-20 px sits
    within the allowed shift of the centre: the label belongs to the middle digit."""
    settings = rd.DigitRenderSettings.from_dict(CLEAN)
    x, _, _ = rd.render_digits(40, seed=3, settings=settings)
    for img in x.transpose(3, 0, 1, 2).astype(float):
        background = img[0, 0]
        ink = np.abs(img - background).sum(axis=-1) > 30
        rows, cols = np.nonzero(ink)
        assert rows.size > 10
        height = rows.max() - rows.min() + 1
        assert 14 <= height <= 22
        centre = 15.5
        assert abs(0.5 * (rows.max() + rows.min()) - centre) <= 2.0 + 1.5
        assert abs(0.5 * (cols.max() + cols.min()) - centre) <= 2.0 + 1.5


def test_degradations_change_the_clean_image():
    """Each degradation knob, switched on alone, changes the otherwise clean render."""
    clean = rd.render_digits(8, seed=5, settings=rd.DigitRenderSettings.from_dict(CLEAN))[0]
    for knob in ({"jpeg_prob": 1.0}, {"noise_std": [0.05, 0.05]}, {"lowres_prob": 1.0},
                 {"occluder_prob": 1.0}, {"texture_strength": [0.1, 0.1]}):
        s = rd.DigitRenderSettings.from_dict({**CLEAN, **knob})
        assert not np.array_equal(rd.render_digits(8, seed=5, settings=s)[0], clean), knob


@pytest.mark.parametrize("bad, message", [
    ({"jpeg_prob": 1.5}, "jpeg_prob=1.5 is a probability"),
    ({"blur_sigma_px": [1.0, 0.5]}, "blur_sigma_px=.* lo <= hi"),
    ({"noise_std": [-0.1, 0.1]}, "noise_std=.* must not be negative"),
    ({"jpeg_quality": [0, 100]}, "jpeg_quality"),
])
def test_bad_render_ranges_fail_naming_the_field(bad, message):
    with pytest.raises(ValueError, match=message):
        rd.DigitRenderSettings.from_dict(bad)


def test_workflow_schema_lists_exactly_the_render_settings():
    """The config schema and the dataclass name the same keys (one is not stale)."""
    from dataclasses import fields
    from pathlib import Path

    import yaml

    schema = yaml.safe_load(
        (Path(__file__).parents[1] / "src/rasp/schemas/datasets.schema.yaml").read_text())
    found = []

    def walk(node):
        if isinstance(node, dict):
            if "render" in node and isinstance(node["render"], dict) \
                    and "properties" in node["render"]:
                found.append(set(node["render"]["properties"]))
            for v in node.values():
                walk(v)

    walk(schema)
    assert found == [{f.name for f in fields(rd.DigitRenderSettings)}]
