"""flax's orthogonal initializer with the factorisation written in XLA operations.

`flax.linen.initializers.orthogonal` takes Q of the QR factorisation of a Gaussian matrix (signs fixed by
R's diagonal), a Haar-random orthogonal matrix. Its QR runs in LAPACK, whose kernels are chosen for the
CPU at run time, so the GRU's initial recurrent weights, and every model trained from them, differed
between an AVX-512 and an AVX2 CPU (BUILD.md, "Reproducible on any x86-64 CPU"). Here the same Gaussian
matrix is orthonormalised column by column by Gram-Schmidt, twice per column (as accurate as Householder
QR for these sizes), in dots and elementwise operations that `rcl.portable_cpu` makes independent of the
CPU. The result is the same matrix as flax's up to rounding (Gram-Schmidt's R has a positive diagonal, which
is flax's sign convention).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def orthonormal_columns(a: jax.Array) -> jax.Array:
  """float32[m, k], m >= k -> Q float32[m, k] with orthonormal columns and A = QR, R upper triangular with a
  positive diagonal (classical Gram-Schmidt with one reorthogonalisation)."""
  def column(j, q):
    v = jax.lax.dynamic_index_in_dim(a, j, axis=1, keepdims=False)  # [m]
    for _ in range(2):  # the columns of q not yet set are 0 and take no part
      v = v - q @ (q.T @ v)
    return jax.lax.dynamic_update_index_in_dim(q, v / jnp.sqrt(jnp.sum(v * v)), j, axis=1)
  return jax.lax.fori_loop(0, a.shape[1], column, jnp.zeros_like(a))


def orthogonal(scale: float = 1.0):
  """An initializer of flax's orthogonal kind for 2-D (or [..., n]) shapes, the last axis the columns."""
  def init(key: jax.Array, shape, dtype=jnp.float32) -> jax.Array:
    n_rows, n_cols = math.prod(shape[:-1]), shape[-1]
    tall = n_rows >= n_cols
    a = jax.random.normal(key, (n_rows, n_cols) if tall else (n_cols, n_rows), jnp.float32)
    q = orthonormal_columns(a)
    return (scale * (q if tall else q.T)).reshape(shape).astype(dtype)
  return init
