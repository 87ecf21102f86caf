"""Classification metrics: accuracy, and precision, recall, F1 and specificity averaged two ways.

The paper's tables average per-class figures weighted by class support (their recall equals their
accuracy in 17 of 18 rows, which only the support-weighted average guarantees); the macro average (every
class counts once) is the stricter figure on imbalanced data such as Test88. Both are reported.
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
  """int64[classes, classes]; rows are true classes, columns predicted."""
  cm = np.zeros((num_classes, num_classes), dtype=np.int64)
  np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
  return cm


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
  return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def per_class(cm: np.ndarray) -> dict[str, np.ndarray]:
  """Per-class precision, recall, F1, specificity and support from a confusion matrix (0 where undefined)."""
  cm = cm.astype(np.float64)
  tp = np.diag(cm)
  fp = cm.sum(0) - tp
  fn = cm.sum(1) - tp
  tn = cm.sum() - tp - fp - fn
  precision = _ratio(tp, tp + fp)
  recall = _ratio(tp, tp + fn)
  return {
      "precision": precision,
      "recall": recall,
      "f1": _ratio(2 * precision * recall, precision + recall),
      "specificity": _ratio(tn, tn + fp),
      "support": cm.sum(1).astype(np.int64),
  }


AVERAGED = ("precision", "recall", "f1", "specificity")
AVERAGES = ("weighted", "macro")
METRIC_KEYS = ("accuracy",) + tuple(f"{name}_{avg}" for avg in AVERAGES for name in AVERAGED)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict[str, float]:
  """Accuracy and the support-weighted and macro averages of precision, recall, F1 and specificity.

  Keys: 'accuracy' and '<metric>_<average>' for metric in AVERAGED and average in AVERAGES
  (`METRIC_KEYS`). Macro averages run over the classes present in `y_true` or `y_pred` (scikit-learn's
  convention), so a class absent from a split does not count as a zero; weighted averages weight each
  class by its number of true examples (scikit-learn's average='weighted'), so weighted recall equals
  accuracy. An undefined ratio (e.g. precision of a class never predicted) counts as 0, as
  scikit-learn's `zero_division=0`.
  """
  y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
  if y_true.shape != y_pred.shape or y_true.size == 0:
    raise ValueError("y_true and y_pred must be non-empty and of the same shape")
  cm = confusion_matrix(y_true, y_pred, num_classes)
  stats = per_class(cm)
  present = (cm.sum(0) + cm.sum(1)) > 0
  support = cm.sum(1).astype(np.float64)
  out = {"accuracy": float(np.trace(cm) / cm.sum())}
  for name in AVERAGED:
    out[f"{name}_weighted"] = float(np.sum(stats[name] * support) / support.sum())
  for name in AVERAGED:
    out[f"{name}_macro"] = float(stats[name][present].mean())
  return out


def class_report(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
  """Per-class metrics and the confusion matrix, keyed by class name (for results.json and reports)."""
  cm = confusion_matrix(y_true, y_pred, len(classes))
  stats = per_class(cm)
  return {
      "per_class": {c: {k: (int(v[i]) if k == "support" else float(v[i])) for k, v in stats.items()}
                    for i, c in enumerate(classes)},
      "confusion_matrix": {"classes": classes, "rows_true_cols_predicted": cm.tolist()},
  }
