"""Metrics agree with scikit-learn and with hand-computed specificity, weighted and macro."""

import numpy as np
from sklearn import metrics as skm

from rcl.analysis.metrics import METRIC_KEYS, class_report, classification_metrics, confusion_matrix


def _specificities(cm, classes):
  out = []
  for k in classes:
    tn = cm.sum() - cm[k].sum() - cm[:, k].sum() + cm[k, k]
    out.append(tn / (tn + cm[:, k].sum() - cm[k, k]))
  return np.array(out)


def test_against_sklearn_with_absent_and_imbalanced_classes():
  rng = np.random.default_rng(0)
  y = rng.choice(4, 300, p=[0.6, 0.25, 0.1, 0.05])  # class 4 of 5 never occurs; strongly imbalanced
  p = np.where(rng.random(300) < 0.7, y, rng.integers(0, 4, 300))
  m = classification_metrics(y, p, 5)
  assert set(m) == set(METRIC_KEYS)
  assert np.isclose(m["accuracy"], skm.accuracy_score(y, p))
  for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
    for avg in ("macro", "weighted"):
      assert np.isclose(m[f"{name}_{avg}"], fn(y, p, average=avg, zero_division=0)), (name, avg)
  assert np.isclose(m["recall_weighted"], m["accuracy"])  # the paper's tell-tale: recall = accuracy
  assert not np.isclose(m["recall_macro"], m["accuracy"])
  cm = skm.confusion_matrix(y, p, labels=range(5))
  np.testing.assert_array_equal(confusion_matrix(y, p, 5), cm)
  spec = _specificities(cm, range(4))
  assert np.isclose(m["specificity_macro"], spec.mean())
  assert np.isclose(m["specificity_weighted"], np.average(spec, weights=cm.sum(1)[:4]))


def test_class_report_names():
  rep = class_report(np.array([0, 1, 1]), np.array([0, 1, 0]), ["x", "y"])
  assert rep["per_class"]["y"]["recall"] == 0.5 and rep["per_class"]["x"]["precision"] == 0.5
  assert rep["confusion_matrix"]["rows_true_cols_predicted"] == [[1, 0], [1, 1]]
