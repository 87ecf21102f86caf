"""Run identities as written before identity version 2 (repr strings of the model and the training
settings), accepted where a checkpoint carries one so that older workdirs resume: `rcl.experiment.identity`
compares a checkpoint without a version with these. Nothing writes them any more."""

from __future__ import annotations

import dataclasses

from rcl.config import ExperimentConfig
from rcl.data.dataset import DataSet
from rcl.experiment import fingerprints
from rcl.models import monikers
from rcl.train.fit_config import FitConfig


def fit_settings(fit_config: FitConfig) -> str:
  """What a resumed run must share with its checkpoint: everything but the epoch count (runs may be
  extended). Settings at their defaults are left out, so a new option does not orphan older runs."""
  fields = [f for f in dataclasses.fields(fit_config) if f.name not in ("epochs", "checkpoint_every")]
  return "FitConfig(" + ", ".join(f"{f.name}={getattr(fit_config, f.name)!r}" for f in fields
                                  if getattr(fit_config, f.name) != f.default) + ")"


# Module settings added after checkpoints existed, at the value every older run had: left out of the
# identity, so that those checkpoints stay the same model's.
_ADDED_AT_OLD_VALUE = ("dtype = 'float32'", "head = 'flatten'", "head_width = 8")


def model_settings(model) -> str:
  """The module's settings as its repr, less settings added later at their old value (`_ADDED_AT_OLD_VALUE`)."""
  return "\n".join(line for line in repr(model).splitlines() if line.strip() not in _ADDED_AT_OLD_VALUE)


def component(data: DataSet, moniker: monikers.Moniker, model, fit_config: FitConfig) -> dict:
  """A component's version-1 identity."""
  return {"moniker": moniker.name, "model": model_settings(model), "classes": data.classes,
          "data": data.summary["data_fingerprint"],
          "split": fingerprints.split_fingerprint(data), "fit": fit_settings(fit_config)}


def sweep(config: ExperimentConfig, data: DataSet, moniker: monikers.Moniker, model, fit_config: FitConfig) -> dict:
  """The sweep's version-1 identity."""
  return dict(component(data, moniker, model, fit_config),
              levels=[float(v) for v in config.sweep.levels], seeds=[fit_config.seed] * len(config.sweep.levels))


def collaborative(spec: str, model, data: DataSet, fit_config: FitConfig, inputs: int, fingerprint: str) -> dict:
  """A collaborative MLP's version-1 identity."""
  return {"collab": spec, "model": repr(model), "classes": data.classes,
          "split": fingerprints.split_fingerprint(data), "fit": fit_settings(fit_config), "inputs": inputs,
          "inputs_fingerprint": fingerprint}
