"""Feature analysis of Sec. 4: canonical correlations, PCA and the Monte Carlo calibration of Fig. 5."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg  # noqa: F401  (loads the OpenBLAS behind jaxlib's CPU LAPACK; see _blas_limit)
from threadpoolctl import threadpool_limits

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
    The rank r <= min(n - 1, p); use it as the feature width when calibrating with `simulate_cca_curve`.
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


# ---------------------------------------------------------------------------------------------------
# Monte Carlo calibration (Fig. 5)
# ---------------------------------------------------------------------------------------------------


def _draw_trial(key: jax.Array, n: int, p: int, q: int, dtype) -> jax.Array:
  """The Gaussian draws of one trial: float[n, p + q] whose first p columns are X and last q are Z."""
  return jax.random.normal(key, (n, p + q), dtype=dtype)


def _trial_curve(key: jax.Array, rhos: jax.Array, n: int, p: int, q: int, dtype,
                 statistic: str) -> jax.Array:
  """The statistic (mean or largest canonical correlation) of one trial at every rho: float[r].

  With W = centred [X, Z] = Q R (Q orthonormal n x (p + q), R upper triangular), X = Q R[:, :p] spans
  the first p coordinates of Q, so Qx = [I_p; 0] in that basis, and Y = rho X[:, :q] + sqrt(1 - rho^2) Z
  = Q M with M = rho R[:, :q] + sqrt(1 - rho^2) R[:, p:]. The canonical correlations are therefore the
  singular values of the top p rows of the orthonormal factor of the small (p + q) x q matrix M, and one
  R per trial serves the whole rho grid. R is obtained as the Cholesky factor of the Gram matrix W^T W
  (which equals the R of a QR of W up to signs, irrelevant here): about half the cost of a batched
  n x (p + q) Householder QR on CPU (2.6 vs 4.8 ms per trial for n = 857, p = q = 64). Since n >> p + q
  the draws are well conditioned (cond(W) ~ (1 + sqrt(k/n)) / (1 - sqrt(k/n)) with k = p + q: about 2.3
  for n = 857, k = 128), so squaring the condition number costs nothing measurable even in float32.
  """
  w = _draw_trial(key, n, p, q, dtype)
  w = w - w.mean(axis=0, keepdims=True)
  gram = jnp.matmul(w.T, w, precision=jax.lax.Precision.HIGHEST)
  r = jnp.linalg.cholesky(gram).T
  x_part, z_part = r[:, :q], r[:, p:]

  def one(rho):
    m = rho * x_part + jnp.sqrt(jnp.maximum(1 - rho * rho, 0)) * z_part
    qy = jnp.linalg.qr(m, mode="reduced")[0]
    s = jnp.linalg.svd(qy[:p], compute_uv=False)
    s = jnp.clip(s, 0, 1)
    return s.mean() if statistic == "mean" else s[0]

  return jax.vmap(one)(rhos)


@partial(jax.jit, static_argnums=(2, 3, 4, 5, 6))
def _chunk_curves(keys: jax.Array, rhos: jax.Array, n: int, p: int, q: int, dtype,
                  statistic: str) -> jax.Array:
  """float[chunk, r]: `_trial_curve` vmapped over a chunk of per-trial keys."""
  return jax.vmap(lambda k: _trial_curve(k, rhos, n, p, q, dtype, statistic))(keys)


def _blas_limit(threads: int | None) -> contextlib.AbstractContextManager:
  """Caps the BLAS/LAPACK thread pools (process-wide) for the duration of the context.

  jaxlib's CPU QR/SVD/Cholesky call SciPy's OpenBLAS, whose busy-waiting worker threads collapse when
  the cores are shared (measured 15-100x slowdowns on a 2-core machine running a training job). SciPy's
  OpenBLAS is loaded lazily, hence the `scipy.linalg` import above: threadpoolctl only limits libraries
  already loaded.
  """
  return contextlib.nullcontext() if threads is None else threadpool_limits(limits=threads)


def _as_key(key_or_seed: int | jax.Array) -> jax.Array:
  if isinstance(key_or_seed, (int, np.integer)):
    return jax.random.key(int(key_or_seed))
  return key_or_seed


def simulate_cca_curve(n: int, p: int, q: int, rhos: Sequence[float] | np.ndarray, trials: int,
                       key_or_seed: int | jax.Array, chunk: int = 128, *, dtype: str = "float32",
                       statistic: str = "mean", keep_trials: bool = False, blas_threads: int | None = 1,
                       progress: Callable[[int, int], None] | None = None) -> dict:
  """Monte Carlo curve of the average canonical correlation against a uniform correlation rho (Fig. 5).

  For each trial, X (n x p) and Z (n x q) are independent standard Gaussian matrices and
  Y = rho X[:, :q] + sqrt(1 - rho^2) Z, so every one of the q population canonical correlations equals
  rho. The paper uses X and Z "with the same dimensions as in our case", i.e. p == q (last dense layers
  of A and E have the same width) and Y = rho X; for p != q we use the first q columns of X, which
  requires q <= p (swap the roles of the two feature sets otherwise: CCA is symmetric). The statistic is
  the one `average_canonical_correlation` computes on real features (columns centred, mean of all
  canonical correlations); `statistic="first"` instead records the largest canonical correlation
  (what a one-component CCA, e.g. scikit-learn's `CCA(n_components=1)`, reports). Give p and q as the
  effective widths (`feature_rank`) when features have dead units.

  Implementation: trials are vmapped under jax.jit in chunks of `chunk` keys (bounding memory to about
  chunk * n * (p + q) floats). The same draws (X, Z) of a trial are reused for every rho (common random
  numbers): each rho still sees exactly the specified distribution, the curve is much smoother in rho,
  and one (p + q) x (p + q) triangular factor per trial serves the whole grid (see `_trial_curve`), so
  the cost grows slowly with the grid size. Trial i always uses `jax.random.split(key, trials)[i]`,
  so results depend on the seed and `dtype` but not on `chunk`.

  float32 is the default: the draws are well conditioned (n >> p + q), and on the same float32 draws
  the per-trial statistic differs from the float64 `average_canonical_correlation` by at most ~1.5e-7
  (n = 857, p = q = 64), far below the Monte Carlo standard error of the mean (std / sqrt(trials),
  about 1e-4 for N = 1000); float64 takes about 1.4x as long on CPU. `dtype="float64"` runs the same
  code under `jax.enable_x64` (different draws, so means agree only to Monte Carlo error).

  `blas_threads` (default 1) caps the BLAS/LAPACK thread pools process-wide during the call; see
  `_blas_limit` for why.

  Args:
    n: rows (validation samples), n - 1 >= p + q so that the centred [X, Z] has full column rank.
    p: width of the first feature set.
    q: width of the second feature set, q <= p.
    rhos: float[r], the uniform correlations, each in [0, 1].
    trials: Monte Carlo trials N per rho.
    key_or_seed: an int seed or a JAX PRNG key.
    chunk: trials per compiled batch.
    dtype: "float32" or "float64".
    statistic: "mean" (average canonical correlation, the default) or "first" (largest one).
    keep_trials: also return the per-trial values under "values".
    blas_threads: cap on the BLAS/LAPACK threads while simulating (the matrices are small, so threads
      buy little and oversubscribe a shared CPU badly); None leaves the thread pools alone.
    progress: optional callback progress(done_trials, trials) after each chunk.

  Returns:
    dict with 'rho': float64[r], 'mean': float64[r], 'std': float64[r] (sample std, ddof=1; 0 when
    trials == 1) of the statistic across trials, 'trials', 'n', 'p', 'q' (ints), 'statistic', and
    'values': float64[trials, r] if `keep_trials`.
  """
  rho_grid = np.asarray(rhos, dtype=np.float64).reshape(-1)
  if rho_grid.size == 0 or np.any(rho_grid < 0) or np.any(rho_grid > 1):
    raise ValueError("rhos must be a non-empty grid of values in [0, 1]")
  if min(p, q) < 1 or trials < 1 or chunk < 1:
    raise ValueError("p, q, trials and chunk must be positive")
  if q > p:
    raise ValueError(f"q ({q}) must not exceed p ({p}): Y uses the first q columns of X; swap the sets")
  if n - 1 < p + q:
    raise ValueError(f"need n - 1 >= p + q for full-rank centred draws, got n={n}, p={p}, q={q}")
  if dtype not in ("float32", "float64"):
    raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
  if statistic not in ("mean", "first"):
    raise ValueError(f"statistic must be 'mean' or 'first', got {statistic!r}")

  chunk = min(chunk, trials)
  padded = math.ceil(trials / chunk) * chunk
  with jax.enable_x64(dtype == "float64"), _blas_limit(blas_threads):
    jdtype = jnp.dtype(dtype)
    keys = jax.random.split(_as_key(key_or_seed), trials)
    if padded > trials:
      keys = jnp.concatenate([keys, jnp.repeat(keys[-1:], padded - trials, axis=0)])
    jrhos = jnp.asarray(rho_grid, dtype=jdtype)
    parts = []
    for start in range(0, padded, chunk):
      parts.append(np.asarray(_chunk_curves(keys[start:start + chunk], jrhos, n, p, q, jdtype,
                                          statistic)))
      if progress is not None:
        progress(min(start + chunk, trials), trials)
  values = np.concatenate(parts)[:trials].astype(np.float64)
  out = {
      "rho": rho_grid,
      "mean": values.mean(axis=0),
      "std": values.std(axis=0, ddof=1) if trials > 1 else np.zeros_like(rho_grid),
      "trials": int(trials),
      "n": int(n),
      "p": int(p),
      "q": int(q),
      "statistic": statistic,
  }
  if keep_trials:
    out["values"] = values
  return out


def representative_correlation(observed: float, curve: dict) -> float:
  """The uniform correlation rho whose simulated mean average-CCA equals `observed`.

  Inverts the monotone mean curve of `simulate_cca_curve` by piecewise-linear interpolation between
  grid points (so its resolution is that of the rho grid). Observed values below the curve's first
  mean (weaker than what pure estimation noise gives at the smallest rho) map to the smallest grid rho,
  values above the last mean to the largest; the result is finally clipped to [0, 1].

  Args:
    observed: the empirical average canonical correlation (e.g. 0.95 in the paper).
    curve: the dict returned by `simulate_cca_curve` (needs 'rho' and 'mean').

  Returns:
    The representative rho in [0, 1].

  Raises:
    ValueError: if the mean curve is not strictly increasing in rho (too few trials or a degenerate
      grid), in which case the inverse is not well defined.
  """
  rho = np.asarray(curve["rho"], dtype=np.float64)
  mean = np.asarray(curve["mean"], dtype=np.float64)
  order = np.argsort(rho)
  rho, mean = rho[order], mean[order]
  if rho.size < 2 or np.any(np.diff(mean) <= 0):
    raise ValueError("the mean curve must be strictly increasing over at least two rho values")
  return float(np.clip(np.interp(float(observed), mean, rho), 0.0, 1.0))
