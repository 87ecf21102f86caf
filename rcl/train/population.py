"""A population of one model at several regularisation levels, trained by one vmapped, jitted step.

Every member has its own parameters, optimiser state and PRNG keys and sees the same data batches;
member i at level lambda_i follows exactly the computation `fit` performs for that level alone (same
initialisation and key derivation from its seed), so the population's histories equal sequential ones
up to floating-point reassociation. This is the paper's Fig. 4 sweep (sigma = lambda, dropout =
lambda x 50%) at the price of one compilation.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rcl.data.batching import batches
from rcl.data.dataset import Split
from rcl.train import steps
from rcl.train.checkpoint import RunCheckpoints
from rcl.train.loop import HISTORY_KEYS, FitConfig
from rcl.train.state import TrainState, create_state


@dataclasses.dataclass
class PopulationResult:
  """Per-level training histories (keys as `fit`'s) and the final stacked state."""
  levels: list[float]
  histories: list[dict[str, list[float]]]
  state: TrainState  # every leaf has a leading [members] axis
  seconds: float


def stack_states(states: list[TrainState]) -> TrainState:
  """Stacks member states leaf by leaf into one state with a leading [members] axis."""
  return jax.tree.map(lambda *xs: jnp.stack(xs), *states)


def member_train_step(model: nn.Module):
  """train_step for one member whose level lambda is a (traced) argument: vmap it over members."""
  def step(state: TrainState, level: jax.Array, key: jax.Array, batch: dict) -> tuple[TrainState, dict]:
    member = model.clone(noise=level, dropout=0.5 * level)
    new, sums = steps.train_step(state.replace(apply_fn=member.apply), batch, key)
    return new.replace(apply_fn=state.apply_fn), sums
  return step


def fit_population(model: nn.Module, levels: Sequence[float], train: Split, val: Split, config: FitConfig, *,
                   member_seeds: Sequence[int] | None = None, checkpoint_dir: str | None = None,
                   identity: dict | None = None,
                   on_epoch: Callable[[int, int, list[dict]], None] | None = None) -> PopulationResult:
  """Trains `model` (a CNN, RNN or MLP with `noise` and `dropout` attributes) at every level at once.

  Args:
    model: the architecture; its own noise/dropout are replaced per member by (lambda, lambda / 2).
    levels: regularisation levels lambda, each in [0, 2).
    train, val: splits; batches follow `config` (shuffle seeded by config.seed, shared by all members).
    config: epochs, batch size, learning rate, buckets; `selection` is not used (histories only).
    member_seeds: seed of each member's initialisation and noise keys (default: config.seed for all,
      so members differ only by their level).
    checkpoint_dir: optional; resumes from the latest population checkpoint there.
    identity: JSON-able description that a resumed checkpoint must match.
    on_epoch: on_epoch(epoch, epochs, per-member logs) after every epoch.
  """
  levels = [float(v) for v in levels]
  if not levels or min(levels) < 0 or max(levels) >= 2:
    raise ValueError(f"levels must be non-empty and in [0, 2): {levels}")
  seeds = list(member_seeds) if member_seeds is not None else [config.seed] * len(levels)
  if len(seeds) != len(levels):
    raise ValueError("one member seed per level")
  example = next(batches(train, config.batch_size, bucket_lengths=config.bucket_lengths))
  example.pop("index")
  init_keys, step_keys = zip(*(jax.random.split(jax.random.key(s)) for s in seeds))
  members = [create_state(model, example, k, config.learning_rate, config.ema_decay, config.clip_norm)
             for k in init_keys]
  state = stack_states([m.replace(tx=members[0].tx) for m in members])  # one optimiser object: equal tree metadata
  step_keys = jnp.stack(step_keys)
  level_array = jnp.asarray(levels, jnp.float32)
  identity = dict(identity or {}, levels=levels, seeds=seeds)
  histories = [{k: [] for k in HISTORY_KEYS} for _ in levels]
  done = 0
  ckpt = RunCheckpoints(checkpoint_dir) if checkpoint_dir else None
  try:
    if ckpt is not None and (restored := ckpt.restore_latest(state)) is not None:
      state, meta = restored
      if meta.get("identity") != identity:
        raise ValueError(f"{checkpoint_dir} holds a different population ({meta.get('identity')}); use a new workdir")
      histories, done = meta["histories"], meta["epoch"]
    train_fn = jax.jit(jax.vmap(member_train_step(model), in_axes=(0, 0, 0, None)))
    eval_fn = jax.jit(jax.vmap(steps.eval_step, in_axes=(0, None)))
    start = time.perf_counter()
    for epoch in range(done, config.epochs):
      t0 = time.perf_counter()
      total = None
      for batch in batches(train, config.batch_size, seed=config.seed, epoch=epoch,
                           bucket_lengths=config.bucket_lengths):
        batch.pop("index")
        state, sums = train_fn(state, level_array, step_keys, batch)
        total = sums if total is None else jax.tree.map(jnp.add, total, sums)
      vtotal, evaluated = None, state.for_evaluation()
      for batch in batches(val, config.eval_batch_size, bucket_lengths=config.bucket_lengths):
        batch.pop("index")
        sums = eval_fn(evaluated, batch)
        vtotal = sums if vtotal is None else jax.tree.map(jnp.add, vtotal, sums)
      total, vtotal = jax.device_get((total, vtotal))
      seconds = time.perf_counter() - t0
      logs = []
      for i, history in enumerate(histories):
        entry = {"train_loss": total["loss"][i] / total["count"][i],
                 "train_accuracy": total["correct"][i] / total["count"][i],
                 "val_loss": vtotal["loss"][i] / vtotal["count"][i],
                 "val_accuracy": vtotal["correct"][i] / vtotal["count"][i], "seconds": seconds}
        entry = {k: float(v) for k, v in entry.items()}
        for k in HISTORY_KEYS:
          history[k].append(entry[k])
        logs.append(entry)
      if ckpt is not None and ((epoch + 1) % config.checkpoint_every == 0 or epoch + 1 == config.epochs):
        ckpt.save_latest(epoch + 1, state, {"epoch": epoch + 1, "histories": histories, "identity": identity})
      if on_epoch is not None:
        on_epoch(epoch + 1, config.epochs, logs)
  finally:
    if ckpt is not None:
      ckpt.close()
  return PopulationResult(levels, histories, state, time.perf_counter() - start)


def member(state: TrainState, index: int) -> TrainState:
  """The state of one member of a stacked population state."""
  return jax.tree.map(lambda x: np.asarray(x)[index], state)
