"""Joint learning coefficient (eq. 1) and the Fig. 3 slope."""

import numpy as np
import pytest

from rcl.analysis.joint import accuracy_slope, coefficients, joint_learning_coefficient


def test_coefficient_is_pearson_after_burn_in():
  rng = np.random.default_rng(0)
  train = np.linspace(0.3, 0.99, 40) + rng.normal(0, 0.01, 40)
  val = 0.5 * train + rng.normal(0, 0.02, 40)
  val[:5] = [0.9, 0.1, 0.8, 0.2, 0.7]  # chaotic burn-in
  expect = np.corrcoef(train[5:], val[5:])[0, 1]
  assert np.isclose(joint_learning_coefficient(train, val, burn_in=5), expect)
  assert joint_learning_coefficient(train, val, burn_in=5) > joint_learning_coefficient(train, val, burn_in=0)
  assert np.isclose(accuracy_slope(train, 0.5 * train + 0.1), 0.5)


def test_undefined_cases():
  assert joint_learning_coefficient([0.5, 0.6], [0.5, 0.6]) is None
  assert joint_learning_coefficient([0.5, 0.6, 0.7], [0.4, 0.4, 0.4]) is None
  with pytest.raises(ValueError):
    joint_learning_coefficient([0.1, 0.2, 0.3], [0.1, 0.2])
  hist = {"train_accuracy": [0.1, 0.2, 0.3, 0.4], "val_accuracy": [0.1, 0.3, 0.2, 0.4],
          "train_loss": [4, 3, 2, 1], "val_loss": [4, 2, 3, 1]}
  c = coefficients(hist, burn_in=0)
  assert np.isclose(c["accuracy"], 0.8) and np.isclose(c["loss"], 0.8)
