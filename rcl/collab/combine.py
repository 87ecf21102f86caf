"""Collaborative inputs named as in the paper ('LD(A)+LD(E)'): parsed, concatenated and standardised."""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from rcl.collab.features import FLANKED, Features
from rcl.data.dataset import SPLITS
from rcl.train.predict import predict

_TERM = re.compile(r"^(LD|O)\(([A-G])\)$")


def parse(spec: str) -> list[tuple[str, str]]:
  """'LD(A)+LD(E)+O(A)' -> [('LD', 'A'), ('LD', 'E'), ('O', 'A')]; ValueError on anything else."""
  terms = [t.strip() for t in spec.split("+")]
  out = []
  for term in terms:
    match = _TERM.match(term)
    if not match:
      raise ValueError(f"bad collaborative term {term!r} in {spec!r}: expected LD(X) or O(X), X a moniker A-G")
    out.append((match.group(1), match.group(2)))
  if len(set(out)) != len(out):
    raise ValueError(f"{spec!r} names a feature twice")
  return out


def components(specs: list[str]) -> list[str]:
  """Monikers needed by the specs, in first-use order."""
  seen: list[str] = []
  for spec in specs:
    for _, moniker in parse(spec):
      if moniker not in seen:
        seen.append(moniker)
  return seen


@dataclasses.dataclass
class FeatureTable:
  """A split's combined features, batchable like a sequence split.

  Attributes:
    features: float32[n, d], or float32[draws, n, d] for training-mode draws of a training split, of
      which epoch e serves draw e % draws (fresh noise every epoch, at the cost of one pass); standardised
      with the training table's mean and standard deviation.
    labels: int32[n].
  """
  features: np.ndarray
  labels: np.ndarray

  def __len__(self) -> int:
    return len(self.labels)

  def columns(self, epoch: int = 0) -> dict[str, np.ndarray]:
    features = self.features if self.features.ndim == 2 else self.features[epoch % len(self.features)]
    return {"features": features, "label": self.labels}


def training_rows(spec: str, features: dict[str, Features], train_from: str = "train",
                  flanked: bool = False) -> np.ndarray:
  """The unstandardised training table: `train_from`'s features ([n, d], or [draws, n, d]), followed, with
  `flanked`, by the rows of every flanked copy (features.FLANKED: [copies, n, d] -> [copies x n, d])."""
  raw = raw_features(spec, {m: features[m][train_from] for _, m in parse(spec)})
  if not flanked:
    return raw
  if raw.ndim != 2:
    raise ValueError("flanked copies go with in-sample training features, not training-mode draws")
  copies = raw_features(spec, {m: features[m][FLANKED] for _, m in parse(spec)})
  return np.concatenate([raw, copies.reshape(-1, copies.shape[-1])])


def combine(spec: str, features: dict[str, Features], labels: dict[str, np.ndarray], *,
            train_from: str = "train", flanked: bool = False) -> dict[str, FeatureTable]:
  """Concatenates the named features per split and standardises every column on the training table.

  Args:
    spec: e.g. 'LD(A)+LD(E)'.
    features: moniker -> {split -> {'LD'|'O' -> float32[n, d]}}, and optionally
      {features.SAMPLED -> {'LD'|'O' -> float32[draws, n, d]}} (training-mode draws of the training split).
    labels: split -> int32[n].
    train_from: 'train' (the paper: deterministic features of the training split) or
      features.SAMPLED (a table of draws: each epoch of training sees the next draw).
    flanked: also learn from the features of flanked copies of the training split (`training_rows`).
  """
  terms = parse(spec)
  missing = sorted({m for _, m in terms} - set(features))
  if missing:
    raise ValueError(f"{spec!r} needs component(s) {missing}, which were not trained in this run")
  raw = {name: raw_features(spec, {m: features[m][name] for _, m in terms}) for name in ("val", "test")}
  raw["train"] = training_rows(spec, features, train_from, flanked)
  mean, std = standardisation(raw["train"])
  copies = len(raw["train"]) // len(labels["train"]) if raw["train"].ndim == 2 else 1
  labels = dict(labels, train=np.tile(labels["train"], copies))
  return {name: FeatureTable((raw[name] - mean) / std, labels[name]) for name in SPLITS}


def standardisation(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Per-column mean and standard deviation (float32[d] each) of a training table float32[n, d] (or
  [draws, n, d]: every draw of every row); a dead column gets std 1, so it stays zero."""
  pooled = train.reshape(-1, train.shape[-1])
  std = pooled.std(0)
  return pooled.mean(0), np.where(std > 1e-6, std, 1.0)


def raw_features(spec: str, features: dict[str, dict[str, np.ndarray]]) -> np.ndarray:
  """The unstandardised combined features of one split: `features` maps moniker -> kind -> float32[n, d]
  (or [draws, n, d])."""
  return np.concatenate([features[m][kind] for kind, m in parse(spec)], axis=-1).astype(np.float32)


def predict_collaborative(spec: str, outputs: dict[str, dict[str, np.ndarray]], state, mean: np.ndarray,
                          std: np.ndarray, batch_size: int = 256) -> dict[str, np.ndarray]:
  """A trained collaborative MLP on new sequences, from its components' outputs there (`outputs`: moniker ->
  {'ld': float32[n, d], 'probs': float32[n, classes]}, as `rcl.train.predict.predict` returns them) and the
  training features' standardisation (`mean`, `std`): 'probs' and 'logits' float32[n, classes], 'ld', and
  'features' float32[n, d_in], the standardised combined input."""
  raw = raw_features(spec, {m: {"LD": o["ld"], "O": o["probs"]} for m, o in outputs.items()})
  features = (raw - mean) / std
  return {**predict(state, FeatureTable(features, np.zeros(len(raw), np.int32)), batch_size), "features": features}
