"""One paper style for every result figure: fonts, colours and markers per objective,
titles that name the data and resource source, and atomic saving in several formats.

Matplotlib runs with the non-interactive Agg backend (selected here, before pyplot is
imported anywhere in this package), so figures build on machines without a display.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

from rasp import schemas
from rasp.atomic import atomic_path

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

#: Defaults of the figures section (src/rasp/schemas/figures.schema.yaml): raster
#: resolution (dots per inch) and the relative accuracy tolerance (fraction).
DPI: int = schemas.default("figures", "dpi")
TOLERANCE: float = schemas.default("figures", "tolerance")

#: rcParams applied to every figure (single-column paper figures, readable when scaled).
PAPER_RC: dict[str, object] = {
    "figure.figsize": (6.4, 4.2),
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.4,
    "lines.markersize": 6,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,  # embed TrueType: text stays editable and searchable in the PDF
    "svg.fonttype": "none",
}

#: Fixed colour and marker of every pruning objective, so a series looks the same in
#: every figure. The hardware-unaware baseline (`unstructured`) is grey with crosses.
OBJECTIVE_STYLE: dict[str, dict[str, str]] = {
    "dsp": {"color": "#1f77b4", "marker": "o", "linestyle": "-"},
    "csd": {"color": "#17becf", "marker": "h", "linestyle": "-"},
    "lut_da": {"color": "#bcbd22", "marker": "p", "linestyle": "-"},
    "bram": {"color": "#2ca02c", "marker": "s", "linestyle": "-"},
    "dsp+bram": {"color": "#9467bd", "marker": "D", "linestyle": "-"},
    "neurons": {"color": "#ff7f0e", "marker": "^", "linestyle": "-"},
    "layerwise": {"color": "#8c564b", "marker": "v", "linestyle": "-"},
    "layerwise+quant": {"color": "#e377c2", "marker": "P", "linestyle": "-"},
    "unstructured": {"color": "#7f7f7f", "marker": "X", "linestyle": "--"},
}
_FALLBACK_COLORS = ("#17becf", "#d62728", "#393b79", "#637939")
_FALLBACK_MARKERS = ("h", "*", "p", "<", ">")

#: Style of the unpruned baseline point.
BASELINE_STYLE: dict[str, object] = {
    "color": "#d62728",
    "marker": "*",
    "markersize": 14,
    "markeredgecolor": "black",
    "markeredgewidth": 0.6,
    "linestyle": "none",
    "zorder": 5,
}

#: Data sources that are offline stand-ins, not the paper's data (see datasets.md).
STAND_IN_SOURCES = {"pythia": "Pythia 8 stand-in", "synthetic": "rendered stand-in"}

#: Human-readable names of the resource sources written by the HLS stage.
RESOURCE_SOURCE_NAMES = {
    "estimate": "estimate (hardware model)",
    "vivado": "Vivado synthesis",
    "vitis": "Vitis synthesis",
    "yosys": "Yosys synth_xilinx of da4ml's Verilog",
}


def objective_style(objective: str) -> dict[str, str]:
    """Colour, marker and line style of an objective (stable for unknown names too)."""
    if objective in OBJECTIVE_STYLE:
        return dict(OBJECTIVE_STYLE[objective])
    h = sum(objective.encode())  # deterministic across runs, unlike hash()
    return {
        "color": _FALLBACK_COLORS[h % len(_FALLBACK_COLORS)],
        "marker": _FALLBACK_MARKERS[h % len(_FALLBACK_MARKERS)],
        "linestyle": "-",
    }


def objective_order(objectives: Iterable[str]) -> list[str]:
    """Objectives in the canonical legend order (known ones first, then alphabetical)."""
    known = list(OBJECTIVE_STYLE)
    return sorted(set(objectives), key=lambda o: (known.index(o) if o in known else len(known), o))


def describe_data_source(sources: Iterable[str]) -> str:
    """``'pythia (Pythia 8 stand-in)'`` style label of one or more data sources."""
    out = [f"{s} ({STAND_IN_SOURCES[s]})" if s in STAND_IN_SOURCES else s
           for s in sorted({str(s) for s in sources})]
    return " + ".join(out) if out else "unknown"


def describe_resource_source(sources: Iterable[str]) -> str:
    """``'estimate (hardware model)'`` style label of one or more resource sources."""
    uniq = sorted({str(s) for s in sources})
    return " + ".join(RESOURCE_SOURCE_NAMES.get(s, s) for s in uniq) if uniq else "unknown"


def figure_title(what: str, data_sources: Iterable[str], resource_sources: Iterable[str]) -> str:
    """Two-line title: what is shown, then the data source and the resource source."""
    return (
        f"{what}\ndata: {describe_data_source(data_sources)}"
        f" | resources: {describe_resource_source(resource_sources)}"
    )


def new_figure(ncols: int = 1, nrows: int = 1, width: float | None = None,
               height: float | None = None) -> tuple[Figure, object]:
    """A figure in the paper style with ``nrows x ncols`` axes (``plt.subplots`` axes)."""
    # Artists read rcParams when they are created, so the style is applied process-wide
    # (plots run in their own script processes; nothing else draws there).
    plt.rcParams.update(PAPER_RC)
    w = width if width is not None else 6.4 if ncols == 1 else 3.6 * ncols
    h = height if height is not None else 4.2 if nrows == 1 else 3.2 * nrows
    return plt.subplots(nrows, ncols, figsize=(w, h), squeeze=True, layout="constrained")


def legend(ax, **kw) -> None:
    """A frameless legend of ``ax``, drawn only when something is labelled."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, frameon=False, **kw)


def tolerance_band(ax, base_acc: float, tolerance: float) -> None:
    """Shade accuracies (%) within relative loss ``tolerance`` (fraction) below ``base_acc``."""
    ax.axhspan((1.0 - tolerance) * base_acc, base_acc, color="#d62728", alpha=0.12, lw=0,
               label=f"within {100 * tolerance:g}% relative accuracy loss")
    ax.axhline(base_acc, color="#d62728", lw=0.8, ls=":")


def plot_series(ax, x, y, budgets, objective: str) -> dict[str, str]:
    """One objective's line, each point annotated with its budget (``b10``: % of the
    baseline resource); returns the objective's style."""
    st = objective_style(objective)
    ax.plot(x, y, label=objective, color=st["color"], marker=st["marker"],
            linestyle=st["linestyle"], alpha=0.9)
    for xv, yv, b in zip(x, y, budgets, strict=True):
        ax.annotate(f"b{b:g}", (xv, yv), xytext=(3, 3), textcoords="offset points",
                    fontsize=6, color=st["color"])
    return st


def save_figure(fig: Figure, paths: Sequence[str | Path], dpi: int = DPI) -> list[Path]:
    """Save ``fig`` to every path (format from the suffix) atomically, then close it.

    Each file is written to a temporary name in the target directory and renamed, so an
    interrupted run never leaves a truncated figure behind. ``dpi`` only affects raster
    formats (PNG), in dots per inch.
    """
    written = []
    try:
        for p in paths:
            path = Path(p)
            fmt = path.suffix.lstrip(".").lower()
            if fmt not in {"png", "pdf", "svg"}:
                raise ValueError(f"cannot save figure as {path.name!r}: use .png, .pdf or .svg")
            with atomic_path(path, suffix=f".{fmt}") as tmp:
                # No creation date: PDFs are byte-stable across reruns.
                meta = {"CreationDate": None} if fmt == "pdf" else None
                fig.savefig(tmp, format=fmt, dpi=dpi, metadata=meta)
            written.append(path)
    finally:
        plt.close(fig)
    return written


