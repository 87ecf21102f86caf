"""A model's results entry: metrics on validation and test, the test accuracy's interval, its figures."""

from __future__ import annotations

import os
import re

import numpy as np

from rcl import files
from rcl.analysis import significance
from rcl.analysis.metrics import class_report, classification_metrics
from rcl.data.dataset import DataSet
from rcl.report import figures


def safe_name(name: str) -> str:
  """A file-name form of a model name: 'LD(A)+LD(E)' -> 'LD_A_LD_E'."""
  return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")


def model_dir(workdir: str, name: str) -> str:
  """models/<moniker> for a component, models/collab_<safe spec> for a collaborative model."""
  safe = safe_name(name)
  return os.path.join(workdir, "models", safe if safe == name else f"collab_{safe}")


def evaluate(workdir: str, seed: int, name: str, entry: dict, probs: dict[str, np.ndarray], data: DataSet,
             history: dict | None = None) -> None:
  """Saves the val/test softmax outputs as models/<name>/predictions.npz and fills `entry` with val/test
  metrics, the per-class test report, a bootstrap interval of test accuracy
  (seeded by `seed`) and the paths of its figures under `workdir`: the test confusion matrix and, given a
  training `history`, the training curves.

  Args:
    probs: {'val': float32[n_val, classes], 'test': float32[n_test, classes]}.
  """
  labels = {n: data.splits[n].labels for n in ("val", "test")}
  os.makedirs(model_dir(workdir, name), exist_ok=True)
  files.write_npz(os.path.join(model_dir(workdir, name), "predictions.npz"), {n: probs[n] for n in ("val", "test")})
  predicted = {n: probs[n].argmax(-1) for n in ("val", "test")}
  for split in ("val", "test"):
    entry[split] = classification_metrics(labels[split], predicted[split], len(data.classes))
  entry["test_report"] = class_report(labels["test"], predicted["test"], data.classes)
  entry["test_accuracy_ci"] = significance.bootstrap_accuracy(predicted["test"] == labels["test"], seed=seed)
  os.makedirs(os.path.join(workdir, "figures"), exist_ok=True)
  entry["figures"] = {"confusion": os.path.join("figures", f"confusion_{safe_name(name)}.png")}
  figures.confusion(os.path.join(workdir, entry["figures"]["confusion"]), name,
                    entry["test_report"]["confusion_matrix"]["rows_true_cols_predicted"], data.classes)
  if history is not None:
    entry["figures"]["curves"] = os.path.join("figures", f"curves_{safe_name(name)}.png")
    figures.training_curves(os.path.join(workdir, entry["figures"]["curves"]), name, history, entry["selected_epoch"])
