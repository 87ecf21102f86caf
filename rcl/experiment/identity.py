"""What a checkpoint must share with the run that resumes or reads it, and the check, made before a
run writes anything, that every checkpoint it would resume belongs to it."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os

import numpy as np

from rcl.workdir import CHECKPOINTS, Workdir
from rcl.config import ExperimentConfig
from rcl.data.dataset import SPLITS, DataSet
from rcl.models import monikers
from rcl.train import checkpoint
from rcl.train.fit_config import FitConfig

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


def fit_identity(fit_config: FitConfig) -> str:
  """What a resumed run must share with its checkpoint: everything but the epoch count (runs may be
  extended). Settings at their defaults are left out, so a new option does not orphan older runs."""
  fields = [f for f in dataclasses.fields(fit_config) if f.name not in ("epochs", "checkpoint_every")]
  return "FitConfig(" + ", ".join(f"{f.name}={getattr(fit_config, f.name)!r}" for f in fields
                                  if getattr(fit_config, f.name) != f.default) + ")"


# Module settings added after checkpoints existed, at the value every older run had: left out of the
# identity, so that those checkpoints stay the same model's.
_ADDED_AT_OLD_VALUE = ("dtype = 'float32'", "head = 'flatten'", "head_width = 8")


def model_identity(model) -> str:
  """The module's settings as its repr, less settings added later at their old value (`_ADDED_AT_OLD_VALUE`)."""
  return "\n".join(line for line in repr(model).splitlines() if line.strip() not in _ADDED_AT_OLD_VALUE)


def component(data: DataSet, moniker: monikers.Moniker, model, fit_config: FitConfig) -> dict:
  """The identity of a trained component: model, classes, data files (`data_fingerprint`, kept in the
  data summary by the data stage), split and training settings."""
  return {"moniker": moniker.name, "model": model_identity(model), "classes": data.classes,
          "data": data.summary["data_fingerprint"],
          "split": split_fingerprint(data), "fit": fit_identity(fit_config)}


def sweep(config: ExperimentConfig, data: DataSet, moniker: monikers.Moniker, model, fit_config: FitConfig) -> dict:
  """The identity of the sweep's population: a component's, with its levels and member seeds."""
  return dict(component(data, moniker, model, fit_config),
              levels=[float(v) for v in config.sweep.levels], seeds=[fit_config.seed] * len(config.sweep.levels))


def check_workdir(config: ExperimentConfig, data: DataSet) -> None:
  """Raises ValueError, before anything is written, when `config.workdir` holds a checkpoint of a
  component or sweep of the same name trained under other settings, naming the settings that differ."""
  wanted, workdir = {}, Workdir(config.workdir)
  for moniker in monikers.parse_monikers(config.models):
    model = monikers.build(moniker, len(data.classes), config.hyper)
    wanted[workdir.model_file(moniker.name, CHECKPOINTS)] = (
        moniker.name, component(data, moniker, model, config.fit_for(moniker.arch)))
  if config.sweep.model:
    moniker = monikers.MONIKERS[config.sweep.model]
    model = monikers.build(moniker, len(data.classes), config.hyper)
    fit_config = config.fit_for(moniker.arch, config.sweep.epochs)
    wanted[os.path.join(workdir.sweep, CHECKPOINTS)] = (
        "the sweep", sweep(config, data, moniker, model, fit_config))
  for directory, (name, ident) in wanted.items():
    meta = checkpoint.latest_meta(directory)
    if meta is not None and meta.get("identity") != ident:
      raise ValueError(f"{directory} holds {name} trained under other settings "
                       f"({checkpoint.differences(meta.get('identity') or {}, ident)}); use a new --workdir or "
                       f"the original settings")


def key(identity: dict) -> str:
  """16 hex digits naming a checkpoint directory after a whole identity."""
  return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
