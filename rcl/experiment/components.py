"""The components stage: train (or reuse) each component of Table 1, extract its features, evaluate it."""

from __future__ import annotations

import os

import jax

from rcl.collab import features
from rcl.collab.features import Features
from rcl.config import ExperimentConfig
from rcl.data import flanks
from rcl.data.dataset import DataSet
from rcl.experiment import identity, scoring, training
from rcl.experiment.progress import EpochLog, Log
from rcl.models import monikers
from rcl.results import ModelResult
from rcl.train import checkpoint
from rcl.train.state import TrainState, apply_of
from rcl.workdir import CHECKPOINTS, FEATURES, Workdir


def train_component(config: ExperimentConfig, data: DataSet, moniker: monikers.Moniker, *, log: Log,
                    on_epoch: EpochLog | None = None) -> tuple[ModelResult, Features, TrainState]:
  """Trains and selects one component, extracts its LD/O features from the selected model (saved as
  models/<moniker>/features.npz) and scores it; returns (its results entry, features, selected state on the
  host)."""
  model = monikers.build(moniker, len(data.classes), config.hyper)
  fit_config = config.fit_for(moniker.arch)
  ident = identity.component(data, moniker, model, fit_config)
  method = monikers.describe(moniker, config.hyper)
  log(f"[{moniker.name}] {method}: {fit_config.epochs} epochs, train {len(data.splits['train'])}, "
      f"val {len(data.splits['val'])}")
  checkpoint_dir = _checkpoint_dir(config, moniker.name, ident, fit_config.epochs, log)
  result, record = training.train(config, moniker.name, model, data.splits["train"], data.splits["val"], fit_config,
                                 ident, checkpoint_dir=checkpoint_dir, on_epoch=on_epoch)
  draws = config.collab.draws if config.collab.specs and config.collab.train_features == "sampled" else 0
  selected = jax.device_get(result.state).replace(apply_fn=apply_of(model))  # on the host, outside any device mesh
  feats = features.extract(selected, data, bucket_lengths=fit_config.bucket_lengths,
                           batch_size=fit_config.eval_batch_size, draws=draws,
                           train_batch_size=fit_config.batch_size, seed=config.seed_of("collab"),
                           flanked=_flanked_copies(config, data, moniker))
  features.save(Workdir(config.workdir).model_file(moniker.name, FEATURES), feats)
  scores = scoring.score(config.workdir, config.seed, moniker.name, {n: feats[n]["O"] for n in ("val", "test")},
                         data, (result.history, result.selected_epoch))
  entry = ModelResult(method, scores, record, {"arch": moniker.arch, "inputs": moniker.input_kind})
  log(f"[{moniker.name}] selected epoch {result.selected_epoch}: val acc {entry.accuracy('val'):.4f}, "
      f"test acc {entry.accuracy():.4f}")
  return entry, feats, selected


def _flanked_copies(config: ExperimentConfig, data: DataSet, moniker: monikers.Moniker) -> list:
  """The flanked copies of the training split whose features the collaborative MLPs also learn from
  (`--collab_flank_copies`; the same copies for every component, flanked as the family with the larger
  flanked share trains)."""
  copies = config.collab.flank_copies if config.collab.specs else 0
  if copies and moniker.input_kind != "seq":
    raise ValueError(f"--collab_flank_copies: component {moniker.name} reads structure, which flanks would change; "
                     "use sequence-only components")
  augmentation = max((config.cnn, config.rnn), key=lambda f: f.augment_flanks).augmentation()
  augmented = flanks.Flanked(data.splits["train"], augmentation, config.seed_of("collab")) if copies else None
  return [augmented.copy(k) for k in range(copies)]


def _checkpoint_dir(config: ExperimentConfig, name: str, ident: identity.Identity, epochs: int, log: Log) -> str:
  """Where a component is read from or trained into: `config.components_from`'s checkpoints when they
  hold this very component (same identity: model, classes, split, training settings) trained for exactly
  `epochs` epochs, read only; otherwise this workdir's own."""
  own = Workdir(config.workdir).model_file(name, CHECKPOINTS)
  if not config.components_from:
    return own
  other = Workdir(config.components_from).model_file(name, CHECKPOINTS)
  meta = checkpoint.latest_meta(other)
  if meta is not None and ident.matches(meta.get("identity")) and meta.get("epoch") == epochs:
    log(f"[{name}] reusing the trained component in {other} (same model, data split and training settings)")
    return other
  why = ("nothing trained there" if meta is None else
         f"trained for {meta.get('epoch')} epochs, not {epochs}" if ident.matches(meta.get("identity")) else
         "a different model, data split or training settings")
  log(f"[{name}] not reusing {other}: {why}; training it here")
  return own
