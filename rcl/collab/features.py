"""Deterministic component features from Orbax checkpoints: LD (last dense layer) and O (softmax output)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import numpy as np

from rcl.data.batching import batches
from rcl.data.dataset import SPLITS, DataSet
from rcl.train.checkpoint import restore_selected
from rcl.train.predict import predict, sample
from rcl.train.state import create_state

FEATURE_KINDS = ("LD", "O")
SAMPLED = "train_sampled"  # training-mode draws of the training split: kind -> float32[draws, n, d]
Features = dict[str, dict[str, np.ndarray]]  # split (or SAMPLED) -> kind -> float32[n, d]


def extract(model: nn.Module, checkpoint_dir: str, identity: dict, data: DataSet, *,
            bucket_lengths: Sequence[int] | None = None, batch_size: int = 256, draws: int = 0,
            train_batch_size: int = 64, seed: int = 0) -> Features:
  """Restores the selected ('best') checkpoint of a component and computes its features on every split.

  Noise and dropout are off, except in the `draws` training-mode passes over the training split
  (`predict.sample`: noise, dropout and BatchNorm batch statistics as in training, batches of
  `train_batch_size`, keys from `seed`), which show the collaborative model component features as
  unsure as they are on sequences a component has not learned by heart. Raises FileNotFoundError when
  there is no checkpoint, and ValueError when the checkpoint was trained on another class vocabulary or
  data split than `identity` describes.

  Returns:
    {split: {'LD': float32[n, d], 'O': float32[n, classes]}} for split in train, val, test, and with
    `draws` > 0 also {SAMPLED: {'LD': float32[draws, n, d], 'O': float32[draws, n, classes]}}.
  """
  example = next(batches(data.splits["train"], 2, bucket_lengths=bucket_lengths))
  example.pop("index")
  try:
    state, meta = restore_selected(checkpoint_dir, create_state(model, example, jax.random.key(0)))
  except FileNotFoundError as e:
    raise FileNotFoundError(f"{e} ({identity.get('moniker', 'component')})") from None
  saved = meta.get("identity", {})
  if saved.get("classes") != identity.get("classes"):
    raise ValueError(f"{checkpoint_dir} was trained on a different class vocabulary "
                     f"({len(saved.get('classes') or [])} classes vs {len(identity.get('classes') or [])})")
  if saved.get("split") != identity.get("split"):
    raise ValueError(f"{checkpoint_dir} was trained on a different data split "
                     f"(fingerprint {saved.get('split')} vs {identity.get('split')})")
  if saved.get("model") != identity.get("model"):
    raise ValueError(f"{checkpoint_dir} holds a different model configuration than requested")
  out: Features = {}
  for name in SPLITS:
    result = predict(state, data.splits[name], batch_size, bucket_lengths=bucket_lengths)
    out[name] = {"LD": result["ld"], "O": result["probs"]}
  if draws > 0:
    result = sample(state, data.splits["train"], train_batch_size, jax.random.key(seed), draws,
                    bucket_lengths=bucket_lengths, seed=seed)
    out[SAMPLED] = {"LD": result["ld"], "O": result["probs"]}
  return out


def save(path: str, features: Features) -> None:
  np.savez(path, **{f"{split}/{kind}": arr for split, kinds in features.items() for kind, arr in kinds.items()})


def load(path: str) -> Features:
  out: Features = {}
  with np.load(path) as f:
    for key in f.files:
      split, kind = key.split("/")
      out.setdefault(split, {})[kind] = f[key]
  return out
