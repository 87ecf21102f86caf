"""TrainState with BatchNorm statistics and optional parameter averaging, and its creation."""

import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct
from flax.training import train_state

from rcl.train.optimizer import optimizer


class TrainState(train_state.TrainState):
  """Parameters, optimiser state and step, plus BatchNorm running statistics ({} if none).

  With `ema_decay` > 0 it also keeps `ema_params`, an exponential moving average of the parameters
  updated after every step (Polyak averaging: ema <- decay * ema + (1 - decay) * params, started at the
  initial parameters). The averaged parameters are what `for_evaluation` returns: the model that is
  validated, selected, checkpointed as 'best' and used for features and predictions.
  """
  batch_stats: Any = None
  ema_params: Any = None
  ema_decay: float = struct.field(pytree_node=False, default=0.0)

  def apply_gradients(self, *, grads, **kwargs) -> "TrainState":
    new = super().apply_gradients(grads=grads, **kwargs)
    if self.ema_params is None:
      return new
    d = self.ema_decay
    return new.replace(ema_params=jax.tree.map(lambda e, p: d * e + (1.0 - d) * p, self.ema_params, new.params))

  def for_evaluation(self) -> "TrainState":
    """The model to evaluate, select and keep: the averaged parameters when kept, else the parameters,
    with BatchNorm statistics and step but no optimiser state (which depends on training-only settings
    such as clipping), so that any caller can restore it from `create_state(...).for_evaluation()`."""
    params = self.params if self.ema_params is None else self.ema_params
    return self.replace(params=params, ema_params=None, ema_decay=0.0, opt_state=None)


def _compiled(model: nn.Module) -> tuple[nn.Module, Callable]:
  return model, jax.jit(functools.partial(model.init, train=False))


_compiled_once = functools.lru_cache(maxsize=None)(_compiled)


def _shared(model: nn.Module) -> tuple[nn.Module, Callable]:
  """The first module seen equal to `model` and its jitted `init`, one pair per equal module (a fresh pair if
  its attributes are unhashable, e.g. a list). A TrainState keeps `apply` as static data, which jit compares
  by the module's identity: sharing it lets a second run of an equal model (a trial of a variance study, a
  population's next member) reuse the compiled steps instead of compiling them again."""
  try:
    return _compiled_once(model)
  except TypeError:
    return _compiled(model)


def apply_of(model: nn.Module) -> Callable:
  """`model.apply`, the same bound method for every equal module (see `_shared`)."""
  return _shared(model)[0].apply


def create_state(model: nn.Module, example: dict[str, jax.Array], key: jax.Array,
                 learning_rate: float = 1e-3, ema_decay: float = 0.0, clip_norm: float = 0.0) -> TrainState:
  """Initialises parameters from `key` and an example batch, with the optimiser of `rcl.train.optimizer`.

  `ema_decay` in [0, 1): > 0 also keeps a moving average of the parameters (see TrainState); 0 keeps
  none. `clip_norm` >= 0: see `optimizer`. Both are checked by `FitConfig`.
  """
  example = {k: jnp.asarray(v) for k, v in example.items()}
  variables = _shared(model)[1](key, example)
  params = variables["params"]
  ema = jax.tree.map(jnp.copy, params) if ema_decay > 0 else None  # own buffers: the step donates its state
  return TrainState.create(apply_fn=apply_of(model), params=params, tx=optimizer(learning_rate, clip_norm),
                           batch_stats=variables.get("batch_stats", {}), ema_params=ema, ema_decay=ema_decay)
