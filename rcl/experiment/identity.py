"""What a checkpoint must share with the run that resumes or reads it, and the check, made before a run
writes anything, that every checkpoint it would resume belongs to it.

An identity (version 2) names the model and its training by their dataclass fields, each field left out
while it holds its default, so that a new option at its default leaves older runs' identities unchanged.
Checkpoints written before versions existed carry version-1 identities (`rcl.experiment.identity_v1`),
which a run accepts when they describe it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os

from rcl.config import ExperimentConfig
from rcl.data.dataset import DataSet
from rcl.experiment import fingerprints, identity_v1
from rcl.models import monikers
from rcl.train import checkpoint
from rcl.train.fit_config import FitConfig
from rcl.workdir import CHECKPOINTS, Workdir

VERSION = 2
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
  """A run's identity, and the version-1 identity an older checkpoint of the same run carries.

  Attributes:
    current: what this run writes into its checkpoints.
    legacy: what a checkpoint written before identity versions holds for the same run.
  """
  current: dict
  legacy: dict

  def matches(self, stored: dict | None) -> bool:
    return stored == self.current or (stored is not None and "version" not in stored and stored == self.legacy)

  def differences(self, stored: dict | None) -> str:
    """How `stored` differs, compared with the identity of its own version."""
    wanted = self.legacy if stored is not None and "version" not in stored else self.current
    return checkpoint.differences(stored or {}, wanted)


def component(data: DataSet, moniker: monikers.Moniker, model, fit_config: FitConfig) -> Identity:
  """A trained component: model, classes, data files (`data_fingerprint`, kept in the data summary by the
  data stage), split and training settings."""
  return Identity({"version": VERSION, "moniker": moniker.name, "model": model_identity(model),
                   "classes": data.classes, "data": data.summary["data_fingerprint"],
                   "split": fingerprints.split_fingerprint(data), "fit": fit_identity(fit_config)},
                  identity_v1.component(data, moniker, model, fit_config))


def sweep(config: ExperimentConfig, data: DataSet, moniker: monikers.Moniker, model, fit_config: FitConfig) -> Identity:
  """The sweep's population: a component's identity with its levels and member seeds."""
  members = {"levels": [float(v) for v in config.sweep.levels], "seeds": [fit_config.seed] * len(config.sweep.levels)}
  one = component(data, moniker, model, fit_config)
  return Identity(dict(one.current, **members), identity_v1.sweep(config, data, moniker, model, fit_config))


def collaborative(spec: str, model, data: DataSet, fit_config: FitConfig, tables: dict) -> Identity:
  """A collaborative MLP: its spec, model, classes, split, training settings and the exact input features."""
  inputs, fingerprint = tables["val"].features.shape[1], fingerprints.inputs_fingerprint(tables)
  return Identity({"version": VERSION, "collab": spec, "model": model_identity(model), "classes": data.classes,
                   "split": fingerprints.split_fingerprint(data), "fit": fit_identity(fit_config), "inputs": inputs,
                   "inputs_fingerprint": fingerprint},
                  identity_v1.collaborative(spec, model, data, fit_config, inputs, fingerprint))


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
