"""Fitting one model: its state, resumption from checkpoints, the epochs (`rcl.train.epochs`) and model
selection."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from rcl.data import flanks
from rcl.data.batching import batches
from rcl.data.dataset import Split
from rcl.train import sharding, steps
from rcl.train.checkpoint import RunCheckpoints, differences
from rcl.train.epochs import HISTORY_KEYS, Trainee, run_epoch, train_epochs
from rcl.train.fit_config import FitConfig
from rcl.train.predict import metric_sums
from rcl.train.state import TrainState, apply_of, create_state


def training_data(train, config: FitConfig):
  """What training batches are cut from: `train`, flanked afresh every epoch when `config` asks for it."""
  augmentation = config.augmentation()
  return train if augmentation is None else flanks.Flanked(train, augmentation, config.seed_of("noise"))


@dataclasses.dataclass
class FitResult:
  """A trained model: the selected state, the full history and how it was selected."""
  state: TrainState
  history: dict[str, list[float]]
  selected_epoch: int  # 1-based
  selection: str
  epochs_trained_now: int
  resumed_from: int  # epochs already done when this call started
  seconds: float


def _better(rule: str, val_acc: float, val_loss: float, best: dict | None) -> bool:
  """Whether this epoch replaces the selected one under `rule` (always, for 'last')."""
  if best is None or rule == "last":
    return True
  if rule == "best_val_loss":
    return val_loss < best["val_loss"] or (val_loss == best["val_loss"] and val_acc > best["val_accuracy"])
  return val_acc > best["val_accuracy"] or (val_acc == best["val_accuracy"] and val_loss < best["val_loss"])


def init_state(model: nn.Module, train: Split, config: FitConfig, key: jax.Array) -> TrainState:
  """A fresh state for `model`, shaped by one training batch, with `config`'s optimiser settings."""
  example, _ = next(batches(train, config.batch_size, bucket_lengths=config.bucket_lengths))
  return create_state(model, example, key, config.learning_rate, config.ema_decay, config.clip_norm)


def init_key(config: FitConfig) -> jax.Array:
  """The key of the initial parameters (from the 'init' seed)."""
  return jax.random.split(jax.random.key(config.seed_of("init")))[0]


def step_key(config: FitConfig) -> jax.Array:
  """The base key of the train steps' noise and dropout (from the 'noise' seed; `steps.train_step`)."""
  return jax.random.split(jax.random.key(config.seed_of("noise")))[1]


def resume(ckpt: RunCheckpoints, like: TrainState, identity: dict) -> tuple[TrainState, dict] | None:
  """The newest readable 'latest' checkpoint and its metadata, or None; ValueError naming the settings
  that differ if it is another run's (its identity is not `identity`). 'best' checkpoints newer than the
  resumed epoch are dropped."""
  restored = ckpt.restore_latest(like)
  if restored is not None and restored[1].get("processes", 1) != jax.process_count():
    raise ValueError(f"{ckpt.directory} was checkpointed by a run of {restored[1].get('processes', 1)} process(es) "
                     f"and this one has {jax.process_count()}: resume it with the same launch (as many processes), "
                     "or start a new --workdir")
  if restored is not None and restored[1].get("identity") != identity:
    raise ValueError(f"{ckpt.directory} holds a run under other settings "
                     f"({differences(restored[1].get('identity') or {}, identity)}); use a new workdir")
  ckpt.drop_best_after(restored[1]["epoch"] if restored is not None else 0)
  return restored


def fit(model: nn.Module, train: Split, val: Split, config: FitConfig, *,
        checkpoint_dir: str | None = None, identity: dict | None = None, mesh: Mesh | None = None,
        on_epoch: Callable[[int, int, dict], None] | None = None) -> FitResult:
  """Trains `model` on `train`, validating on `val` after every epoch.

  Args:
    model: a Linen module taking (batch, train) and returning {'logits', 'ld'}.
    train, val: encoded splits.
    config: the FitConfig.
    checkpoint_dir: where Orbax checkpoints go; if it already holds a run, training resumes from its
      latest checkpoint (and the result equals an uninterrupted run's). None: no checkpoints.
    identity: JSON-able description of the run (model, data); a resumed checkpoint must match it.
    mesh: a 'data' mesh for data-parallel training, or None for the default device.
    on_epoch: called as on_epoch(epoch, epochs, logs) after every epoch (progress display).

  Returns:
    A FitResult whose state is the model chosen by `config.selection` (never by the test set), in its
    evaluated form (`TrainState.for_evaluation`: the averaged parameters when `config.ema_decay` > 0).
  """
  run = _Run(model, train, val, config, identity or {}, mesh)
  ckpt = RunCheckpoints(checkpoint_dir) if checkpoint_dir else None
  try:
    done = run.resume(ckpt)
    start = time.perf_counter()
    report = None if on_epoch is None else lambda epoch, epochs, logs: on_epoch(epoch, epochs, logs[0])
    run.state = train_epochs(run.trainee(ckpt), run.state, config, [run.history], done=done, ckpt=ckpt,
                             on_epoch=report)
    seconds = time.perf_counter() - start
    selected, selected_epoch = run.selected(ckpt)
  finally:
    if ckpt is not None:
      ckpt.close()
  return FitResult(selected, run.history, selected_epoch, config.selection, config.epochs - done, done, seconds)


class _Run:
  """The state of one `fit` call between epochs: train state, history, selected epoch."""

  def __init__(self, model, train, val, config: FitConfig, identity: dict, mesh: Mesh | None):
    self.train, self.val, self.config = training_data(train, config), val, config
    self.identity, self.mesh = identity, mesh
    self.state = init_state(model, train, config, init_key(config))
    self.step_key = step_key(config)
    if mesh is not None:
      sharding.check_batch_size(config.batch_size, mesh)
      self.state = sharding.replicate(self.state, mesh).replace(apply_fn=apply_of(sharding.sharded_model(model)))
      sharding.check_batch_size(config.eval_batch_size, mesh)
    self.history: dict[str, list[float]] = {k: [] for k in HISTORY_KEYS}
    self.best: dict | None = None
    self.best_state = self.state.for_evaluation()
    step_fn = steps.train_step if mesh is None else sharding.data_parallel(steps.train_step, mesh, extra_args=1)
    self.train_fn = jax.jit(step_fn, donate_argnums=() if jax.default_backend() == "cpu" else (0,))

  def resume(self, ckpt: RunCheckpoints | None) -> int:
    """Continues from the latest checkpoint, if any; returns the epochs already done."""
    restored = resume(ckpt, self.state, self.identity) if ckpt is not None else None
    if restored is None:
      return 0
    state, meta = restored
    self.state = sharding.replicate(state, self.mesh) if self.mesh is not None else state
    self.history, self.best = meta["history"], meta["best"]
    return meta["epoch"]

  def trainee(self, ckpt: RunCheckpoints | None) -> Trainee:
    """One model for the epoch loop: its data-parallel step, its validation, and the selection after each
    epoch ('best' holds the selected model, which feature extraction and classification read back)."""
    place = (lambda b: sharding.shard_batch(b, self.mesh)) if self.mesh is not None else None

    def train_epoch(state, epoch):
      return run_epoch(self.train_fn, state, self.train, self.config, epoch, self.step_key, place=place)

    def validate(state):
      return metric_sums(state.for_evaluation(), self.val, self.config.eval_batch_size,
                         bucket_lengths=self.config.bucket_lengths, mesh=self.mesh)

    def select(epoch, state, logs, meta):
      (log,) = logs
      if _better(self.config.selection, log["val_accuracy"], log["val_loss"], self.best):
        self.best = {"epoch": epoch + 1, "val_accuracy": log["val_accuracy"], "val_loss": log["val_loss"]}
        if ckpt is not None:
          ckpt.save_best(epoch + 1, state.for_evaluation(), dict(meta, best=self.best))
        else:
          self.best_state = jax.tree.map(jnp.copy, state.for_evaluation())  # survives buffer donation

    def meta(epoch, histories):
      return {"epoch": epoch, "history": histories[0], "identity": self.identity, "best": self.best}

    return Trainee(train_epoch, validate, meta, select)

  def selected(self, ckpt: RunCheckpoints | None) -> tuple[TrainState, int]:
    """The model `config.selection` chose and its (1-based) epoch."""
    if self.config.selection == "last":
      return self.state.for_evaluation(), len(self.history["val_accuracy"])
    if ckpt is not None:
      restored = ckpt.restore_best(self.state.for_evaluation())
      if restored is None or restored[1]["best"]["epoch"] != self.best["epoch"]:
        raise ValueError(f"the selected model's checkpoint (epoch {self.best['epoch']}) in {ckpt.directory}/best "
                         f"is missing or unreadable; move {ckpt.directory} away to train this model again")
      return restored[0], self.best["epoch"]
    return self.best_state, self.best["epoch"]
