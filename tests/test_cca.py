"""Tests for the Sec. 4 feature analysis: canonical correlations, PCA and the Fig. 5 Monte Carlo."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from sklearn.cross_decomposition import CCA
from sklearn.decomposition import PCA

from rcl.analysis import cca, cca_simulation


def _planted(n: int = 600, p: int = 5, q: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """x: float[n, p], y: float[n, q] sharing three latent signals of decreasing strength."""
  rng = np.random.default_rng(seed)
  latent = rng.standard_normal((n, 3))
  x = np.column_stack([latent, rng.standard_normal((n, p - 3))]) @ rng.standard_normal((p, p))
  noise = rng.standard_normal((n, q)) * np.array([0.3, 1.0, 2.5] + [1.0] * (q - 3))
  y = np.column_stack([latent, np.zeros((n, q - 3))]) + noise
  return x + 5.0, y @ rng.standard_normal((q, q)) - 2.0


def _textbook(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """Square roots of the eigenvalues of Sxx^-1 Sxy Syy^-1 Syx, descending."""
  c = np.cov(np.column_stack([x, y]), rowvar=False)
  p = x.shape[1]
  sxx, syy, sxy = c[:p, :p], c[p:, p:], c[:p, p:]
  m = np.linalg.solve(sxx, sxy) @ np.linalg.solve(syy, sxy.T)
  ev = np.sort(np.linalg.eigvals(m).real)[::-1][:min(x.shape[1], y.shape[1])]
  return np.sqrt(np.clip(ev, 0, None))


def test_matches_textbook_formula():
  x, y = _planted()
  got = cca.canonical_correlations(x, y)
  assert got.shape == (4,)
  np.testing.assert_allclose(got, _textbook(x, y), atol=1e-8)
  assert np.all(np.diff(got) <= 0)
  assert cca.average_canonical_correlation(x, y) == pytest.approx(got.mean())


def test_matches_sklearn_cca():
  x, y = _planted()
  k = 3
  model = CCA(n_components=k, scale=False, max_iter=10_000, tol=1e-12).fit(x, y)
  xs, ys = model.transform(x, y)
  ref = np.array([abs(np.corrcoef(xs[:, i], ys[:, i])[0, 1]) for i in range(k)])
  np.testing.assert_allclose(cca.canonical_correlations(x, y)[:k], ref, atol=1e-3)


def test_invertible_transform_gives_ones():
  rng = np.random.default_rng(1)
  x = rng.standard_normal((300, 8))
  y = x @ (rng.standard_normal((8, 8)) + 3 * np.eye(8)) + 1.0
  np.testing.assert_allclose(cca.canonical_correlations(x, y), np.ones(8), atol=1e-10)


def test_independent_data_gives_small_correlations():
  rng = np.random.default_rng(2)
  x, y = rng.standard_normal((5000, 5)), rng.standard_normal((5000, 4))
  rho = cca.canonical_correlations(x, y)
  assert rho.shape == (4,) and rho.max() < 0.1


def test_dead_units_are_dropped_not_nan():
  x, y = _planted()
  x_dead = np.column_stack([x, np.zeros(len(x)), np.full(len(x), 3.0)])
  y_dead = np.column_stack([np.zeros(len(y)), y])
  got = cca.canonical_correlations(x_dead, y_dead)
  assert np.all(np.isfinite(got))
  np.testing.assert_allclose(got, cca.canonical_correlations(x, y), atol=1e-10)
  assert cca.feature_rank(x_dead) == x.shape[1]
  assert np.isfinite(cca.average_canonical_correlation(x_dead, y_dead))


def test_constant_features_raise():
  x, y = _planted()
  assert cca.canonical_correlations(np.ones_like(x), y).size == 0
  with pytest.raises(ValueError):
    cca.average_canonical_correlation(np.ones_like(x), y)
  with pytest.raises(ValueError):
    cca.canonical_correlations(x, y[:-1])


def test_pca_matches_sklearn():
  x, _ = _planted()
  scores, ratio = cca.pca(x, 3)
  ref = PCA(n_components=3).fit(x)
  np.testing.assert_allclose(ratio, ref.explained_variance_ratio_, atol=1e-10)
  np.testing.assert_allclose(np.abs(scores), np.abs(ref.transform(x)), atol=1e-8)
  with pytest.raises(ValueError):
    cca.pca(x, 0)


def test_first_pc_correlation():
  rng = np.random.default_rng(3)
  x = rng.standard_normal((400, 6)) * np.array([5.0, 1, 1, 1, 1, 1])
  assert cca.first_pc_correlation(x, 2 * x) == pytest.approx(1.0, abs=1e-10)
  assert cca.first_pc_correlation(x, -x[:, ::-1]) == pytest.approx(1.0, abs=1e-10)
  assert cca.first_pc_correlation(x, rng.standard_normal((400, 6))) < 0.2


RHOS = np.linspace(0, 1, 11)


def test_curve_monotone_reproducible_and_chunk_invariant():
  curve = cca_simulation.simulate_cca_curve(120, 6, 6, RHOS, 16, 0, chunk=16)
  assert set(curve) >= {"rho", "mean", "std", "trials", "n", "p", "q"}
  assert curve["trials"] == 16 and (curve["n"], curve["p"], curve["q"]) == (120, 6, 6)
  assert np.all(np.diff(curve["mean"]) > 0)
  assert curve["mean"][-1] == pytest.approx(1.0, abs=1e-5)
  assert curve["std"][-1] == pytest.approx(0.0, abs=1e-5)
  assert 0 < curve["mean"][0] < 0.5
  calls = []
  again = cca_simulation.simulate_cca_curve(120, 6, 6, RHOS, 16, jax.random.key(0), chunk=5,
                                            progress=lambda done, total: calls.append((done, total)))
  np.testing.assert_array_equal(curve["mean"], again["mean"])
  assert calls == [(5, 16), (10, 16), (15, 16), (16, 16)]
  other = cca_simulation.simulate_cca_curve(120, 6, 6, RHOS, 16, 1, chunk=16)
  assert not np.allclose(curve["mean"], other["mean"])


@pytest.mark.parametrize("dtype, atol", [("float64", 1e-12), ("float32", 1e-5)])
def test_curve_equals_explicit_statistic(dtype, atol):
  n, p, q, trials, rhos = 80, 7, 5, 3, np.array([0.0, 0.4, 0.9, 1.0])
  key = jax.random.key(7)
  curve = cca_simulation.simulate_cca_curve(n, p, q, rhos, trials, key, dtype=dtype, keep_trials=True)
  first = cca_simulation.simulate_cca_curve(n, p, q, rhos, trials, key, dtype=dtype, statistic="first",
                                            keep_trials=True)
  keys = jax.random.split(key, trials)
  with jax.enable_x64(dtype == "float64"):
    draws = [np.asarray(cca_simulation._draw_trial(k, n, p, q, np.dtype(dtype)), dtype=np.float64) for k in keys]
  for i, w in enumerate(draws):
    x, z = w[:, :p], w[:, p:]
    for j, rho in enumerate(rhos):
      cc = cca.canonical_correlations(x, rho * x[:, :q] + np.sqrt(1 - rho**2) * z)
      assert curve["values"][i, j] == pytest.approx(cc.mean(), abs=atol)
      assert first["values"][i, j] == pytest.approx(cc[0], abs=atol)


def test_curve_rejects_bad_shapes():
  with pytest.raises(ValueError):
    cca_simulation.simulate_cca_curve(100, 4, 6, RHOS, 2, 0)
  with pytest.raises(ValueError):
    cca_simulation.simulate_cca_curve(10, 6, 6, RHOS, 2, 0)
  with pytest.raises(ValueError):
    cca_simulation.simulate_cca_curve(100, 6, 6, [0.5, 1.2], 2, 0)


def test_representative_correlation_inverts_curve():
  curve = cca_simulation.simulate_cca_curve(120, 6, 6, RHOS, 16, 0, chunk=16)
  assert cca_simulation.representative_correlation(curve["mean"][5], curve) == pytest.approx(0.5, abs=1e-9)
  mid = 0.5 * (curve["mean"][7] + curve["mean"][8])
  assert 0.7 < cca_simulation.representative_correlation(mid, curve) < 0.8
  assert cca_simulation.representative_correlation(0.0, curve) == 0.0
  assert cca_simulation.representative_correlation(1.5, curve) == 1.0
  flat = dict(curve, mean=np.ones_like(curve["mean"]))
  with pytest.raises(ValueError):
    cca_simulation.representative_correlation(0.5, flat)
