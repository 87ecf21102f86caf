"""Fingerprints of what a run learns from: the data files' contents, the exact split, a collaborative
model's input features."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np

from rcl.config import ExperimentConfig
from rcl.data.dataset import SPLITS, DataSet

FILE_ROLES = ("files", "train_files", "val_files", "test_files")


def split_fingerprint(data: DataSet) -> str:
  """16 hex digits identifying the exact train/val/test split (ids and sequences, in order)."""
  h = hashlib.sha256()
  for name in SPLITS:
    split = data.splits[name]
    h.update(name.encode())
    for rid, seq in zip(split.ids, split.sequences):
      h.update(f"{rid}\t{seq}\n".encode())
  return h.hexdigest()[:16]


def data_fingerprint(config: ExperimentConfig) -> str:
  """16 hex digits of the sha256 of the data files' contents (decompressed, in their roles and order), so
  an edited label or record changes it while moving or re-compressing a file does not."""
  h = hashlib.sha256()
  for role in FILE_ROLES:
    for path in getattr(config.data, role):
      h.update(f"{role}\n".encode())
      with open(path, "rb") as probe:
        gz = probe.read(2) == b"\x1f\x8b"
      with (gzip.open if gz else open)(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
          h.update(chunk)
  return h.hexdigest()[:16]


def inputs_fingerprint(tables: dict) -> str:
  """Identifies the exact feature tables a collaborative MLP learns from (all splits, bit for bit)."""
  h = hashlib.sha256()
  for name in SPLITS:
    h.update(name.encode())
    h.update(np.ascontiguousarray(tables[name].features).tobytes())
    h.update(np.ascontiguousarray(tables[name].labels).tobytes())
  return h.hexdigest()[:16]
