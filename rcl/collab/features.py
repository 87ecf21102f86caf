"""Component features for collaborative learning: LD (last dense layer) and O (softmax output)."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

from rcl.data.dataset import SPLITS, DataSet, Split
from rcl.files import write_npz
from rcl.train.predict import predict, sample
from rcl.train.state import TrainState

FEATURE_KINDS = ("LD", "O")
SAMPLED = "train_sampled"  # training-mode draws of the training split: kind -> float32[draws, n, d]
FLANKED = "train_flanked"  # flanked copies of the training split: kind -> float32[copies, n, d]
Features = dict[str, dict[str, np.ndarray]]  # split (or SAMPLED) -> kind -> float32[n, d]


def extract(state: TrainState, data: DataSet, *, bucket_lengths: Sequence[int] | None = None,
            batch_size: int = 256, draws: int = 0, train_batch_size: int = 64, seed: int = 0,
            flanked: Sequence[Split] = ()) -> Features:
  """A component's features on every split, from its selected model (`state`, in evaluated form).

  Noise and dropout are off, except in the `draws` training-mode passes over the training split
  (`predict.sample`: noise, dropout and batch statistics as in training, batches of `train_batch_size`,
  keys from `seed`), which show the collaborative model component features as unsure as they are on
  sequences a component has not learned by heart.

  Returns:
    {split: {'LD': float32[n, d], 'O': float32[n, classes]}} for split in train, val, test, and with
    `draws` > 0 also {SAMPLED: {'LD': float32[draws, n, d], 'O': float32[draws, n, classes]}}, and with
    `flanked` copies of the training split (`rcl.data.flanks.Flanked.copy`) their deterministic features,
    {FLANKED: {'LD': float32[copies, n, d], 'O': float32[copies, n, classes]}}.
  """
  out: Features = {}
  for name in SPLITS:
    result = predict(state, data.splits[name], batch_size, bucket_lengths=bucket_lengths)
    out[name] = {"LD": result["ld"], "O": result["probs"]}
  if draws > 0:
    result = sample(state, data.splits["train"], train_batch_size, jax.random.key(seed), draws,
                    bucket_lengths=bucket_lengths, seed=seed)
    out[SAMPLED] = {"LD": result["ld"], "O": result["probs"]}
  if flanked:
    copies = [predict(state, copy, batch_size, bucket_lengths=bucket_lengths) for copy in flanked]
    out[FLANKED] = {"LD": np.stack([c["ld"] for c in copies]), "O": np.stack([c["probs"] for c in copies])}
  return out


def save(path: str, features: Features) -> None:
  """Writes the tables to `path` (.npz) as every run output is written (`files.write_npz`: atomically,
  by process 0 alone)."""
  write_npz(path, {f"{split}/{kind}": arr for split, kinds in features.items() for kind, arr in kinds.items()})


def load(path: str) -> Features:
  out: Features = {}
  with np.load(path) as f:
    for key in f.files:
      split, kind = key.split("/")
      out.setdefault(split, {})[kind] = f[key]
  return out
