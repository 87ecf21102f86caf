"""The paper's joint learning coefficient (eq. 1) and the train/validation accuracy slope of Fig. 3."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _after_burn_in(train: Sequence[float], val: Sequence[float], burn_in: int) -> tuple[np.ndarray, np.ndarray]:
  train, val = np.asarray(train, np.float64), np.asarray(val, np.float64)
  if train.shape != val.shape:
    raise ValueError(f"train and validation histories differ in length: {train.shape} vs {val.shape}")
  if burn_in < 0:
    raise ValueError(f"burn_in must be >= 0, got {burn_in}")
  return train[burn_in:], val[burn_in:]


def joint_learning_coefficient(train: Sequence[float], val: Sequence[float], burn_in: int = 0) -> float | None:
  """corr_t(val_t, train_t) over epochs t > burn_in (eq. 1); works for accuracies or losses.

  Returns None when fewer than 3 epochs remain or either series is constant (undefined correlation).
  """
  x, y = _after_burn_in(train, val, burn_in)
  if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
    return None
  return float(np.corrcoef(x, y)[0, 1])


def accuracy_slope(train: Sequence[float], val: Sequence[float], burn_in: int = 0) -> float | None:
  """Least-squares slope of validation on training accuracy per epoch (Fig. 3; 1 = learning in parallel)."""
  x, y = _after_burn_in(train, val, burn_in)
  if x.size < 2 or np.ptp(x) == 0:
    return None
  return float(np.polyfit(x, y, 1)[0])


def coefficients(history: dict[str, list[float]], burn_in: int = 0) -> dict[str, float | None]:
  """Joint learning coefficients on accuracy and on loss, and the Fig. 3 slope, for one training history."""
  return {
      "burn_in": burn_in,
      "accuracy": joint_learning_coefficient(history["train_accuracy"], history["val_accuracy"], burn_in),
      "loss": joint_learning_coefficient(history["train_loss"], history["val_loss"], burn_in),
      "slope": accuracy_slope(history["train_accuracy"], history["val_accuracy"], burn_in),
  }


def plateau_level(levels: Sequence[float], coefficients: Sequence[float | None], tol: float = 0.01) -> float | None:
  """The smallest level after which the coefficient never rises by more than `tol` (where it stops rising)."""
  pairs = [(lv, c) for lv, c in zip(levels, coefficients) if c is not None]
  for i, (level, c) in enumerate(pairs):
    if all(later - c <= tol for _, later in pairs[i + 1:]):
      return level
  return None
