"""Additive Gaussian noise, active in training only (Keras' GaussianNoise, as a Linen module)."""

import flax.linen as nn
import jax
import jax.numpy as jnp


class GaussianNoise(nn.Module):
  """x + N(0, stddev^2) drawn from the 'noise' PRNG stream when `deterministic` is False.

  Attributes:
    stddev: standard deviation of the noise; 0 disables it.
  """
  stddev: float

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
    if deterministic or self.stddev == 0.0:
      return x
    return x + self.stddev * jax.random.normal(self.make_rng("noise"), x.shape, x.dtype)


def regularised(stddev: float, rate: float, deterministic: bool):
  """Returns f(x) = Dropout(rate)(GaussianNoise(stddev)(x)), the paper's robustness pair."""
  def apply(x: jax.Array) -> jax.Array:
    x = GaussianNoise(stddev)(x, deterministic)
    return nn.Dropout(rate)(x, deterministic=deterministic)
  return apply
