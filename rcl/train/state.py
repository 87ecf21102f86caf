"""TrainState with BatchNorm statistics, and its creation from a model and an example batch."""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state


class TrainState(train_state.TrainState):
  """Parameters, optimiser state and step, plus BatchNorm running statistics ({} if none)."""
  batch_stats: Any = None


def create_state(model: nn.Module, example: dict[str, jax.Array], key: jax.Array,
                 learning_rate: float = 1e-3) -> TrainState:
  """Initialises parameters from `key` and an example batch; Adam with default settings (paper)."""
  example = {k: jnp.asarray(v) for k, v in example.items()}
  variables = jax.jit(lambda k, b: model.init(k, b, train=False))(key, example)
  return TrainState.create(apply_fn=model.apply, params=variables["params"],
                           tx=optax.adam(learning_rate), batch_stats=variables.get("batch_stats", {}))
