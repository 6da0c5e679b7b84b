"""The selection learning curve of SVIP runs (``metrics["selection_curve"]``), as a figure.

Per epoch of the final training: the selection AUROC against the object masks
and the gradient of the consistency term over the classification loss's.
Kept beside :mod:`zslbench.results.plots`, whose figure helpers it uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from zslbench.errors import UsageError
from zslbench.results.plots import new_figure, save_figure


def plot_selection_curves(curves: Mapping[str, Sequence[Sequence[Mapping]]], out: str | Path, title: str = "",
                          formats: Sequence[str] = ()) -> dict:
    """The selection's learning curve (``metrics["selection_curve"]``) of each run, one colour per label.

    Left: the selection AUROC against the object masks by optimiser step (0.5 is chance). Right: the gradient
    of the consistency term over that of the classification loss (log scale). Returns ``{"path", "paths",
    "labels": [per label: "label", "runs", "steps", "auroc", "gradient"]}`` with one list per run.
    """
    if not any(curves.values()):
        raise UsageError("no selection curves to plot")
    fig = new_figure(9.0, 3.8)
    ax_auroc, ax_grad = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    drawn = []
    for i, (label, runs) in enumerate(item for item in curves.items() if item[1]):
        colour = f"C{i % 10}"
        entry: dict = {"label": label, "runs": len(runs), "steps": [], "auroc": [], "gradient": []}
        for j, run in enumerate(runs):
            steps = [p["step"] for p in run]
            auroc = [p.get("selection_auroc", np.nan) for p in run]
            gradient = [p.get("consistency_over_classification_grad", np.nan) for p in run]
            name = f"{label} ({len(runs)} run{'s' if len(runs) > 1 else ''})" if j == 0 else None
            ax_auroc.plot(steps, auroc, color=colour, marker=".", linewidth=1.2, alpha=0.8, label=name)
            positive = [(s, g) for s, g in zip(steps, gradient) if g > 0]
            if positive:
                ax_grad.plot(*zip(*positive), color=colour, marker=".", linewidth=1.2, alpha=0.8, label=name)
            entry["steps"].append(steps)
            entry["auroc"].append(auroc)
            entry["gradient"].append(gradient)
        drawn.append(entry)
    ax_auroc.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="chance")
    ax_auroc.set_ylim(0.0, 1.02)
    ax_auroc.set_ylabel("selection AUROC vs object masks")
    ax_auroc.set_title("selection scores vs masks (held-out images)", fontsize=9)
    if ax_grad.has_data():
        ax_grad.set_yscale("log")
    ax_grad.set_ylabel("|grad consistency| / |grad classification|")
    ax_grad.set_title("consistency term's pull (training batch)", fontsize=9)
    for ax in (ax_auroc, ax_grad):
        ax.set_xlabel("optimiser steps")
        ax.grid(alpha=0.3)
    handles, labels = ax_auroc.get_legend_handles_labels()  # below the axes (constrained layout), off the data
    fig.legend(handles, labels, fontsize=7, loc="outside lower center", ncols=min(4, len(labels)), frameon=False)
    fig.suptitle(title or "selection learning curve, per epoch", fontsize=10)
    paths = save_figure(fig, out, formats)
    return {"path": str(paths[0]), "paths": [str(p) for p in paths], "labels": drawn}
