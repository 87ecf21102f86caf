"""The optimiser: Adam with Keras' defaults (the paper's "default Adam settings"), optionally clipped."""

import functools

import optax


@functools.lru_cache(maxsize=None)  # one object per setting: jit compares the TrainState's tx by identity
def optimizer(learning_rate: float = 1e-3, clip_norm: float = 0.0) -> optax.GradientTransformation:
  """Adam (b1 0.9, b2 0.999, eps 1e-8 as optax and Keras) at `learning_rate`; `clip_norm` > 0 first
  rescales every gradient whose global norm exceeds it (0, the paper: no clipping)."""
  adam = optax.adam(learning_rate)
  return optax.chain(optax.clip_by_global_norm(clip_norm), adam) if clip_norm > 0 else adam
