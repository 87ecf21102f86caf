"""A population of one model at several regularisation levels, trained together.

Every member has its own parameters and optimiser state and sees the same data batches; member i at level
lambda_i follows exactly the computation `fit` performs for that level alone (same initialisation and
noise keys), so the population's histories equal sequential ones up to floating-point reassociation. This
is the paper's Fig. 4 sweep (`rcl.models.noise.rates`) at the price of one compilation. On accelerators one
vmapped step trains every member; on a CPU the members train one after another with the same
(single-model) step, which is faster there (`one_by_one`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rcl.data.dataset import Split
from rcl.models import noise
from rcl.train import steps
from rcl.train.checkpoint import RunCheckpoints
from rcl.train.epochs import HISTORY_KEYS, Trainee, run_epoch, train_epochs
from rcl.train.fit_config import FitConfig
from rcl.train.loop import init_key, init_state, resume, step_key, training_data
from rcl.train.predict import metric_sums
from rcl.train.state import TrainState


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
  def step(state: TrainState, batch: dict, key: jax.Array, level: jax.Array) -> tuple[TrainState, dict]:
    sigma, rate = noise.rates(level)
    member_model = model.clone(noise=sigma, dropout=rate)
    new, sums = steps.train_step(state.replace(apply_fn=member_model.apply), batch, key)
    return new.replace(apply_fn=state.apply_fn), sums
  return step


def one_by_one(backend: str | None = None) -> bool:
  """Whether members train one after another (a CPU) rather than in one vmapped step (accelerators, where
  the members' work fuses into wider kernels); a CPU gains nothing from the wider kernels and loses to the
  vmapped step's overhead (BUILD.md, "Measurements behind code choices")."""
  return (backend or jax.default_backend()) == "cpu"


def _stack_host(trees: list) -> dict:
  return jax.tree.map(lambda *xs: np.stack(xs), *trees)


def _epoch_one_by_one(step_fn: Callable, state: TrainState, train: Split, config: FitConfig, epoch: int,
                      keys: jax.Array, levels: jax.Array) -> tuple[TrainState, dict, np.ndarray]:
  """Every member's epoch in turn with the one-model step (the same batches as the vmapped step reads),
  restacked: (state, train sums [members], step losses [steps, members])."""
  runs = [run_epoch(step_fn, member(state, i), train, config, epoch, keys[i], levels[i])
          for i in range(len(levels))]
  return stack_states([r[0] for r in runs]), _stack_host([r[1] for r in runs]), np.stack([r[2] for r in runs], 1)


def _trainee(model: nn.Module, train: Split, val: Split, config: FitConfig, extra: tuple, identity: dict) -> Trainee:
  """The population for the epoch loop: members one after another (a CPU, `one_by_one`) or in one vmapped
  step, validated one by one or vmapped likewise."""
  sequential = one_by_one()
  step_fn = member_train_step(model)
  train_fn = jax.jit(step_fn if sequential else jax.vmap(step_fn, in_axes=(0, None, 0, 0)))
  eval_fn = jax.jit(jax.vmap(steps.eval_step, in_axes=(0, None)))

  def train_epoch(state, epoch):
    if sequential:
      return _epoch_one_by_one(train_fn, state, train, config, epoch, *extra)
    return run_epoch(train_fn, state, train, config, epoch, *extra)

  def validate(state):
    if sequential:
      return _stack_host([metric_sums(member(state, i).for_evaluation(), val, config.eval_batch_size,
                                    bucket_lengths=config.bucket_lengths) for i in range(len(extra[1]))])
    return metric_sums(state.for_evaluation(), val, config.eval_batch_size, bucket_lengths=config.bucket_lengths,
                       eval_fn=eval_fn)

  return Trainee(train_epoch, validate, lambda epoch, histories: {"epoch": epoch, "histories": histories,
                                                                  "identity": identity})


def fit_population(model: nn.Module, levels: Sequence[float], train: Split, val: Split, config: FitConfig, *,
                   checkpoint_dir: str | None = None,
                   identity: dict | None = None,
                   on_epoch: Callable[[int, int, list[dict]], None] | None = None) -> PopulationResult:
  """Trains `model` (a CNN, RNN or MLP with `noise` and `dropout` attributes) at every level at once.

  Args:
    model: the architecture; its own noise/dropout are replaced per member by `noise.rates(level)`.
    levels: regularisation levels lambda, each in [0, 2).
    train, val: splits; batches follow `config` (its order seed, shared by all members).
    config: epochs, batch size, learning rate, buckets, seeds (every member's, so that members differ only by
      their level); `selection` is not used (histories only).
    checkpoint_dir: optional; resumes from the latest population checkpoint there.
    identity: JSON-able description that a resumed checkpoint must match.
    on_epoch: on_epoch(epoch, epochs, per-member logs) after every epoch.
  """
  levels = [float(v) for v in levels]
  if not levels:
    raise ValueError("a population needs at least one level")
  for level in levels:
    noise.check_level(level)
  train = training_data(train, config)
  state = stack_states([init_state(model, train, config, init_key(config))] * len(levels))  # members start alike
  extra = (jnp.stack([step_key(config)] * len(levels)), jnp.asarray(levels, jnp.float32))
  identity = dict(identity or {}, levels=levels)
  histories = [{k: [] for k in HISTORY_KEYS} for _ in levels]
  done = 0
  ckpt = RunCheckpoints(checkpoint_dir) if checkpoint_dir else None
  try:
    if ckpt is not None and (restored := resume(ckpt, state, identity)) is not None:
      state, meta = restored
      histories, done = meta["histories"], meta["epoch"]
    start = time.perf_counter()
    state = train_epochs(_trainee(model, train, val, config, extra, identity), state, config, histories, done=done,
                         ckpt=ckpt, on_epoch=on_epoch)
  finally:
    if ckpt is not None:
      ckpt.close()
  return PopulationResult(levels, histories, state, time.perf_counter() - start)


def member(state: TrainState, index: int) -> TrainState:
  """The state of one member of a stacked population state (on the device it is on)."""
  return jax.tree.map(lambda x: x[index], state)
