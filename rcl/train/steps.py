"""Pure train, evaluation and prediction steps (jitted by the caller's loop).

With `axis_name`, a step runs on one shard of the batch inside `jax.shard_map` (see
`rcl.train.sharding.data_parallel`): sums, the loss normaliser and the gradients are summed over the
named axis. Every shard starts from the same noise and dropout keys; the layers fold in each row's position
in the global batch (`rcl.models.noise`), so a split batch draws what the whole batch draws on one device.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rcl.train.state import TrainState


def _variables(state: TrainState, params) -> dict:
  return {"params": params, "batch_stats": state.batch_stats}


def _sums(logits: jax.Array, batch: dict[str, jax.Array]) -> dict[str, jax.Array]:
  """Masked sums of loss and correct predictions; divide by 'count' for means."""
  mask = batch["mask"]
  loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
  correct = (jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32)
  return {"loss": jnp.sum(loss * mask), "correct": jnp.sum(correct * mask), "count": jnp.sum(mask)}


def add_sums(total: dict | None, sums: dict) -> dict:
  """Accumulates the masked sums of one batch into a running total (None: the first batch)."""
  return sums if total is None else jax.tree.map(jnp.add, total, sums)


def means(total: dict) -> dict:
  """Mean 'loss' and 'accuracy' from summed sums on the host (float, or float64[members] for a
  population), divided in float64."""
  count = np.maximum(np.asarray(total["count"], np.float64), 1.0)
  loss = np.asarray(total["loss"], np.float64) / count
  accuracy = np.asarray(total["correct"], np.float64) / count
  if loss.ndim == 0:
    return {"loss": float(loss), "accuracy": float(accuracy)}
  return {"loss": loss, "accuracy": accuracy}


def _psum(tree, axis_name: str | None):
  return tree if axis_name is None else jax.lax.psum(tree, axis_name)


def train_step(state: TrainState, batch: dict[str, jax.Array], key: jax.Array,
               axis_name: str | None = None) -> tuple[TrainState, dict]:
  """One Adam step on the masked mean categorical cross-entropy.

  Args:
    state: current state.
    batch: 'seq'/'sec' uint8[b, L], 'length' int32[b], 'label' int32[b], 'mask' float32[b].
    key: the run's base key; this step's noise and dropout keys are folded from it and `state.step`,
      so a resumed run draws exactly the keys an uninterrupted one would.
    axis_name: the shard_map axis the batch is split over, or None on one device.

  Returns:
    The new state and masked sums {'loss', 'correct', 'count'} for this (whole) batch.
  """
  key = jax.random.fold_in(key, state.step)
  noise_key, dropout_key = jax.random.split(key)
  count = _psum(jnp.sum(batch["mask"]), axis_name)

  def loss_fn(params):
    out, updates = state.apply_fn(_variables(state, params), batch, train=True,
                                  rngs={"noise": noise_key, "dropout": dropout_key},
                                  mutable=["batch_stats"])
    sums = _sums(out["logits"], batch)
    return sums["loss"] / jnp.maximum(count, 1.0), (sums, updates)

  grads, (sums, updates) = jax.grad(loss_fn, has_aux=True)(state.params)
  grads, sums = _psum((grads, sums), axis_name)
  state = state.apply_gradients(grads=grads, batch_stats=updates.get("batch_stats", state.batch_stats))
  return state, sums


def eval_step(state: TrainState, batch: dict[str, jax.Array], axis_name: str | None = None) -> dict[str, jax.Array]:
  """Deterministic (no noise, no dropout) masked sums {'loss', 'correct', 'count'}."""
  out = state.apply_fn(_variables(state, state.params), batch, train=False)
  return _psum(_sums(out["logits"], batch), axis_name)


def predict_step(state: TrainState, batch: dict[str, jax.Array], axis_name: str | None = None) -> dict[str, jax.Array]:
  """Deterministic outputs: 'probs' float32[b, classes] (O features), 'logits' float32[b, classes] and 'ld'
  float32[b, d]."""
  del axis_name  # per-sequence outputs: nothing to reduce over shards
  out = state.apply_fn(_variables(state, state.params), batch, train=False)
  return {"probs": jax.nn.softmax(out["logits"], -1), "logits": out["logits"], "ld": out["ld"]}


def sample_step(state: TrainState, batch: dict[str, jax.Array], key: jax.Array) -> dict[str, jax.Array]:
  """Outputs as in training, one random draw: noise and dropout on, BatchNorm on this batch's statistics
  (its running averages are left unchanged). Same keys as `predict_step`."""
  noise_key, dropout_key = jax.random.split(key)
  out, _ = state.apply_fn(_variables(state, state.params), batch, train=True,
                          rngs={"noise": noise_key, "dropout": dropout_key}, mutable=["batch_stats"])
  return {"probs": jax.nn.softmax(out["logits"], -1), "ld": out["ld"]}
