"""The one epoch loop: train, check, validate, record, checkpoint and report, for one model or a population
(the `Trainee` says how a state trains an epoch and validates)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from rcl.data.batching import batches
from rcl.data.dataset import Split
from rcl.train import steps
from rcl.train.checkpoint import RunCheckpoints
from rcl.train.fit_config import FitConfig
from rcl.train.state import TrainState

HISTORY_KEYS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds")


class NonFiniteLoss(ValueError):
  """Training produced a non-finite loss; nothing of the failing epoch was saved."""

  def __init__(self, epoch: int, step: int, batch: int, batches: int, kept: int):
    self.epoch, self.step = epoch, step
    kept_text = f"the last good checkpoint (epoch {kept}) is kept" if kept else "no checkpoint was written"
    super().__init__(f"non-finite training loss at epoch {epoch}, step {step} (batch {batch} of {batches}); "
                     f"training stopped and {kept_text}: lower --learning_rate or set --rnn_clip_norm/"
                     f"--cnn_clip_norm")


def check_finite(step_losses: np.ndarray, epoch: int, first_step: int, kept: int) -> None:
  """Raises NonFiniteLoss naming the first step of the (1-based) `epoch` whose summed loss (float[steps] or
  float[steps, members]) is NaN or infinite; `first_step` is the step count before the epoch."""
  finite = np.isfinite(step_losses.reshape(len(step_losses), -1)).all(axis=1)
  if not finite.all():
    bad = int(np.flatnonzero(~finite)[0])
    raise NonFiniteLoss(epoch, first_step + bad + 1, bad + 1, len(step_losses), kept)


def run_epoch(train_fn: Callable, state: TrainState, train: Split, config: FitConfig, epoch: int, *extra,
              place: Callable[[dict], dict] | None = None) -> tuple[TrainState, dict, np.ndarray]:
  """One pass over `train` in the epoch's seeded order: `state, sums = train_fn(state, batch, *extra)`
  per batch (`place` puts a batch on the devices). Returns the state, the summed sums and every step's
  summed loss (float[steps], or float[steps, members]), on the host."""
  total, losses = None, []
  for batch, _ in batches(train, config.batch_size, seed=config.seed_of("order"), epoch=epoch,
                          bucket_lengths=config.bucket_lengths):
    state, sums = train_fn(state, place(batch) if place is not None else batch, *extra)
    total = steps.add_sums(total, sums)
    losses.append(sums["loss"])
  total, losses = jax.device_get((total, jnp.stack(losses)))
  return state, total, np.asarray(losses)


def checkpoint_due(config: FitConfig, epoch: int) -> bool:
  """Whether the 'latest' checkpoint is written after (0-based) `epoch`: every `checkpoint_every`, and the last."""
  return (epoch + 1) % config.checkpoint_every == 0 or epoch + 1 == config.epochs


@dataclasses.dataclass
class Trainee:
  """What the loop trains: one model (one member) or a population (a leading [members] axis).

  Attributes:
    train_epoch: (state, 0-based epoch) -> (state, summed training sums, float[steps(, members)] step losses).
    validate: state -> summed validation sums (float, or float[members]) on the host.
    checkpoint_meta: (1-based epoch, histories) -> the metadata saved with a 'latest' checkpoint.
    after_validation: (0-based epoch, state, per-member logs, epoch metadata) -> None, e.g. model selection.
  """
  train_epoch: Callable[[TrainState, int], tuple[TrainState, dict, np.ndarray]]
  validate: Callable[[TrainState], dict]
  checkpoint_meta: Callable[[int, list[dict]], dict]
  after_validation: Callable[[int, TrainState, list[dict], dict], None] | None = None


def member_logs(train: dict, val: dict, seconds: float) -> list[dict]:
  """Per-member epoch logs from `steps.means` (floats for one model, float64[members] for a population)."""
  train, val = ({k: np.atleast_1d(v) for k, v in d.items()} for d in (train, val))
  return [{"train_loss": float(train["loss"][i]), "train_accuracy": float(train["accuracy"][i]),
           "val_loss": float(val["loss"][i]), "val_accuracy": float(val["accuracy"][i]), "seconds": seconds}
          for i in range(len(train["loss"]))]


def train_epochs(trainee: Trainee, state: TrainState, config: FitConfig, histories: list[dict], *, done: int,
                 ckpt: RunCheckpoints | None, on_epoch: Callable[[int, int, list[dict]], None] | None = None
                 ) -> TrainState:
  """Trains epochs `done` to `config.epochs`: each one trained, checked for a finite loss (`NonFiniteLoss`
  names the step; the epoch is not saved), validated and appended to the members' `histories` (in place);
  then `trainee.after_validation`, the 'latest' checkpoint when due, and `on_epoch(epoch, epochs, logs)`.
  Returns the final state."""
  saved = done  # the epoch of the newest 'latest' checkpoint
  for epoch in range(done, config.epochs):
    t0 = time.perf_counter()
    first_step = int(np.asarray(state.step).reshape(-1)[0])
    state, total, step_losses = trainee.train_epoch(state, epoch)
    check_finite(step_losses, epoch + 1, first_step, saved)
    logs = member_logs(steps.means(total), steps.means(trainee.validate(state)), time.perf_counter() - t0)
    for history, entry in zip(histories, logs):
      for k in HISTORY_KEYS:
        history[k].append(entry[k])
    meta = trainee.checkpoint_meta(epoch + 1, histories)
    if trainee.after_validation is not None:
      trainee.after_validation(epoch, state, logs, meta)
    if ckpt is not None and checkpoint_due(config, epoch):
      ckpt.save_latest(epoch + 1, state, trainee.checkpoint_meta(epoch + 1, histories))
      saved = epoch + 1
    if on_epoch is not None:
      on_epoch(epoch + 1, config.epochs, logs)
  return state
