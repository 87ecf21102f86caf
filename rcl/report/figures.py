"""The paper's Figures 3, 4 and 5 as matplotlib PNGs (headless Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rcl.analysis.joint import accuracy_slope  # noqa: E402


def figure3(path: str, panels: Sequence[tuple[str, dict[str, list[float]]]], burn_in: int = 0) -> None:
  """Validation vs training accuracy per epoch, one panel per (title, history), with the fitted slope."""
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
  fig.savefig(path, dpi=110)
  plt.close(fig)


def figure4(path: str, levels: Sequence[float], coefficients: Sequence[float | None],
            val_accuracy: Sequence[float]) -> None:
  """(a) joint learning coefficient and (b) best validation accuracy against the level lambda."""
  fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
  coef = np.array([np.nan if c is None else c for c in coefficients], dtype=float)
  a.plot(levels, coef, "o-")
  a.set_xlabel("relative level lambda (sigma = lambda, dropout = lambda x 50%)")
  a.set_ylabel("joint learning coefficient")
  a.set_title("(a) correlation of training and validation accuracy", fontsize=9)
  b.plot(levels, val_accuracy, "o-", color="tab:green")
  b.set_xlabel("relative level lambda")
  b.set_ylabel("best validation accuracy")
  b.set_title("(b) validation accuracy", fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def figure5(path: str, curve: dict, observed: float | None = None, representative: float | None = None) -> None:
  """Monte Carlo mean canonical correlation (black) +- one sd (red) against the uniform correlation rho."""
  rho, mean, sd = (np.asarray(curve[k]) for k in ("rho", "mean", "std"))
  fig, ax = plt.subplots(figsize=(5, 4))
  ax.plot(rho, mean, "k-", label="mean CCA")
  ax.plot(rho, mean + sd, "r--", lw=0.8, label="+- 1 sd")
  ax.plot(rho, mean - sd, "r--", lw=0.8)
  if observed is not None:
    ax.axhline(observed, color="tab:blue", lw=0.8, label=f"observed {observed:.3f}")
  if representative is not None:
    ax.axvline(representative, color="tab:blue", ls=":", lw=0.8, label=f"representative rho {representative:.3f}")
  ax.set_xlabel("uniform correlation rho")
  ax.set_ylabel("average canonical correlation")
  ax.set_title(f"Monte Carlo, N = {curve['trials']} (n={curve['n']}, p={curve['p']}, q={curve['q']})", fontsize=9)
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
