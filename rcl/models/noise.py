"""The paper's robustness: one regularisation level lambda, and the noise and dropout layers it sets.

The rule (paper, Sec. 3.2 and Fig. 4): Gaussian noise sigma = lambda and dropout rate = lambda x 50%,
lambda in [0, 2) so that the rate stays below 1. `rates` is the only place it is written. Both layers
accept a Python float or a traced scalar for their strength, so a population of models with different
levels can be trained in one vmapped step (rcl.train.population).

Both layers draw 16-bit uniform fields, four per Threefry hash (`fields16`), instead of JAX's one hash
per 32-bit sample (its default, partitionable Threefry XORs a hash's two output words into one): the
fewer hashes make the draws cheaper, and they are a large part of the CNN's training step on a CPU
(BUILD.md, "Measurements behind code choices"). 16 bits are ample for both:
dropout's keep probability is exact to 2^-16, and the noise is the inverse normal CDF at the midpoints of
2^16 equal-probability cells (|z| <= 4.3 sigma; mean 0 and standard deviation 1 to within 2e-5).

The draws are made per example: row i of a batch draws from the layer's key folded with i's position in the
*global* batch (`example_fields16`), so a batch split over N devices or N processes, each applying the
layer to its own rows, draws exactly the numbers one device draws for the whole batch.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.extend.random import threefry_2x32

_FIELD = 1 << 16


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


def fields16(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """uint32 values uniform on [0, 2^16) of the given shape: the two halves of Threefry-2x32 output
  words, each hash giving two words, keyed by a key pair drawn from `key` (any PRNG implementation)."""
  if not shape:
    return fields16(key, (1,))[0]
  if math.prod(shape) == 0:
    return jnp.zeros(shape, jnp.uint32)
  words = (shape[-1] + 1) // 2  # per row of the last axis: two fields per word
  pair = jax.random.bits(key, (2,), jnp.uint32)
  bits = threefry_2x32((pair[0], pair[1]), jnp.arange(math.prod(shape[:-1]) * words, dtype=jnp.uint32))
  bits = bits.reshape(shape[:-1] + (words,))
  return jnp.concatenate([bits >> 16, bits & (_FIELD - 1)], axis=-1)[..., :shape[-1]]


def example_fields16(key: jax.Array, shape: tuple[int, ...], batch_axis: str | None = None) -> jax.Array:
  """uint32[shape] 16-bit fields for a batch of shape [b, ...], row by row: row i is `fields16` of
  `key` folded with the row's position in the global batch, which is i on one device, or i plus this
  shard's first row when the batch is split over the `jax.shard_map` axis `batch_axis` in equal shards."""
  first = 0 if batch_axis is None else jax.lax.axis_index(batch_axis) * shape[0]
  rows = first + jnp.arange(shape[0], dtype=jnp.uint32)
  return jax.vmap(lambda row: fields16(jax.random.fold_in(key, row), shape[1:]))(rows)


def normal16(fields: jax.Array, dtype) -> jax.Array:
  """Standard normal samples from 16-bit uniform fields: the inverse CDF at the cells' midpoints."""
  u = (fields.astype(jnp.float32) + 0.5) * (1.0 / _FIELD)  # in (0, 1)
  return (math.sqrt(2.0) * jax.lax.erf_inv(2.0 * u - 1.0)).astype(dtype)


def _is_zero(value) -> bool:
  return isinstance(value, (int, float)) and value == 0.0


class GaussianNoise(nn.Module):
  """x + N(0, stddev^2) from the 'noise' PRNG stream when not deterministic (Keras' GaussianNoise).

  Attributes:
    stddev: noise standard deviation (float or traced scalar); 0 disables it.
    batch_axis: the shard_map axis a data-parallel batch is split over (per-example draws, module docstring).
  """
  stddev: float | jax.Array
  batch_axis: str | None = None

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
    if deterministic or _is_zero(self.stddev):
      return x
    z = normal16(example_fields16(self.make_rng("noise"), x.shape, self.batch_axis), x.dtype)
    return (x + self.stddev * z).astype(x.dtype)


class Dropout(nn.Module):
  """Inverted dropout from the 'dropout' PRNG stream when not deterministic.

  flax.linen.Dropout's rule (Bernoulli keep mask, survivors scaled by 1/keep) with the keep decision
  drawn from 16-bit fields (`fields16`: kept where the field >= rate x 2^16, rounded), and `rate` may be
  a traced scalar in [0, 1).

  Attributes:
    rate: probability of zeroing an element.
    batch_axis: the shard_map axis a data-parallel batch is split over (per-example draws, module docstring).
  """
  rate: float | jax.Array
  batch_axis: str | None = None

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
    if deterministic or _is_zero(self.rate):
      return x
    keep = 1.0 - self.rate
    threshold = jnp.round(jnp.asarray(self.rate, jnp.float32) * _FIELD).astype(jnp.uint32)
    mask = example_fields16(self.make_rng("dropout"), x.shape, self.batch_axis) >= threshold
    return jnp.where(mask, x / keep, jnp.zeros_like(x)).astype(x.dtype)


def regularised(stddev, rate, deterministic: bool, batch_axis: str | None = None):
  """Returns f(x) = Dropout(rate)(GaussianNoise(stddev)(x)), the paper's robustness pair."""
  def apply(x: jax.Array) -> jax.Array:
    x = GaussianNoise(stddev, batch_axis)(x, deterministic)
    return Dropout(rate, batch_axis)(x, deterministic)
  return apply
