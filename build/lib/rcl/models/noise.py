"""The paper's robustness: one regularisation level lambda, and the noise and dropout layers it sets.

The rule (paper, Sec. 3.2 and Fig. 4): Gaussian noise sigma = lambda and dropout rate = lambda x 50%,
lambda in [0, 2) so that the rate stays below 1. `rates` is the only place it is written. Both layers
accept a Python float or a traced scalar for their strength, so a population of models with different
levels can be trained in one vmapped step (rcl.train.population).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp


MAX_LEVEL = 2.0
RULE = "noise sigma = lambda, dropout = lambda x 50%"


def rates(level):
  """(noise sigma, dropout rate) of regularisation level lambda: (lambda, lambda / 2).

  `level` may be a float (checked to lie in [0, MAX_LEVEL)) or a traced scalar (not checked).
  """
  if isinstance(level, (int, float)):
    check_level(level)
    level = float(level)
  return level, 0.5 * level


def check_level(level: float) -> None:
  """Raises ValueError unless 0 <= level < MAX_LEVEL (dropout = level x 50% must stay below 1)."""
  if not 0.0 <= level < MAX_LEVEL:
    raise ValueError(f"regularisation level lambda must be in [0, {MAX_LEVEL:g}) so that dropout = lambda x 50% "
                     f"stays below 1; got {level}")


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
