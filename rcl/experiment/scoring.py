"""Scoring a trained model on the validation and test splits: its metrics, the test accuracy's interval, its
predictions file and its figures."""

from __future__ import annotations

import os

import numpy as np

from rcl import files
from rcl.analysis import significance
from rcl.analysis.metrics import class_report, classification_metrics
from rcl.data.dataset import DataSet
from rcl.report import figures
from rcl.results import Scores
from rcl.workdir import PREDICTIONS, Workdir, safe_name


def score(workdir: str, seed: int, name: str, probs: dict[str, np.ndarray], data: DataSet,
          curves: tuple[dict, int] | None = None) -> Scores:
  """Saves the val/test softmax outputs as models/<name>/predictions.npz, draws the test confusion matrix
  (and, given `curves` = (training history, selected epoch), the training curves) under `workdir`, and
  returns the val/test metrics, the per-class test report and a bootstrap interval of test accuracy
  (seeded by `seed`).

  Args:
    probs: {'val': float32[n_val, classes], 'test': float32[n_test, classes]}.
  """
  layout = Workdir(workdir)
  labels = {n: data.splits[n].labels for n in ("val", "test")}
  os.makedirs(layout.model(name), exist_ok=True)
  files.write_npz(layout.model_file(name, PREDICTIONS), {n: probs[n] for n in ("val", "test")})
  predicted = {n: probs[n].argmax(-1) for n in ("val", "test")}
  metrics = {split: classification_metrics(labels[split], predicted[split], len(data.classes))
             for split in ("val", "test")}
  report = class_report(labels["test"], predicted["test"], data.classes)
  interval = significance.bootstrap_accuracy(predicted["test"] == labels["test"], seed=seed)
  paths = {"confusion": layout.figure(f"confusion_{safe_name(name)}")}
  figures.confusion(layout.absolute(paths["confusion"]), name, report["confusion_matrix"]["rows_true_cols_predicted"],
                    data.classes)
  if curves is not None:
    paths["curves"] = layout.figure(f"curves_{safe_name(name)}")
    figures.training_curves(layout.absolute(paths["curves"]), name, *curves)
  return Scores(metrics["val"], metrics["test"], report, interval, paths)
