"""Deterministic passes over a whole split: loss/accuracy, and per-sequence outputs and features."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import numpy as np
from jax.sharding import Mesh

from rcl.data.batching import batches
from rcl.data.dataset import Split
from rcl.train import sharding, steps
from rcl.train.state import TrainState

_eval = jax.jit(steps.eval_step)
_predict = jax.jit(steps.predict_step)
_sample = jax.jit(steps.sample_step)


@functools.cache
def _sharded(step, mesh: Mesh, sharded_out: bool):
  return jax.jit(sharding.data_parallel(step, mesh, sharded_out=sharded_out))


def _device_batches(split: Split, batch_size: int, bucket_lengths, mesh: Mesh | None, seed: int | None = None,
                    epoch: int = 0, capacities: Sequence[int] | None = None):
  for batch, index in batches(split, batch_size, bucket_lengths=bucket_lengths, seed=seed, epoch=epoch,
                             capacities=capacities):
    yield (sharding.shard_batch(batch, mesh) if mesh is not None else batch), index, batch["mask"]


def metric_sums(state: TrainState, split: Split, batch_size: int = 256, *,
                bucket_lengths: Sequence[int] | None = None, mesh: Mesh | None = None,
                eval_fn: Callable | None = None) -> dict:
  """Summed deterministic metrics (`steps.eval_step`, or `eval_fn`, e.g. vmapped over a population)
  over `split`, on the host."""
  total = None
  if eval_fn is None:
    eval_fn = _eval if mesh is None else _sharded(steps.eval_step, mesh, False)
  for batch, _, _ in _device_batches(split, batch_size, bucket_lengths, mesh):
    total = steps.add_sums(total, eval_fn(state, batch))
  return jax.device_get(total)


def mean_metrics(state: TrainState, split: Split, batch_size: int = 256, *,
                 bucket_lengths: Sequence[int] | None = None, mesh: Mesh | None = None) -> dict[str, float]:
  """Mean loss and accuracy of the deterministic model over `split`."""
  return steps.means(metric_sums(state, split, batch_size, bucket_lengths=bucket_lengths, mesh=mesh))


def predict(state: TrainState, split: Split, batch_size: int = 256, *,
            bucket_lengths: Sequence[int] | None = None, mesh: Mesh | None = None,
            capacities: Sequence[int] | None = None) -> dict[str, np.ndarray]:
  """Per-sequence outputs in split order: 'probs' float32[n, classes] (O), 'logits' float32[n, classes] and
  'ld' float32[n, d] (LD).
  `capacities`: see `batching.plan_batches`."""
  predict_fn = _predict if mesh is None else _sharded(steps.predict_step, mesh, True)
  device_batches = _device_batches(split, batch_size, bucket_lengths, mesh, capacities=capacities)
  return _gather(len(split), ((predict_fn(state, batch), index, mask) for batch, index, mask in device_batches))


def sample(state: TrainState, split: Split, batch_size: int, key: jax.Array, draws: int, *,
           bucket_lengths: Sequence[int] | None = None, seed: int = 0) -> dict[str, np.ndarray]:
  """`draws` training-mode passes over `split` (`steps.sample_step`: noise, dropout, batch statistics).

  Each pass shuffles the split into training-like batches of `batch_size` (seeded by `seed` and the
  pass), so BatchNorm sees batches like those of training. Returns 'probs' float32[draws, n, classes]
  and 'ld' float32[draws, n, d], in split order.
  """
  passes = []
  for draw in range(draws):
    pass_key = jax.random.fold_in(key, draw)
    batches_ = _device_batches(split, batch_size, bucket_lengths, None, seed=seed, epoch=draw)
    passes.append(_gather(len(split), ((_sample(state, batch, jax.random.fold_in(pass_key, i)), index, mask)
                                       for i, (batch, index, mask) in enumerate(batches_))))
  return {name: np.stack([p[name] for p in passes]) for name in passes[0]}


def _gather(n: int, results) -> dict[str, np.ndarray]:
  """Per-batch outputs (device arrays, row index, mask) -> per-sequence arrays [n, ...] in split order."""
  out: dict[str, np.ndarray] = {}
  for result, index, mask in results:
    result = jax.device_get(result)
    keep = mask > 0
    for name, value in result.items():
      if name not in out:
        out[name] = np.zeros((n,) + value.shape[1:], value.dtype)
      out[name][index[keep]] = value[keep]
  return out


def _attention(state: TrainState, batch: dict[str, jax.Array]) -> jax.Array:
  out = state.apply_fn({"params": state.params, "batch_stats": state.batch_stats}, batch, train=False)
  return out["attention"]


_attention_jit = jax.jit(_attention)


def attention_weights(state: TrainState, split: Split, batch_size: int = 256, *,
                      bucket_lengths: Sequence[int] | None = None) -> list[np.ndarray]:
  """Where an RNN looks: per sequence, float32[length] attention weights over its positions (sum 1)."""
  out: list[np.ndarray | None] = [None] * len(split)
  for batch, index, mask in _device_batches(split, batch_size, bucket_lengths, None):
    weights = np.asarray(_attention_jit(state, batch))
    for row in np.flatnonzero(mask > 0):
      out[index[row]] = weights[row, : batch["length"][row]]
  return out
