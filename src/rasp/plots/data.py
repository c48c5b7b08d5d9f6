"""Figures of the input data: the 16 jet features per class.

The first thing a physicist checks on a jet sample is ``mass_mmdt``: the groomed mass
must peak near the W (80.4 GeV), Z (91.2 GeV) and top (172.5 GeV) masses for w, z and t
jets, and sit low for q and g jets. :func:`mass_peaks` measures those peaks, and the
figure marks the nominal masses.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rasp.plots.style import describe_data_source, new_figure, save_figure

#: Nominal masses (GeV) of the resonances behind the w, z and t jets.
NOMINAL_MASS_GEV: dict[str, float] = {"w": 80.4, "z": 91.2, "t": 172.5}

#: Feature units for axis labels (all other features are dimensionless).
UNITS: dict[str, str] = {"mass_mmdt": "GeV"}

CLASS_COLORS: dict[str, str] = {
    "g": "#1f77b4",
    "q": "#ff7f0e",
    "t": "#2ca02c",
    "w": "#d62728",
    "z": "#9467bd",
}
CLASS_LABELS: dict[str, str] = {"g": "gluon", "q": "light quark", "t": "top", "w": "W", "z": "Z"}


def load_jet_features(npz_path: str | Path, scaler_path: str | Path):
    """Unstandardised features (N, 16) in feature units, labels, class/feature names, source.

    Reads a processed jets dataset (all three splits) and its ``scaler.json``.
    """
    import json

    from rasp.data.processed import load_processed

    data = load_processed(npz_path)
    scaler = json.loads(Path(scaler_path).read_text(encoding="utf-8"))
    if list(scaler["feature_names"]) != list(data.feature_names):
        raise ValueError(f"{scaler_path} does not belong to {npz_path}: feature names differ")
    x = np.concatenate([data.x_train, data.x_val, data.x_test])
    y = np.concatenate([data.y_train, data.y_val, data.y_test])
    raw = x.astype(np.float64) * np.asarray(scaler["scale"]) + np.asarray(scaler["mean"])
    return raw, y, data.class_names, data.feature_names, data.source


def mass_peaks(
    mass_gev: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    min_mass_gev: float = 30.0,
    max_mass_gev: float = 300.0,
    bin_gev: float = 2.0,
    smooth_gev: float = 5.0,
) -> dict[str, float]:
    """Most probable groomed mass (GeV) per class above ``min_mass_gev``.

    Mode of a histogram with ``bin_gev`` bins smoothed by a Gaussian of width
    ``smooth_gev`` (robust for a few hundred jets). NaN for a class without jets there.
    """
    edges = np.arange(0.0, max_mass_gev + bin_gev, bin_gev)
    centres = 0.5 * (edges[1:] + edges[:-1])
    half = int(np.ceil(3 * smooth_gev / bin_gev))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) * bin_gev / smooth_gev) ** 2)
    out = {}
    for i, name in enumerate(class_names):
        m = mass_gev[(labels == i) & np.isfinite(mass_gev)]
        h, _ = np.histogram(m, bins=edges)
        h = np.convolve(h.astype(float), kernel, mode="same")
        h[centres < min_mass_gev] = 0
        out[name] = float(centres[np.argmax(h)]) if h.max() > 0 else float("nan")
    return out


def plot_jet_features(
    features: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    feature_names: Sequence[str],
    source: str,
    paths: Sequence[str | Path],
) -> dict[str, float]:
    """Histogram every feature per class (normalised to unit area) on a 4x4 grid.

    ``features`` are in feature units (mass in GeV). Each panel spans the 0.5-99.5
    percentiles of all jets (mass: 0-300 GeV); jets outside are not drawn. The title
    names the data source.
    Saves to every path in ``paths`` (png/pdf/svg) and returns :func:`mass_peaks`.
    """
    features = np.asarray(features, dtype=np.float64)
    n_feat = len(feature_names)
    if features.ndim != 2 or features.shape[1] != n_feat:
        raise ValueError(f"features have shape {features.shape}, expected (N, {n_feat})")
    ncols = 4
    nrows = int(np.ceil(n_feat / ncols))
    fig, axes = new_figure(ncols=ncols, nrows=nrows, width=13.0, height=2.6 * nrows + 0.8)
    axes = np.atleast_1d(axes).ravel()
    peaks: dict[str, float] = {}
    for ax, name, col in zip(axes, feature_names, features.T, strict=False):
        finite = np.isfinite(col)
        if name == "mass_mmdt":
            lo, hi = 0.0, 300.0
        else:
            lo, hi = np.percentile(col[finite], [0.5, 99.5]) if finite.any() else (0.0, 1.0)
        if name == "multiplicity":
            bins = np.arange(np.floor(lo) - 0.5, np.ceil(hi) + 1.5, max(1, int((hi - lo) / 60)))
        else:
            bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 61)
        for i, cname in enumerate(class_names):
            vals = col[(labels == i) & finite]
            if len(vals) == 0:
                continue
            ax.hist(vals, bins=bins, density=True, histtype="step",
                    color=CLASS_COLORS.get(cname), label=CLASS_LABELS.get(cname, cname),
                    linewidth=1.2)
        unit = UNITS.get(name)
        ax.set_xlabel(f"{name} [{unit}]" if unit else name)
        ax.set_ylabel("density")
        if name == "mass_mmdt":
            for cname, m in NOMINAL_MASS_GEV.items():
                ax.axvline(m, color=CLASS_COLORS.get(cname, "k"), linestyle=":", linewidth=0.9)
            peaks = mass_peaks(col, labels, class_names)
            txt = "\n".join(f"{CLASS_LABELS.get(c, c)} peak {peaks[c]:.0f} GeV"
                            for c in NOMINAL_MASS_GEV if c in peaks)
            ax.text(0.97, 0.97, txt, transform=ax.transAxes, ha="right", va="top", fontsize=7)
    for ax in axes[n_feat:]:
        ax.set_visible(False)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=len(names), frameon=False)
    fig.suptitle(
        f"Jet features per class ({len(labels):,} jets); data: {describe_data_source([source])}",
        fontsize=11,
    )
    save_figure(fig, paths)
    return peaks
