"""Exact McNemar against hand-computed binomial tails; bootstrap intervals that cover and are paired."""

import math

import numpy as np
import pytest

from rcl.analysis.significance import bootstrap_accuracy, mcnemar_exact


def _two_sided_binomial(k, n):
  tail = sum(math.comb(n, i) for i in range(0, min(k, n - k) + 1)) / 2 ** n
  return min(1.0, 2 * tail)


def test_mcnemar_counts_and_exact_p_value():
  a = np.array([1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0], bool)
  b = np.array([0, 0, 0, 0, 0, 1, 1, 1, 0, 1, 1, 0], bool)
  out = mcnemar_exact(a, b)
  assert (out["a_only"], out["b_only"]) == (5, 1)
  assert out["p_value"] == pytest.approx(_two_sided_binomial(1, 6))  # 0.21875
  assert mcnemar_exact(a, a)["p_value"] == 1.0
  rng = np.random.default_rng(0)
  x, y = rng.random(858) < 0.93, rng.random(858) < 0.87
  out = mcnemar_exact(x, y)
  assert out["p_value"] == pytest.approx(_two_sided_binomial(min(out["a_only"], out["b_only"]),
                                                             out["a_only"] + out["b_only"]))
  with pytest.raises(ValueError):
    mcnemar_exact(a, b[:-1])


def test_bootstrap_interval_covers_and_is_reproducible():
  rng = np.random.default_rng(1)
  correct = rng.random(858) < 0.9
  ci = bootstrap_accuracy(correct, resamples=2000, seed=3)
  assert ci["low"] < correct.mean() < ci["high"]
  se = math.sqrt(0.9 * 0.1 / 858)  # the normal approximation's half-width is about 1.96 se
  assert abs((ci["high"] - ci["low"]) / 2 - 1.96 * se) < 0.004
  assert bootstrap_accuracy(correct, resamples=2000, seed=3) == ci


def test_paired_bootstrap_is_narrower_than_unpaired_for_correlated_models():
  rng = np.random.default_rng(2)
  base = rng.random(858) < 0.9
  better = base | (rng.random(858) < 0.05)  # right wherever base is, and on a few more
  diff = bootstrap_accuracy(better, baseline=base, seed=0)
  assert diff["estimate"] == pytest.approx(better.mean() - base.mean())
  assert diff["low"] > 0  # paired: the gain is certain though both intervals overlap
  alone = [bootstrap_accuracy(x, seed=0) for x in (better, base)]
  assert alone[1]["high"] > alone[0]["low"]
