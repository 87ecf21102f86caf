"""The paper's robustness layers: additive Gaussian noise and dropout, active in training only.

Both accept a Python float or a traced scalar for their strength, so a population of models with
different regularisation levels can be trained in one vmapped step (rcl.train.population).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp


def _is_zero(value) -> bool:
  return isinstance(value, (int, float)) and value == 0.0


class GaussianNoise(nn.Module):
  """x + N(0, stddev^2) from the 'noise' PRNG stream when not deterministic (Keras' GaussianNoise).

  Attributes:
    stddev: noise standard deviation (float or traced scalar); 0 disables it.
  """
  stddev: float | jax.Array

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
    if deterministic or _is_zero(self.stddev):
      return x
    return x + self.stddev * jax.random.normal(self.make_rng("noise"), x.shape, x.dtype)


class Dropout(nn.Module):
  """Inverted dropout from the 'dropout' PRNG stream when not deterministic.

  Same draws as flax.linen.Dropout (Bernoulli keep mask, survivors scaled by 1/keep), but `rate` may be
  a traced scalar in [0, 1).

  Attributes:
    rate: probability of zeroing an element.
  """
  rate: float | jax.Array

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
    if deterministic or _is_zero(self.rate):
      return x
    keep = 1.0 - self.rate
    mask = jax.random.bernoulli(self.make_rng("dropout"), keep, x.shape)
    return jnp.where(mask, x / keep, jnp.zeros_like(x))


def regularised(stddev, rate, deterministic: bool):
  """Returns f(x) = Dropout(rate)(GaussianNoise(stddev)(x)), the paper's robustness pair."""
  def apply(x: jax.Array) -> jax.Array:
    x = GaussianNoise(stddev)(x, deterministic)
    return Dropout(rate)(x, deterministic)
  return apply
