"""Metrics agree with scikit-learn and with hand-computed specificity."""

import numpy as np
from sklearn import metrics as skm

from rcl.analysis.metrics import class_report, classification_metrics, confusion_matrix


def test_against_sklearn_with_absent_class():
  rng = np.random.default_rng(0)
  y = rng.integers(0, 4, 300)  # class 4 of 5 never occurs
  p = np.where(rng.random(300) < 0.7, y, rng.integers(0, 4, 300))
  m = classification_metrics(y, p, 5)
  assert np.isclose(m["accuracy"], skm.accuracy_score(y, p))
  for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
    assert np.isclose(m[name], fn(y, p, average="macro", zero_division=0)), name
  cm = skm.confusion_matrix(y, p, labels=range(5))
  np.testing.assert_array_equal(confusion_matrix(y, p, 5), cm)
  spec = []
  for k in range(4):
    tn = cm.sum() - cm[k].sum() - cm[:, k].sum() + cm[k, k]
    spec.append(tn / (tn + cm[:, k].sum() - cm[k, k]))
  assert np.isclose(m["specificity"], np.mean(spec))


def test_class_report_names():
  rep = class_report(np.array([0, 1, 1]), np.array([0, 1, 0]), ["x", "y"])
  assert rep["per_class"]["y"]["recall"] == 0.5 and rep["per_class"]["x"]["precision"] == 0.5
  assert rep["confusion_matrix"]["rows_true_cols_predicted"] == [[1, 0], [1, 1]]
