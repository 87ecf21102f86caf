"""How sure is a test-set comparison? Exact McNemar test and bootstrap intervals of accuracy."""

from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> dict:
  """Exact (binomial) McNemar test of two classifiers scored on the same examples.

  Args:
    correct_a, correct_b: bool[n], whether each model got each example right.

  Returns:
    {'a_only': examples only A got right, 'b_only': only B got right, 'p_value': two-sided exact
    p-value of H0 "both disagreements are equally likely" (1.0 when the models never disagree)}.
  """
  a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
  if a.shape != b.shape or a.ndim != 1:
    raise ValueError(f"correct_a and correct_b must be 1-D and of one shape, got {a.shape} and {b.shape}")
  a_only, b_only = int(np.sum(a & ~b)), int(np.sum(~a & b))
  n = a_only + b_only
  # Two-sided exact binomial test at 1/2 (symmetric: twice the smaller tail), in exact integer arithmetic.
  tail = sum(comb(n, k) for k in range(min(a_only, b_only) + 1))
  p = 1.0 if n == 0 else min(1.0, float(Fraction(2 * tail, 2 ** n)))
  return {"a_only": a_only, "b_only": b_only, "p_value": p}


def bootstrap_accuracy(correct: np.ndarray, *, resamples: int = 2000, seed: int = 0,
                       level: float = 0.95, baseline: np.ndarray | None = None) -> dict:
  """Percentile bootstrap interval of accuracy (or, with `baseline`, of the paired accuracy difference).

  Args:
    correct: bool[n], per-example correctness of the model.
    resamples: bootstrap resamples of the n examples (with replacement).
    seed: seeds the resampling, so the interval is reproducible.
    level: coverage of the interval.
    baseline: optional bool[n] of a second model on the same examples: the interval is then of
      accuracy(model) - accuracy(baseline), resampling the examples jointly (paired).

  Returns:
    {'estimate', 'low', 'high', 'level', 'resamples'}.
  """
  x = np.asarray(correct, np.float64)
  if baseline is not None:
    x = x - np.asarray(baseline, np.float64)
  if x.ndim != 1 or x.size == 0:
    raise ValueError("correct must be a non-empty 1-D array")
  rng = np.random.default_rng(seed)
  means = np.empty(resamples)
  for start in range(0, resamples, 256):  # bounded memory: 256 x n indices at a time
    count = min(256, resamples - start)
    means[start:start + count] = x[rng.integers(0, x.size, (count, x.size))].mean(1)
  tail = (1.0 - level) / 2.0
  low, high = np.quantile(means, [tail, 1.0 - tail])
  return {"estimate": float(x.mean()), "low": float(low), "high": float(high), "level": level,
          "resamples": resamples}
