"""What a checkpoint must share with the run that resumes or reads it, and the check, made before a run
writes anything, that every checkpoint it would resume belongs to it.

An identity names the model and its training by their dataclass fields, each field left out while it
holds its default, so that a new option at its default leaves older runs' identities unchanged, and carries
a version number that changes when the same settings train another model. Version 3 draws noise and dropout
per example (`rcl.models.noise`); checkpoints of earlier versions (version 2, and version 1's repr strings,
which had no number) drew them per device, so a run refuses to resume or reuse them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os

from rcl.config import ExperimentConfig
from rcl.data.dataset import DataSet
from rcl.experiment import fingerprints
from rcl.models import monikers
from rcl.train import checkpoint
from rcl.train.fit_config import FitConfig
from rcl.workdir import CHECKPOINTS, Workdir

VERSION = 3
_CHANGES = {3: "noise and dropout are drawn per example, the same on any number of devices"}
_LINEN_FIELDS = ("parent", "name")  # a Linen module's bookkeeping, not its settings
_FIT_LEFT_OUT = ("epochs", "checkpoint_every")  # a run may be extended, or checkpointed more or less often


def _json(value):
  return [_json(v) for v in value] if isinstance(value, (tuple, list)) else value


def settings(obj, leave_out: tuple[str, ...] = ()) -> dict:
  """The fields of a dataclass (a configuration, a Linen module) that differ from their defaults, by name; a
  field without a default is always named."""
  out = {}
  for f in dataclasses.fields(obj):
    if f.name in leave_out:
      continue
    value = getattr(obj, f.name)
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    if default is dataclasses.MISSING or value != default:
      out[f.name] = _json(value)
  return out


def model_identity(model) -> dict:
  """A Linen module by its class and its settings off their defaults."""
  return {"module": type(model).__name__, **settings(model, _LINEN_FIELDS)}


def fit_identity(fit_config: FitConfig) -> dict:
  """The training settings a resumed run must share with its checkpoint (all but the epoch count and the
  checkpoint interval), those off their defaults."""
  return settings(fit_config, _FIT_LEFT_OUT)


@dataclasses.dataclass(frozen=True)
class Identity:
  """A run's identity.

  Attributes:
    current: what this run writes into its checkpoints, and what a checkpoint it resumes must hold.
  """
  current: dict

  def matches(self, stored: dict | None) -> bool:
    return stored == self.current

  def differences(self, stored: dict | None) -> str:
    """How `stored` differs: an earlier version (and what changed since), or the settings that differ."""
    version = (stored or {}).get("version", 1)
    if stored is not None and version < VERSION:
      changes = "; ".join(_CHANGES[v] for v in range(version + 1, VERSION + 1) if v in _CHANGES)
      return f"it was trained by an earlier rcl (run identity version {version}, now {VERSION}: {changes})"
    return checkpoint.differences(stored or {}, self.current)


def component(data: DataSet, moniker: monikers.Moniker, model, fit_config: FitConfig) -> Identity:
  """A trained component: model, classes, data files (`data_fingerprint`, kept in the data summary by the
  data stage), split and training settings."""
  return Identity({"version": VERSION, "moniker": moniker.name, "model": model_identity(model),
                   "classes": data.classes, "data": data.summary["data_fingerprint"],
                   "split": fingerprints.split_fingerprint(data), "fit": fit_identity(fit_config)})


def sweep(config: ExperimentConfig, data: DataSet, moniker: monikers.Moniker, model, fit_config: FitConfig) -> Identity:
  """The sweep's population: a component's identity with its levels."""
  levels = [float(v) for v in config.sweep.levels]
  return Identity(dict(component(data, moniker, model, fit_config).current, levels=levels))


def collaborative(spec: str, model, data: DataSet, fit_config: FitConfig, tables: dict) -> Identity:
  """A collaborative MLP: its spec, model, classes, split, training settings and the exact input features."""
  inputs, fingerprint = tables["val"].features.shape[1], fingerprints.inputs_fingerprint(tables)
  return Identity({"version": VERSION, "collab": spec, "model": model_identity(model), "classes": data.classes,
                   "split": fingerprints.split_fingerprint(data), "fit": fit_identity(fit_config), "inputs": inputs,
                   "inputs_fingerprint": fingerprint})


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
    wanted[os.path.join(workdir.sweep, CHECKPOINTS)] = ("the sweep", sweep(config, data, moniker, model, fit_config))
  for directory, (name, ident) in wanted.items():
    meta = checkpoint.latest_meta(directory)
    if meta is not None and not ident.matches(meta.get("identity")):
      raise ValueError(f"{directory} holds {name} trained under other settings "
                       f"({ident.differences(meta.get('identity'))}); use a new --workdir or the original settings")


def key(ident: dict) -> str:
  """16 hex digits naming a checkpoint directory after a whole identity."""
  return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
