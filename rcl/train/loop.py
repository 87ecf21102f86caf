"""The training loop: epochs of jitted steps, per-epoch history, model selection, checkpoint and resume."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from rcl.data.batching import batches
from rcl.data.dataset import Split
from rcl.train import sharding, steps
from rcl.train.checkpoint import RunCheckpoints
from rcl.train.predict import evaluate
from rcl.train.state import TrainState, create_state

HISTORY_KEYS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds")
SELECTION_RULES = ("best_val_accuracy", "best_val_loss", "last")


@dataclasses.dataclass(frozen=True)
class FitConfig:
  """How to train one model.

  Attributes:
    epochs: total epochs (a resumed run trains only the missing ones).
    batch_size: training batch (split over devices when a mesh is given).
    eval_batch_size: evaluation batch.
    learning_rate: Adam step size (paper: Keras default 1e-3).
    ema_decay: > 0 validates, selects and keeps the moving average of the parameters with this
      per-step decay instead of the raw parameters (see TrainState); 0 (the paper) keeps none.
    clip_norm: > 0 clips each gradient to this global norm before Adam; 0 (the paper) does not clip.
    checkpoint_every: epochs between 'latest' checkpoints (the last epoch is always saved).
    bucket_lengths: padded lengths for length bucketing, or None for fixed-width batches.
    selection: "best_val_accuracy" (ties: lower validation loss, then the earlier epoch),
      "best_val_loss" (ties: higher validation accuracy, then the earlier epoch) or "last".
    seed: seeds the initialisation, the epoch shuffles and the noise/dropout keys.
  """
  epochs: int
  batch_size: int = 64
  eval_batch_size: int = 256
  learning_rate: float = 1e-3
  ema_decay: float = 0.0
  clip_norm: float = 0.0
  checkpoint_every: int = 1
  bucket_lengths: Sequence[int] | None = None
  selection: str = "best_val_accuracy"
  seed: int = 0

  def __post_init__(self):
    if self.selection not in SELECTION_RULES:
      raise ValueError(f"selection must be one of {SELECTION_RULES}, got {self.selection!r}")
    if self.epochs < 1 or self.batch_size < 1 or self.checkpoint_every < 1:
      raise ValueError("epochs, batch_size and checkpoint_every must be positive")
    if not 0.0 <= self.ema_decay < 1.0:
      raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
    if self.clip_norm < 0:
      raise ValueError(f"clip_norm must be >= 0, got {self.clip_norm}")


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
  identity = identity or {}
  key = jax.random.key(config.seed)
  init_key, step_key = jax.random.split(key)
  example = next(batches(train, config.batch_size, bucket_lengths=config.bucket_lengths))
  example.pop("index")
  state = create_state(model, example, init_key, config.learning_rate, config.ema_decay, config.clip_norm)
  if mesh is not None:
    sharding.check_batch_size(config.batch_size, mesh)
    state = sharding.replicate(state, mesh).replace(apply_fn=sharding.sharded_model(model).apply)
  history: dict[str, list[float]] = {k: [] for k in HISTORY_KEYS}
  best: dict | None = None
  best_state = state.for_evaluation()
  done = 0
  ckpt = RunCheckpoints(checkpoint_dir) if checkpoint_dir else None
  try:
    if ckpt is not None:
      restored = ckpt.restore_latest(state)
      if restored is not None:
        state, meta = restored
        if meta.get("identity") != identity:
          raise ValueError(f"{checkpoint_dir} holds a run of a different model or data set "
                           f"({meta.get('identity')} != {identity}); use a new workdir")
        history, best, done = meta["history"], meta["best"], meta["epoch"]
        if mesh is not None:
          state = sharding.replicate(state, mesh)
    step_fn = steps.train_step if mesh is None else sharding.data_parallel(steps.train_step, mesh, extra_args=1)
    train_fn = jax.jit(step_fn, donate_argnums=() if jax.default_backend() == "cpu" else (0,))
    start = time.perf_counter()
    for epoch in range(done, config.epochs):
      t0 = time.perf_counter()
      total = None
      for batch in batches(train, config.batch_size, seed=config.seed, epoch=epoch,
                           bucket_lengths=config.bucket_lengths):
        batch.pop("index")
        if mesh is not None:
          batch = sharding.shard_batch(batch, mesh)
        state, sums = train_fn(state, batch, step_key)
        total = sums if total is None else jax.tree.map(lambda a, b: a + b, total, sums)
      total = jax.device_get(total)
      val_metrics = evaluate(state.for_evaluation(), val, config.eval_batch_size,
                             bucket_lengths=config.bucket_lengths, mesh=mesh)
      logs = {
          "train_loss": float(total["loss"]) / float(total["count"]),
          "train_accuracy": float(total["correct"]) / float(total["count"]),
          "val_loss": val_metrics["loss"],
          "val_accuracy": val_metrics["accuracy"],
          "seconds": time.perf_counter() - t0,
      }
      for k in HISTORY_KEYS:
        history[k].append(logs[k])
      meta = {"epoch": epoch + 1, "history": history, "identity": identity}
      # 'best' holds the selected model, which feature extraction and classification read back.
      if _better(config.selection, logs["val_accuracy"], logs["val_loss"], best):
        best = {"epoch": epoch + 1, "val_accuracy": logs["val_accuracy"], "val_loss": logs["val_loss"]}
        if ckpt is not None:
          ckpt.save_best(epoch + 1, state.for_evaluation(), dict(meta, best=best))
        else:
          best_state = jax.tree.map(jnp.copy, state.for_evaluation())  # survives buffer donation
      if ckpt is not None and ((epoch + 1) % config.checkpoint_every == 0 or epoch + 1 == config.epochs):
        ckpt.save_latest(epoch + 1, state, dict(meta, best=best))
      if on_epoch is not None:
        on_epoch(epoch + 1, config.epochs, logs)
    seconds = time.perf_counter() - start
    if config.selection == "last":
      selected, selected_epoch = state.for_evaluation(), len(history["val_accuracy"])
    elif ckpt is not None:
      ckpt.best.wait_until_finished()
      selected, _ = ckpt.restore_best(state.for_evaluation())
      selected_epoch = best["epoch"]
    else:
      selected, selected_epoch = best_state, best["epoch"]
  finally:
    if ckpt is not None:
      ckpt.close()
  return FitResult(selected, history, selected_epoch, config.selection, config.epochs - done, done, seconds)
