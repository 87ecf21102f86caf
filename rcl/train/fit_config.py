"""How one model trains: the settings `rcl.train.loop.fit` and the population read."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from rcl.data import flanks

SELECTION_RULES = ("best_val_accuracy", "best_val_loss", "last")


def check_schedule(epochs: int, ema_decay: float, clip_norm: float) -> None:
  """Raises ValueError unless the settings that may differ per architecture are valid."""
  if epochs < 1:
    raise ValueError(f"epochs must be positive, got {epochs}")
  if not 0.0 <= ema_decay < 1.0:
    raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}")
  if clip_norm < 0:
    raise ValueError(f"clip_norm must be >= 0, got {clip_norm}")


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
    seed: seeds the initialisation, the epoch shuffles, the noise/dropout keys and the training flanks,
      unless one of these has a seed of its own:
    init_seed, order_seed, noise_seed: the initialisation's, the epoch shuffles', and the noise, dropout and
      training flanks' (None: `seed`; `seed_of`).
    augment_flanks: share of the training records flanked afresh every epoch (`rcl.data.flanks`; 0: none,
      the paper), at a level drawn from [0, augment_flank_max]%, of kind augment_flank_kind.
  """
  epochs: int = 100
  batch_size: int = 64
  eval_batch_size: int = 256
  learning_rate: float = 1e-3
  ema_decay: float = 0.0
  clip_norm: float = 0.0
  checkpoint_every: int = 1
  bucket_lengths: Sequence[int] | None = None
  selection: str = "best_val_accuracy"
  seed: int = 0
  init_seed: int | None = None
  order_seed: int | None = None
  noise_seed: int | None = None
  augment_flanks: float = 0.0
  augment_flank_max: float = 200.0
  augment_flank_kind: str = "mixed"

  def __post_init__(self):
    if self.selection not in SELECTION_RULES:
      raise ValueError(f"selection must be one of {SELECTION_RULES}, got {self.selection!r}")
    if self.batch_size < 1 or self.checkpoint_every < 1:
      raise ValueError("batch_size and checkpoint_every must be positive")
    check_schedule(self.epochs, self.ema_decay, self.clip_norm)
    self.augmentation()  # validates the flank settings

  def seed_of(self, source: str) -> int:
    """The seed of 'init', 'order' or 'noise'."""
    own = {"init": self.init_seed, "order": self.order_seed, "noise": self.noise_seed}[source]
    return self.seed if own is None else own

  def augmentation(self) -> flanks.Augmentation | None:
    """The training flanks, or None."""
    if self.augment_flanks == 0:
      return None
    return flanks.Augmentation(self.augment_flanks, self.augment_flank_max, self.augment_flank_kind)

