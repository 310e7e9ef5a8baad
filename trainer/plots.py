"""Figures for runs and evaluations (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn import metrics as skm  # noqa: E402


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def learning_curves(history: list[dict], path: Path) -> None:
    epochs = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(epochs, [h["train_loss"] for h in history], label="train")
    a.plot(epochs, [h["val_loss"] for h in history], label="validation")
    a.set_xlabel("epoch"), a.set_ylabel("cross-entropy"), a.legend(), a.set_title("Loss")
    b.plot(epochs, [h["val_roc_auc"] for h in history], marker="o")
    b.set_xlabel("epoch"), b.set_ylabel("ROC-AUC"), b.set_title("Validation ROC-AUC")
    _save(fig, path)


def evaluation_figures(
    labels: np.ndarray,
    probs: np.ndarray,
    metrics: dict,
    out: Path,
    title: str,
    class_names: tuple[str, ...] = ("negative", "positive"),
) -> None:
    fpr, tpr, _ = skm.roc_curve(labels, probs)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, label=f"AUC {metrics['roc_auc']:.3f}")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.scatter(
        [1 - metrics["specificity"]],
        [metrics["sensitivity"]],
        c="r",
        zorder=3,
        label=f"threshold {metrics['threshold']:.3f}",
    )
    ax.set_xlabel("1 - specificity"), ax.set_ylabel("sensitivity"), ax.set_title(f"ROC — {title}"), ax.legend()
    _save(fig, out / "roc.png")

    prec, rec, _ = skm.precision_recall_curve(labels, probs)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(rec, prec, label=f"AP {metrics['pr_auc']:.3f}")
    ax.set_xlabel("recall"), ax.set_ylabel("precision"), ax.set_title(f"Precision-recall — {title}"), ax.legend()
    _save(fig, out / "pr.png")

    cm = metrics["confusion_matrix"]
    grid = np.array([[cm["tn"], cm["fp"]], [cm["fn"], cm["tp"]]])
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(grid, cmap="Blues")
    for (i, j), v in np.ndenumerate(grid):
        ax.text(j, i, str(v), ha="center", va="center", color="black", fontsize=14)
    names = list(class_names)
    ax.set_xticks([0, 1], names), ax.set_yticks([0, 1], names)
    ax.set_xlabel("predicted"), ax.set_ylabel("true"), ax.set_title(f"Confusion @ {metrics['threshold']:.3f}")
    _save(fig, out / "confusion_matrix.png")

    frac_pos, mean_pred = _reliability(labels, probs)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.plot(mean_pred, frac_pos, marker="o", label=f"ECE {metrics['ece']:.3f}")
    ax.set_xlabel("predicted P(pneumonia)"), ax.set_ylabel("observed fraction"), ax.legend()
    ax.set_title(f"Reliability — {title}")
    _save(fig, out / "reliability.png")


def _reliability(labels, probs, n_bins: int = 10):
    from sklearn.calibration import calibration_curve

    return calibration_curve(labels, probs, n_bins=n_bins, strategy="uniform")


def gradcam_panel(items: list[tuple[str, np.ndarray, np.ndarray]], path: Path) -> None:
    """items: (caption, grey image, heat map) -> one grid figure."""
    if not items:
        return
    cols = min(4, len(items))
    rows = (len(items) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.5 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (caption, img, heat) in zip(axes.ravel(), items):
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        ax.imshow(heat, cmap="jet", alpha=0.35, vmin=0, vmax=1)
        ax.set_title(caption, fontsize=8)
    _save(fig, path)


def insertion_panel(examples: list, path: Path) -> None:
    """Rows of the insertion test: the positive film with its map, the hot region pasted onto a NORMAL film,
    and the random cells pasted; each with P(positive)."""
    if not examples:
        return
    fig, axes = plt.subplots(len(examples), 3, figsize=(7.5, 2.6 * len(examples)), squeeze=False)
    for row, (film, heat, hot, random_region, p_hot, p_random) in zip(axes, examples):
        for ax in row:
            ax.axis("off")
        row[0].imshow(film, cmap="gray", vmin=0, vmax=1)
        row[0].imshow(heat, cmap="jet", alpha=0.35, vmin=0, vmax=1)
        row[0].set_title("positive film + map", fontsize=8)
        row[1].imshow(hot, cmap="gray", vmin=0, vmax=1)
        row[1].set_title(f"hot 20 % pasted: P={p_hot:.2f}", fontsize=8)
        row[2].imshow(random_region, cmap="gray", vmin=0, vmax=1)
        row[2].set_title(f"random cells pasted: P={p_random:.2f}", fontsize=8)
    _save(fig, path)
