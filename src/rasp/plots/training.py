"""Figures of the baseline training stage, built from its result files only.

- :func:`plot_training_curves`: training and validation loss (cross-entropy, nats per
  sample) and validation accuracy (%) per epoch, with the kept (best) epoch marked and
  the learning rate on a second axis. Source: ``history.csv`` + ``metrics.json``.
- :func:`plot_roc`: one-vs-rest ROC curves on the test set drawn as in the hls4ml papers:
  signal efficiency (true positive rate) on the x axis, background mistag rate (false
  positive rate) on a logarithmic y axis, one line per class with its AUC in the legend.
  Source: ``roc.csv`` + ``metrics.json``.

Titles name the dataset, the model variant and the data source (stand-ins flagged).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from rasp.plots.style import DPI, describe_data_source, new_figure, save_figure

HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_accuracy", "lr")
ROC_COLUMNS = ("class", "signal_efficiency", "mistag_rate", "auc")


def _read_csv(path: str | Path, columns: Sequence[str]) -> pd.DataFrame:
    frame = pd.read_csv(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} lacks columns {missing}; re-run the train_baseline rule")
    if frame.empty:
        raise ValueError(f"{path} has no rows")
    return frame


def _read_metrics(path: str | Path) -> dict:
    metrics = json.loads(Path(path).read_text())
    for key in ("dataset", "variant", "data_source"):
        if key not in metrics:
            raise ValueError(f"{path} has no {key!r}; re-run the train_baseline rule")
    return metrics


def _title(what: str, metrics: dict) -> str:
    return (
        f"{metrics['dataset']} / {metrics['variant']}: {what}\n"
        f"data: {describe_data_source([metrics['data_source']])}"
    )


def plot_training_curves(
    history_csv: str | Path, metrics_json: str | Path, out_paths: Sequence[str | Path],
    dpi: int = DPI,
) -> list[Path]:
    """Loss and validation-accuracy curves of one baseline run (see module docstring)."""
    hist = _read_csv(history_csv, HISTORY_COLUMNS)
    metrics = _read_metrics(metrics_json)
    fig, (ax_loss, ax_acc) = new_figure(ncols=2, width=9.0, height=3.6)
    ax_loss.plot(hist["epoch"], hist["train_loss"], label="training", color="#1f77b4")
    ax_loss.plot(hist["epoch"], hist["val_loss"], label="validation", color="#ff7f0e")
    best = metrics.get("best_epoch")
    for ax in (ax_loss, ax_acc):
        if best:
            ax.axvline(best, color="grey", linestyle=":", linewidth=1.0, label="kept epoch")
        ax.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy (nats / sample)")
    ax_loss.legend(frameon=False)
    ax_acc.plot(hist["epoch"], 100.0 * hist["val_accuracy"], color="#2ca02c",
                label="validation accuracy")
    test_acc = metrics.get("accuracy")
    if test_acc is not None:
        ax_acc.axhline(100.0 * float(test_acc), color="#d62728", linestyle="--", linewidth=1.0,
                       label=f"test accuracy (kept) {100.0 * float(test_acc):.2f}%")
    ax_acc.set_ylabel("accuracy (%)")
    ax_lr = ax_acc.twinx()
    ax_lr.plot(hist["epoch"], hist["lr"], color="#7f7f7f", linewidth=0.8, alpha=0.7,
               label="learning rate")
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_yscale("log")
    ax_lr.grid(False)
    handles, labels = ax_acc.get_legend_handles_labels()
    h2, l2 = ax_lr.get_legend_handles_labels()
    ax_acc.legend(handles + h2, labels + l2, frameon=False, loc="lower right")
    fig.suptitle(_title("baseline training", metrics), fontsize=9)
    return save_figure(fig, out_paths, dpi=dpi)


def plot_roc(
    roc_csv: str | Path, metrics_json: str | Path, out_paths: Sequence[str | Path],
    dpi: int = DPI,
) -> list[Path]:
    """ROC curves (signal efficiency vs background mistag rate, log scale), one per class."""
    roc = _read_csv(roc_csv, ROC_COLUMNS)
    metrics = _read_metrics(metrics_json)
    fig, ax = new_figure()
    order = metrics.get("class_names") or list(dict.fromkeys(roc["class"]))
    floor = 1.0
    for name in order:
        curve = roc[roc["class"].astype(str) == str(name)].sort_values("signal_efficiency")
        if curve.empty:
            continue
        positive = curve[curve["mistag_rate"] > 0]
        if not positive.empty:
            floor = min(floor, float(positive["mistag_rate"].min()))
        auc = float(curve["auc"].iloc[0])
        ax.plot(curve["signal_efficiency"], curve["mistag_rate"],
                label=f"{name} tagger, AUC = {100.0 * auc:.1f}%")
    ax.set_yscale("log")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(max(floor * 0.5, 1e-5), 1.0)
    ax.set_xlabel("signal efficiency (true positive rate)")
    ax.set_ylabel("background mistag rate (false positive rate)")
    acc = metrics.get("accuracy")
    extra = f", test accuracy {100.0 * float(acc):.2f}%" if acc is not None else ""
    ax.set_title(_title(f"one-vs-rest ROC on the test set{extra}", metrics))
    ax.legend(frameon=False, loc="lower right")
    return save_figure(fig, out_paths, dpi=dpi)


__all__ = ["plot_roc", "plot_training_curves"]
