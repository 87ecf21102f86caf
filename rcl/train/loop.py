"""The training loop: epochs of jitted steps, per-epoch history, model selection, checkpoint and resume."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from rcl.data import flanks
from rcl.data.batching import batches
from rcl.data.dataset import Split
from rcl.train import sharding, steps
from rcl.train.checkpoint import RunCheckpoints, differences
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
    seed: seeds the initialisation, the epoch shuffles, the noise/dropout keys and the training flanks.
    augment_flanks: share of the training records flanked afresh every epoch (`rcl.data.flanks`; 0: none,
      the paper), at a level drawn from [0, augment_flank_max]%, of kind augment_flank_kind.
  """
  epochs: int = dataclasses.field(default=100, metadata={"flag": None})
  batch_size: int = dataclasses.field(default=64, metadata={"help": "Training batch size.", "lower": 1})
  eval_batch_size: int = dataclasses.field(default=256, metadata={"help": "Evaluation batch size.", "lower": 1})
  learning_rate: float = dataclasses.field(
      default=1e-3, metadata={"help": "Adam learning rate (paper: Keras default).", "lower": 0.0})
  ema_decay: float = dataclasses.field(default=0.0, metadata={"flag": None})
  clip_norm: float = dataclasses.field(default=0.0, metadata={"flag": None})
  checkpoint_every: int = dataclasses.field(
      default=1, metadata={"help": "Epochs between resumable checkpoints.", "lower": 1})
  bucket_lengths: Sequence[int] | None = dataclasses.field(default=None, metadata={"flag": None})
  selection: str = dataclasses.field(
      default="best_val_accuracy", metadata={"help": "Model selection rule.", "choices": SELECTION_RULES})
  seed: int = dataclasses.field(default=0, metadata={"flag": None})
  augment_flanks: float = dataclasses.field(
      default=0.0, metadata={"help": "Share of training records given fresh random flanks every epoch "
                                     "(boundary-noise augmentation; 0: none, the paper).", "lower": 0.0})
  augment_flank_max: float = dataclasses.field(
      default=200.0, metadata={"help": "Largest training flank level, % of the record's length (each flanked "
                                       "record draws its level uniformly below it).", "lower": 0.0})
  augment_flank_kind: str = dataclasses.field(
      default="mixed", metadata={"help": "Training flanks: the record's dinucleotides, uniform nucleotides, or "
                                         "either ('mixed').", "choices": flanks.AUGMENT_KINDS})

  def __post_init__(self):
    if self.selection not in SELECTION_RULES:
      raise ValueError(f"selection must be one of {SELECTION_RULES}, got {self.selection!r}")
    if self.epochs < 1 or self.batch_size < 1 or self.checkpoint_every < 1:
      raise ValueError("epochs, batch_size and checkpoint_every must be positive")
    if not 0.0 <= self.ema_decay < 1.0:
      raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
    if self.clip_norm < 0:
      raise ValueError(f"clip_norm must be >= 0, got {self.clip_norm}")
    self.augmentation()  # validates the flank settings

  def augmentation(self) -> flanks.Augmentation | None:
    """The training flanks, or None."""
    if self.augment_flanks == 0:
      return None
    return flanks.Augmentation(self.augment_flanks, self.augment_flank_max, self.augment_flank_kind)


def training_data(train, config: FitConfig):
  """What training batches are cut from: `train`, flanked afresh every epoch when `config` asks for it."""
  augmentation = config.augmentation()
  return train if augmentation is None else flanks.Flanked(train, augmentation, config.seed)


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
  example = next(batches(train, config.batch_size, bucket_lengths=config.bucket_lengths))
  example.pop("index")
  return create_state(model, example, key, config.learning_rate, config.ema_decay, config.clip_norm)


def resume(ckpt: RunCheckpoints, like: TrainState, identity: dict) -> tuple[TrainState, dict] | None:
  """The newest readable 'latest' checkpoint and its metadata, or None; ValueError naming the settings
  that differ if it is another run's. 'best' checkpoints newer than the resumed epoch are dropped."""
  restored = ckpt.restore_latest(like)
  if restored is not None and restored[1].get("processes", 1) != jax.process_count():
    raise ValueError(f"{ckpt.directory} was checkpointed by a run of {restored[1].get('processes', 1)} process(es) "
                     f"and this one has {jax.process_count()}: resume it with the same launch (as many processes; "
                     "the noise and dropout streams follow the devices), or start a new --workdir")
  if restored is not None and restored[1].get("identity") != identity:
    raise ValueError(f"{ckpt.directory} holds a run under other settings "
                     f"({differences(restored[1].get('identity') or {}, identity)}); use a new workdir")
  ckpt.drop_best_after(restored[1]["epoch"] if restored is not None else 0)
  return restored


def run_epoch(train_fn: Callable, state: TrainState, train: Split, config: FitConfig, epoch: int, *extra,
              place: Callable[[dict], dict] | None = None) -> tuple[TrainState, dict, np.ndarray]:
  """One pass over `train` in the epoch's seeded order: `state, sums = train_fn(state, batch, *extra)`
  per batch (`place` puts a batch on the devices). Returns the state, the summed sums and every step's
  summed loss (float[steps], or float[steps, members]), on the host."""
  total, losses = None, []
  for batch in batches(train, config.batch_size, seed=config.seed, epoch=epoch, bucket_lengths=config.bucket_lengths):
    batch.pop("index")
    state, sums = train_fn(state, place(batch) if place is not None else batch, *extra)
    total = steps.add_sums(total, sums)
    losses.append(sums["loss"])
  total, losses = jax.device_get((total, jnp.stack(losses)))
  return state, total, np.asarray(losses)


def checkpoint_due(config: FitConfig, epoch: int) -> bool:
  """Whether the 'latest' checkpoint is written after (0-based) `epoch`: every `checkpoint_every`, and the last."""
  return (epoch + 1) % config.checkpoint_every == 0 or epoch + 1 == config.epochs


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
  run = _Run(model, train, val, config, identity or {}, mesh, on_epoch)
  ckpt = RunCheckpoints(checkpoint_dir) if checkpoint_dir else None
  try:
    done = run.resume(ckpt)
    start = time.perf_counter()
    for epoch in range(done, config.epochs):
      run.epoch(epoch, ckpt)
    seconds = time.perf_counter() - start
    selected, selected_epoch = run.selected(ckpt)
  finally:
    if ckpt is not None:
      ckpt.close()
  return FitResult(selected, run.history, selected_epoch, config.selection, config.epochs - done, done, seconds)


class _Run:
  """The state of one `fit` call between epochs: train state, history, selected epoch."""

  def __init__(self, model, train, val, config: FitConfig, identity: dict, mesh: Mesh | None, on_epoch):
    self.train, self.val, self.config = training_data(train, config), val, config
    self.identity, self.mesh, self.on_epoch = identity, mesh, on_epoch
    init_key, self.step_key = jax.random.split(jax.random.key(config.seed))
    self.state = init_state(model, train, config, init_key)
    if mesh is not None:
      sharding.check_batch_size(config.batch_size, mesh)
      self.state = sharding.replicate(self.state, mesh).replace(apply_fn=sharding.sharded_model(model).apply)
      sharding.check_batch_size(config.eval_batch_size, mesh)
    self.history: dict[str, list[float]] = {k: [] for k in HISTORY_KEYS}
    self.best: dict | None = None
    self.saved = 0  # the epoch of the newest 'latest' checkpoint
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
    self.saved = meta["epoch"]
    return meta["epoch"]

  def epoch(self, epoch: int, ckpt: RunCheckpoints | None) -> None:
    """Trains one epoch, validates, records it, keeps the selected model and checkpoints."""
    t0 = time.perf_counter()
    place = (lambda b: sharding.shard_batch(b, self.mesh)) if self.mesh is not None else None
    first_step = int(self.state.step)
    self.state, total, step_losses = run_epoch(self.train_fn, self.state, self.train, self.config, epoch,
                                               self.step_key, place=place)
    check_finite(step_losses, epoch + 1, first_step, self.saved)
    val = evaluate(self.state.for_evaluation(), self.val, self.config.eval_batch_size,
                   bucket_lengths=self.config.bucket_lengths, mesh=self.mesh)
    train = steps.means(total)
    logs = {"train_loss": train["loss"], "train_accuracy": train["accuracy"], "val_loss": val["loss"],
            "val_accuracy": val["accuracy"], "seconds": time.perf_counter() - t0}
    for k in HISTORY_KEYS:
      self.history[k].append(logs[k])
    meta = {"epoch": epoch + 1, "history": self.history, "identity": self.identity}
    # 'best' holds the selected model, which feature extraction and classification read back.
    if _better(self.config.selection, logs["val_accuracy"], logs["val_loss"], self.best):
      self.best = {"epoch": epoch + 1, "val_accuracy": logs["val_accuracy"], "val_loss": logs["val_loss"]}
      if ckpt is not None:
        ckpt.save_best(epoch + 1, self.state.for_evaluation(), dict(meta, best=self.best))
      else:
        self.best_state = jax.tree.map(jnp.copy, self.state.for_evaluation())  # survives buffer donation
    if ckpt is not None and checkpoint_due(self.config, epoch):
      ckpt.save_latest(epoch + 1, self.state, dict(meta, best=self.best))
      self.saved = epoch + 1
    if self.on_epoch is not None:
      self.on_epoch(epoch + 1, self.config.epochs, logs)

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
