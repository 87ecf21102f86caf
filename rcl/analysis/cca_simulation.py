"""Monte Carlo calibration of Fig. 5: the average canonical correlation expected at a uniform correlation rho."""

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
  R per trial serves the whole rho grid. R is the Cholesky factor of the Gram matrix W^T W (the R of a QR
  of W up to signs, irrelevant here), cheaper than a batched n x (p + q) Householder QR on CPU (BUILD.md,
  "Measurements behind code choices"). Since n >> p + q the draws are well conditioned
  (cond(W) ~ (1 + sqrt(k/n)) / (1 - sqrt(k/n)) with k = p + q), so squaring the condition number is
  harmless even in float32.
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

  jaxlib's CPU QR/SVD/Cholesky call SciPy's OpenBLAS, whose busy-waiting worker threads slow down
  badly when the cores are shared, e.g. with a training job (BUILD.md, "Measurements behind code
  choices"). SciPy's OpenBLAS is loaded lazily, hence the `scipy.linalg` import above: threadpoolctl only
  limits libraries already loaded.
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

  A trial draws standard Gaussian X (n x p) and Z (n x q) and sets Y = rho X[:, :q] + sqrt(1 - rho^2) Z, so all
  q population canonical correlations equal rho (the paper's p == q gives Y = rho X). A trial's draws serve every
  rho (common random numbers: a smoother curve, one factorisation per trial, see `_trial_curve`); trial i uses
  `jax.random.split(key, trials)[i]`. float32 is the default: its error is far below the Monte Carlo error.

  Args:
    n: rows (validation samples), n - 1 >= p + q so that the centred [X, Z] has full column rank.
    p, q: effective widths (`cca.feature_rank`) of the two feature sets, q <= p (CCA is symmetric: swap them).
    rhos: float[r], the uniform correlations, each in [0, 1].
    trials: Monte Carlo trials N per rho.
    key_or_seed: an int seed or a JAX PRNG key.
    chunk: trials per jitted vmap (memory about chunk * n * (p + q) floats); results do not depend on it.
    dtype: "float32" or "float64" (under `jax.enable_x64`: other draws, so means agree to Monte Carlo error).
    statistic: "mean" (as `cca.average_canonical_correlation`) or "first" (the largest, as a 1-component CCA).
    keep_trials: also return the per-trial values under "values".
    blas_threads: BLAS/LAPACK thread cap during the call (see `_blas_limit`); None leaves the pools alone.
    progress: optional callback progress(done_trials, trials) after each chunk.

  Returns:
    dict with 'rho', 'mean', 'std' (ddof=1; 0 when trials == 1): float64[r] each, 'trials', 'n', 'p', 'q'
    (ints), 'statistic', and 'values': float64[trials, r] if `keep_trials`.
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
