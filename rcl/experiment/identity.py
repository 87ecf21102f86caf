"""What a checkpoint must share with the run that resumes or reads it: fingerprints of data and settings."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np

from rcl.data.dataset import SPLITS, DataSet
from rcl.train.loop import FitConfig


def split_fingerprint(data: DataSet) -> str:
  """16 hex digits identifying the exact train/val/test split (ids and sequences, in order)."""
  h = hashlib.sha256()
  for name in SPLITS:
    split = data.splits[name]
    h.update(name.encode())
    for rid, seq in zip(split.ids, split.sequences):
      h.update(f"{rid}\t{seq}\n".encode())
  return h.hexdigest()[:16]


def inputs_fingerprint(tables: dict) -> str:
  """Identifies the exact feature tables a collaborative MLP learns from (all splits, bit for bit)."""
  h = hashlib.sha256()
  for name in SPLITS:
    h.update(name.encode())
    h.update(np.ascontiguousarray(tables[name].features).tobytes())
    h.update(np.ascontiguousarray(tables[name].labels).tobytes())
  return h.hexdigest()[:16]


def fit_identity(fit_config: FitConfig) -> str:
  """What a resumed run must share with its checkpoint: everything but the epoch count (runs may be
  extended). Settings at their defaults are left out, so a new option does not orphan older runs."""
  fields = [f for f in dataclasses.fields(fit_config) if f.name not in ("epochs", "checkpoint_every")]
  return "FitConfig(" + ", ".join(f"{f.name}={getattr(fit_config, f.name)!r}" for f in fields
                                  if getattr(fit_config, f.name) != f.default) + ")"


def key(identity: dict) -> str:
  """16 hex digits naming a checkpoint directory after a whole identity."""
  return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
