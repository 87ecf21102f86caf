"""Standardisation by running statistics: unit-scale features whatever a batch holds."""

import flax.linen as nn
import jax
import jax.numpy as jnp


class RunningNorm(nn.Module):
  """(x - mean) / sqrt(var + epsilon) per feature, with mean and variance running estimates over training.

  Unlike BatchNorm, the output never depends on the other rows of the batch: training and evaluation
  standardise alike, with the estimates (no gradient flows into them). That matters for the RNN, whose
  length-bucketed batches are far from random samples (records of similar length often share a class):
  BatchNorm's per-batch centring there differs from its running mean
  at evaluation, and validation accuracy swings. The estimates are exponential moving averages of the
  batch mean and of the batch second moment (so the variance is that of the whole training stream, not
  an average of within-batch variances), bias-corrected as in Adam so that the first step already uses
  real statistics. Before any training step the module is the identity.

  Attributes:
    momentum: per-step decay of the moving averages (Keras' BatchNorm default, 0.99).
    epsilon: added to the variance.
    axis_name: the shard_map axis a data-parallel batch is split over: batch moments are averaged over
      it, so every device keeps the same estimates.
  """
  momentum: float = 0.99
  epsilon: float = 1e-5
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: jax.Array, update: bool) -> jax.Array:
    """x: float32[..., features] -> float32[..., features]; `update` (training) first folds this batch's
    moments into the estimates (in the 'batch_stats' collection, which must then be mutable)."""
    features = x.shape[-1]
    steps = self.variable("batch_stats", "steps", jnp.zeros, (), jnp.float32)
    first = self.variable("batch_stats", "mean", jnp.zeros, (features,), jnp.float32)
    second = self.variable("batch_stats", "second_moment", jnp.zeros, (features,), jnp.float32)
    if update and not self.is_initializing():
      rows = jax.lax.stop_gradient(x).reshape(-1, features)
      moments = (rows.mean(0), jnp.square(rows).mean(0))
      if self.axis_name is not None:
        moments = jax.lax.pmean(moments, self.axis_name)
      first.value = self.momentum * first.value + (1.0 - self.momentum) * moments[0]
      second.value = self.momentum * second.value + (1.0 - self.momentum) * moments[1]
      steps.value = steps.value + 1.0
    correction = jnp.maximum(1.0 - self.momentum ** steps.value, 1e-12)
    trained = steps.value > 0
    mean = jnp.where(trained, first.value / correction, 0.0)
    var = jnp.where(trained, jnp.maximum(second.value / correction - jnp.square(mean), 0.0), 1.0)
    return (x - mean) * jax.lax.rsqrt(var + self.epsilon)
