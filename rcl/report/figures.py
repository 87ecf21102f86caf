"""The paper's Figures 3, 4 and 5, and per-model training curves and confusion matrices, as PNGs (Agg)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rcl import files
from rcl.analysis.joint import accuracy_slope
from rcl.models import noise


def _pyplot():
  """matplotlib's pyplot on the file-only Agg backend, imported on first use: commands that draw nothing
  should not pay for importing it at start-up."""
  import matplotlib  # noqa: PLC0415
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # noqa: PLC0415
  return plt


def _save(fig, path: str, dpi: int) -> None:
  """Writes and closes a figure; with several processes only process 0 writes (rcl.train.distributed)."""
  if files.is_writer():
    fig.savefig(path, dpi=dpi)
  _pyplot().close(fig)


def figure3(path: str, panels: Sequence[tuple[str, dict[str, list[float]]]], burn_in: int = 0) -> None:
  """Validation vs training accuracy per epoch, one panel per (title, history), with the fitted slope."""
  plt = _pyplot()
  fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4), squeeze=False)
  for ax, (title, history) in zip(axes[0], panels):
    x, y = np.asarray(history["train_accuracy"]), np.asarray(history["val_accuracy"])
    ax.scatter(x, y, s=10, c=np.arange(len(x)), cmap="viridis")
    slope = accuracy_slope(x, y, burn_in)
    if slope is not None:
      xs, ys = x[burn_in:], y[burn_in:]
      b = np.polyfit(xs, ys, 1)
      grid = np.linspace(xs.min(), xs.max(), 20)
      ax.plot(grid, np.polyval(b, grid), "r-", lw=1)
    lo = min(x.min(), y.min())
    ax.plot([lo, 1], [lo, 1], "k:", lw=0.8)
    ax.set_title(f"{title}\nslope {slope:.2f}" if slope is not None else title, fontsize=9)
    ax.set_xlabel("training accuracy")
    ax.set_ylabel("validation accuracy")
  fig.tight_layout()
  _save(fig, path, 110)


def figure4(path: str, levels: Sequence[float], coefficients: Sequence[float | None],
            val_accuracy: Sequence[float]) -> None:
  """(a) joint learning coefficient and (b) best validation accuracy against the level lambda."""
  plt = _pyplot()
  fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
  coef = np.array([np.nan if c is None else c for c in coefficients], dtype=float)
  a.plot(levels, coef, "o-")
  a.set_xlabel(f"relative level lambda ({noise.RULE})")
  a.set_ylabel("joint learning coefficient")
  a.set_title("(a) correlation of training and validation accuracy", fontsize=9)
  b.plot(levels, val_accuracy, "o-", color="tab:green")
  b.set_xlabel("relative level lambda")
  b.set_ylabel("best validation accuracy")
  b.set_title("(b) validation accuracy", fontsize=9)
  fig.tight_layout()
  _save(fig, path, 110)


def figure5(path: str, curves: Sequence[tuple[str, dict, float, float]],
            paper: tuple[float, float] | None = None) -> None:
  """One panel per statistic: its Monte Carlo mean (black) +- one sd (red) against the uniform correlation rho.

  Args:
    path: the PNG to write.
    curves: (statistic name, curve of `simulate_cca_curve`, observed value, representative rho) per panel.
    paper: the paper's (observed, representative rho), drawn as a cross on every panel.
  """
  plt = _pyplot()
  fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 4), squeeze=False)
  for ax, (name, curve, observed, representative) in zip(axes[0], curves):
    rho, mean, sd = (np.asarray(curve[k]) for k in ("rho", "mean", "std"))
    ax.plot(rho, mean, "k-", label=f"mean {name}")
    ax.plot(rho, mean + sd, "r--", lw=0.8, label="+- 1 sd")
    ax.plot(rho, mean - sd, "r--", lw=0.8)
    ax.axhline(observed, color="tab:blue", lw=0.8, label=f"observed {observed:.3f}")
    ax.axvline(representative, color="tab:blue", ls=":", lw=0.8, label=f"representative rho {representative:.3f}")
    if paper is not None:
      ax.plot([paper[1]], [paper[0]], "x", color="tab:orange", ms=8, label=f"paper: {paper[0]:.2f} -> {paper[1]:.2f}")
    ax.set_xlabel("uniform correlation rho")
    ax.set_ylabel(name)
    ax.set_title(f"Monte Carlo, N = {curve['trials']} (n={curve['n']}, p={curve['p']}, q={curve['q']})", fontsize=9)
    ax.legend(fontsize=7)
  fig.tight_layout()
  _save(fig, path, 110)


def training_curves(path: str, name: str, history: dict[str, list[float]], selected_epoch: int) -> None:
  """Training and validation accuracy and loss per epoch, the selected epoch marked."""
  plt = _pyplot()
  epochs = np.arange(1, len(history["val_accuracy"]) + 1)
  fig, (acc, loss) = plt.subplots(1, 2, figsize=(9, 3.4))
  for ax, metric in ((acc, "accuracy"), (loss, "loss")):
    ax.plot(epochs, history[f"train_{metric}"], "-", color="tab:blue", lw=1, label="training (noise, dropout on)")
    ax.plot(epochs, history[f"val_{metric}"], "-", color="tab:orange", lw=1, label="validation")
    ax.axvline(selected_epoch, color="k", ls=":", lw=0.8, label=f"selected epoch {selected_epoch}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
  acc.legend(fontsize=7)
  fig.suptitle(name, fontsize=10)
  fig.tight_layout()
  _save(fig, path, 100)


def confusion(path: str, name: str, matrix: Sequence[Sequence[int]], classes: Sequence[str],
              subset: str = "test set") -> None:
  """A confusion matrix (of the test set unless `subset` says otherwise), rows normalised to the true
  class (cell text: counts)."""
  plt = _pyplot()
  cm = np.asarray(matrix, dtype=float)
  share = cm / np.maximum(cm.sum(1, keepdims=True), 1)
  k = len(classes)
  size = min(4 + 0.35 * k, 30)
  fig, ax = plt.subplots(figsize=(size, size * 0.85))
  image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
  if k <= 30:
    for i in range(k):
      for j in range(k):
        if cm[i, j]:
          ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=7,
                  color="white" if share[i, j] > 0.5 else "black")
  ticks = np.arange(k)
  ax.set_xticks(ticks, classes, rotation=90, fontsize=7 if k <= 30 else 4)
  ax.set_yticks(ticks, classes, fontsize=7 if k <= 30 else 4)
  ax.set_xlabel("predicted class")
  ax.set_ylabel("true class")
  ax.set_title(f"{name}: {subset} (share of each true class; numbers are counts)", fontsize=9)
  fig.colorbar(image, ax=ax, fraction=0.046)
  fig.tight_layout()
  _save(fig, path, 100)


def boundary_noise(path: str, levels: Sequence[float], curves: dict[str, dict[str, list[float]]],
                   title: str = "") -> None:
  """Accuracy and macro-F1 against boundary-noise level (% of each record's length added as flanks), a line
  per model: `curves` maps model name -> {'accuracy': [...], 'f1_macro': [...]}, one value per level."""
  plt = _pyplot()
  fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
  for ax, metric, label in zip(axes, ("accuracy", "f1_macro"), ("accuracy", "macro F1")):
    for name, curve in curves.items():
      ax.plot(levels, curve[metric], "o-", ms=3, lw=1, label=name)
    ax.set_xlabel("boundary noise (% of record length)")
    ax.set_ylabel(label)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
  axes[0].legend(fontsize=7)
  fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  _save(fig, path, 100)


def reliability(path: str, models: dict[str, dict[str, dict[str, list]]]) -> None:
  """Reliability diagrams, a panel per model: accuracy against mean confidence per confidence bin, before
  and after calibration (`models`: name -> {'before'|'after': `calibration.reliability` table})."""
  plt = _pyplot()
  fig, axes = plt.subplots(1, len(models), figsize=(3.2 * len(models), 3.3), squeeze=False)
  for ax, (name, tables) in zip(axes[0], models.items()):
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    for when, marker in (("before", "s"), ("after", "o")):
      table = tables[when]
      points = [(c, a) for c, a in zip(table["confidence"], table["accuracy"]) if c is not None]
      ax.plot(*zip(*points), marker=marker, ms=3, lw=1, label=f"{when} calibration")
    ax.set_title(name, fontsize=9)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
  axes[0][0].legend(fontsize=7)
  fig.tight_layout()
  _save(fig, path, 100)


def coverage(path: str, curves: dict[str, dict[str, list[float]]]) -> None:
  """Accuracy-coverage curves: the accuracy of the records a model is surest of (lowest novelty score)
  against their share, a line per model (`curves`: name -> `novelty.coverage_curve`)."""
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(4.6, 3.6))
  for name, curve in curves.items():
    ax.plot(curve["coverage"], curve["accuracy"], lw=1, label=name)
  ax.set_xlabel("coverage (share of test records called)")
  ax.set_ylabel("accuracy of the records called")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7)
  fig.tight_layout()
  _save(fig, path, 100)


def variance(path: str, summary: dict) -> None:
  """Standard deviation of test accuracy per seed source, grouped by model (a bar per source, the total
  spread last): `summary` is `rcl.analysis.variance.summarize`'s."""
  plt = _pyplot()
  quantities, sources = summary["quantities"], summary["sources"]
  fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(quantities) + 2), 3.6))
  width = 0.8 / len(sources)
  for i, source in enumerate(sources):
    sds = [summary["sd"][q].get(source, {}).get("sd", np.nan) for q in quantities]
    ax.bar(np.arange(len(quantities)) + (i - (len(sources) - 1) / 2) * width, sds, width, label=source)
  ax.set_xticks(np.arange(len(quantities)), quantities, rotation=20, ha="right", fontsize=7)
  ax.set_ylabel("sd of test accuracy")
  ax.legend(fontsize=7, title="seed varied", title_fontsize=7)
  ax.grid(alpha=0.3, axis="y")
  fig.tight_layout()
  _save(fig, path, 100)
