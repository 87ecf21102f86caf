"""Feature analysis of Sec. 4: canonical correlations and principal components of two feature sets."""

from __future__ import annotations

import numpy as np

DEFAULT_RTOL = 1e-10


def _as_2d(x: np.ndarray, name: str) -> np.ndarray:
  x = np.asarray(x, dtype=np.float64)
  if x.ndim != 2:
    raise ValueError(f"{name} must be 2-D (rows are samples), got shape {x.shape}")
  if x.shape[0] < 2:
    raise ValueError(f"{name} needs at least 2 rows, got {x.shape[0]}")
  if not np.all(np.isfinite(x)):
    raise ValueError(f"{name} contains NaN or infinite values")
  return x


def _orthonormal_basis(x: np.ndarray, rtol: float) -> np.ndarray:
  """Orthonormal basis of the span of the centred columns of `x`, rank-revealing.

  Args:
    x: float64[n, p], already validated.
    rtol: singular values at or below `rtol` times the largest are treated as zero (dead or duplicated
      units); an all-constant `x` gives an empty basis.

  Returns:
    float64[n, r] with orthonormal columns, r = numerical rank of the centred `x` (r <= min(n - 1, p)).
  """
  xc = x - x.mean(axis=0, keepdims=True)
  u, s, _ = np.linalg.svd(xc, full_matrices=False)
  keep = s > rtol * s[0] if s.size else np.zeros(0, dtype=bool)
  return u[:, keep]


def feature_rank(x: np.ndarray, eps: float = DEFAULT_RTOL) -> int:
  """Numerical rank of the centred features, i.e. the dimension CCA effectively sees.

  Args:
    x: float[n, p]; dead (constant) units and exactly collinear units do not count.
    eps: relative singular-value tolerance, as in `canonical_correlations`.

  Returns:
    The rank r <= min(n - 1, p); use it as the feature width in `cca_simulation.simulate_cca_curve`.
  """
  return int(_orthonormal_basis(_as_2d(x, "x"), eps).shape[1])


def canonical_correlations(x: np.ndarray, y: np.ndarray, eps: float = DEFAULT_RTOL) -> np.ndarray:
  """All sample canonical correlations between two feature sets, in descending order.

  Uses the numerically stable principal-angle method (Bjorck & Golub): centre the columns, take an
  orthonormal basis of each column space, and the canonical correlations are the singular values of
  Qx^T Qy. The bases come from a thin SVD rather than a plain QR so that rank deficiency is handled:
  directions whose singular value is at most `eps` times the largest are dropped. Last-dense-layer ReLU
  features often contain dead (constant-zero) units, whose canonical correlation is undefined; they are
  removed instead of yielding NaN or a spurious value. Computation is in float64.

  Args:
    x: float[n, p] features of model A (rows are the same samples as in `y`).
    y: float[n, q] features of model E.
    eps: relative singular-value tolerance for the rank decision.

  Returns:
    float64[k], values in [0, 1] (clipped against rounding), sorted descending, where
    k = min(rank(x_c), rank(y_c)); for full-rank inputs (no dead or collinear units, n > p + q) this is
    min(p, q). Empty if either input is constant.
  """
  x, y = _as_2d(x, "x"), _as_2d(y, "y")
  if x.shape[0] != y.shape[0]:
    raise ValueError(f"x and y must have the same number of rows, got {x.shape[0]} and {y.shape[0]}")
  qx, qy = _orthonormal_basis(x, eps), _orthonormal_basis(y, eps)
  if qx.shape[1] == 0 or qy.shape[1] == 0:
    return np.zeros(0, dtype=np.float64)
  s = np.linalg.svd(qx.T @ qy, compute_uv=False)
  return np.clip(s, 0.0, 1.0)


def average_canonical_correlation(x: np.ndarray, y: np.ndarray, eps: float = DEFAULT_RTOL) -> float:
  """The paper's "average canonical correlation": mean of `canonical_correlations(x, y, eps)`.

  Args:
    x: float[n, p].
    y: float[n, q].
    eps: relative singular-value tolerance (dead units are excluded from the average).

  Returns:
    The mean in [0, 1].

  Raises:
    ValueError: if either feature set is constant, so that no canonical correlation is defined.
  """
  rho = canonical_correlations(x, y, eps)
  if rho.size == 0:
    raise ValueError("no canonical correlation is defined: one of the feature sets is constant")
  return float(rho.mean())


def pca(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
  """Principal component analysis of the centred features via a thin SVD.

  The sign of each component is fixed so that its largest-magnitude loading is positive (as
  scikit-learn's `svd_flip`), making the scores deterministic.

  Args:
    x: float[n, p].
    k: number of components, 1 <= k <= min(n, p).

  Returns:
    scores: float64[n, k], projections of the centred rows on the first k principal axes.
    explained_variance_ratio: float64[k], share of the total variance of each component.

  Raises:
    ValueError: on a bad `k` or a constant `x` (no variance to explain).
  """
  x = _as_2d(x, "x")
  n, p = x.shape
  if not 1 <= k <= min(n, p):
    raise ValueError(f"k must be in [1, {min(n, p)}], got {k}")
  xc = x - x.mean(axis=0, keepdims=True)
  u, s, vt = np.linalg.svd(xc, full_matrices=False)
  total = float(np.sum(s**2))
  if total == 0.0:
    raise ValueError("x is constant: principal components are undefined")
  u, s, vt = u[:, :k], s[:k], vt[:k]
  signs = np.sign(vt[np.arange(k), np.argmax(np.abs(vt), axis=1)])
  signs[signs == 0] = 1.0
  return u * (s * signs), s**2 / total


def first_pc_correlation(x: np.ndarray, y: np.ndarray) -> float:
  """Absolute Pearson correlation between the first principal component scores of x and of y.

  Each PCA runs on its own centred features; the absolute value removes the arbitrary sign of a
  principal axis.

  Args:
    x: float[n, p].
    y: float[n, q], rows paired with `x`.

  Returns:
    |corr(PC1(x), PC1(y))| in [0, 1].
  """
  x, y = _as_2d(x, "x"), _as_2d(y, "y")
  if x.shape[0] != y.shape[0]:
    raise ValueError(f"x and y must have the same number of rows, got {x.shape[0]} and {y.shape[0]}")
  a = pca(x, 1)[0][:, 0]
  b = pca(y, 1)[0][:, 0]
  a, b = a - a.mean(), b - b.mean()
  r = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
  return min(abs(r), 1.0)
