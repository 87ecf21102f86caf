"""The collaborative stage (Table 2): each MLP on combined component features, its plain ensemble, and
the paired tests that say whether collaboration beat them."""

from __future__ import annotations

import os

import jax
import numpy as np

from rcl.analysis import significance
from rcl.collab import combine, ensemble, features
from rcl.collab.features import Features
from rcl.config import ExperimentConfig
from rcl.data.dataset import SPLITS, DataSet
from rcl.experiment import identity, scoring, training
from rcl.experiment.progress import EpochLog, Log
from rcl.models import monikers
from rcl.results import ModelResult
from rcl.train.predict import predict
from rcl.train.state import TrainState
from rcl.workdir import CHECKPOINTS, Workdir


def train_collaborative(config: ExperimentConfig, data: DataSet, spec: str, component_features: dict[str, Features],
                        *, log: Log, on_epoch: EpochLog | None = None
                        ) -> tuple[ModelResult, dict[str, np.ndarray], tuple[TrainState, np.ndarray, np.ndarray]]:
  """Trains the collaborative MLP on the named component features (train), selects on validation,
  evaluates once on test; returns its results entry, its val/test probabilities and (selected state,
  feature mean, feature std), what predicts on new component outputs (`combine.predict_collaborative`)."""
  settings = config.collab
  labels = {n: data.splits[n].labels for n in SPLITS}
  train_from = features.SAMPLED if settings.train_features == "sampled" else "train"
  flanked = settings.flank_copies > 0
  tables = combine.combine(spec, component_features, labels, train_from=train_from, flanked=flanked)
  model = monikers.build_collaborative(len(data.classes), settings.dense, config.hyper, settings.input_noise)
  fit_config = config.fit_for(None)
  ident = identity.collaborative(spec, model, data, fit_config, tables)
  inputs = ident.current["inputs_fingerprint"]
  # Its checkpoints are keyed by its identity, input features included: a component retrained or extended
  # to a new selected epoch gives new features, other MLP settings a new identity, and so a fresh MLP,
  # while the old one's checkpoints stay on disk.
  checkpoints = Workdir(config.workdir).model_file(spec, CHECKPOINTS)
  key = identity.key(ident.current)
  draws = (f", {tables['train'].features.shape[0]} training-mode draws (one per epoch)"
           if tables["train"].features.ndim == 3 else
           f" (in-sample, with {settings.flank_copies} flanked cop{'y' if settings.flank_copies == 1 else 'ies'})"
           if flanked else " (in-sample)")
  log(f"[{spec}] collaborative MLP on {tables['val'].features.shape[1]} features of {len(tables['train'])} "
      f"training sequences{draws}, inputs {inputs}, {fit_config.epochs} epochs")
  checkpoint_dir = os.path.join(checkpoints, key)
  result, record = training.train(config, spec, model, tables["train"], tables["val"], fit_config, ident,
                                 checkpoint_dir=checkpoint_dir, on_epoch=on_epoch)
  probs = {n: predict(result.state, tables[n], fit_config.eval_batch_size)["probs"] for n in ("val", "test")}
  about = {"features": spec, "train_features": settings.train_features, "flank_copies": settings.flank_copies,
           "input_noise": settings.input_noise, "inputs_fingerprint": inputs, "checkpoint_key": key}
  scores = scoring.score(config.workdir, config.seed, spec, probs, data, (result.history, result.selected_epoch))
  entry = ModelResult("collaborative MLP", scores, record, about)
  log(f"[{spec}] selected epoch {result.selected_epoch}: val acc {entry.accuracy('val'):.4f}, "
      f"test acc {entry.accuracy():.4f}")
  mean, std = combine.standardisation(combine.training_rows(spec, component_features, train_from, flanked))
  return entry, probs, (jax.device_get(result.state), mean, std)


def evaluate_ensemble(config: ExperimentConfig, data: DataSet, spec: str,
                      component_features: dict[str, Features]) -> tuple[ModelResult, dict[str, np.ndarray]]:
  """The baseline of a collaborative spec: its components' averaged softmax outputs, nothing trained."""
  names = ensemble.members(spec)
  probs = {n: ensemble.average(names, component_features, n) for n in ("val", "test")}
  scores = scoring.score(config.workdir, config.seed, ensemble.name(spec), probs, data)
  return ModelResult("mean of softmax outputs (no training)", scores, about={"members": names}), probs


def compare(seed: int, spec: str, components: dict[str, ModelResult], correct: dict[str, np.ndarray]) -> dict:
  """Paired test-set comparisons of a collaborative model with each of its components and its ensemble.

  The best component is the one with the highest validation accuracy (never chosen on the test set).
  Per rival: the exact McNemar test and a paired bootstrap interval (seeded by `seed`) of the accuracy
  difference. `correct` maps every model name to bool[n_test] correctness.
  """
  names = ensemble.members(spec)
  best = max(names, key=lambda m: components[m].accuracy("val"))
  out = {"best_component": best, "ensemble": ensemble.name(spec), "rivals": {}}
  for rival in names + [ensemble.name(spec)]:
    out["rivals"][rival] = {
        "mcnemar": significance.mcnemar_exact(correct[spec], correct[rival]),
        "accuracy_difference": significance.bootstrap_accuracy(correct[spec], baseline=correct[rival], seed=seed)}
  return out


def stage(config: ExperimentConfig, data: DataSet, component_features: dict[str, Features],
          components: dict[str, ModelResult], *, log: Log, on_epoch: EpochLog | None = None
          ) -> tuple[dict[str, dict[str, ModelResult]], dict]:
  """Every collaborative spec of the run with its ensemble baseline and comparisons:
  ({'ensembles': {name: entry}, 'collaborative': {spec: entry}}, {spec: (state, feature mean, std)})."""
  test_labels = data.splits["test"].labels
  correct = {m: f["test"]["O"].argmax(-1) == test_labels for m, f in component_features.items()}
  out: dict[str, dict[str, ModelResult]] = {"ensembles": {}, "collaborative": {}}
  models = {}
  for spec in config.collab.specs:
    entry, probs, models[spec] = train_collaborative(config, data, spec, component_features, log=log,
                                                     on_epoch=on_epoch)
    rows = {"ensembles": (ensemble.name(spec), evaluate_ensemble(config, data, spec, component_features)),
            "collaborative": (spec, (entry, probs))}
    for section, (name, (entry, probs)) in rows.items():
      out[section][name] = entry
      correct[name] = probs["test"].argmax(-1) == test_labels
    cmp = out["collaborative"][spec].comparison = compare(config.seed, spec, components, correct)
    rivals = ", ".join(f"{r} {(out['ensembles'] if r == cmp['ensemble'] else components)[r].accuracy():.4f} "
                       f"(McNemar p {c['mcnemar']['p_value']:.3g})" for r, c in cmp["rivals"].items())
    log(f"[{spec}] test acc {out['collaborative'][spec].accuracy():.4f} against {rivals}")
  return out, models
