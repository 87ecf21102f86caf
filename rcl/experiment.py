"""One experiment end to end: load data, train the chosen component models, evaluate, write results."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Sequence

import jax
import numpy as np

from rcl.analysis import joint, stability
from rcl.analysis.metrics import class_report, classification_metrics
from rcl.collab import combine, features
from rcl.collab.features import Features
from rcl.data.dataset import SPLITS, DataSet, load_dataset
from rcl.data.structure import attach_structures, fold_all
from rcl.models import monikers
from rcl.models.mlp import CollabMLP
from rcl import feature_study, sweep
from rcl.report import markdown, provenance
from rcl.report.scalars import ScalarLog
from rcl.train import sharding
from rcl.train.loop import FitConfig, fit
from rcl.train.predict import predict

Log = Callable[[str], None]
EpochLog = Callable[[str, int, int, dict], None]
FoldLog = Callable[[int, int], None]


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
  """Everything that defines a run; written to `workdir/config.json`.

  Attributes:
    workdir: output directory (config, vocabulary, histories, checkpoints, results.json, report.md).
    files: FASTA files merged and split `fractions` (Test13 protocol); or use the explicit files.
    train_files, val_files, test_files: explicit splits (Test88 protocol).
    dataset: a name for the report ("Test13", "Test88" or anything).
    seed: seeds the split, initialisation, shuffles and noise.
    max_len: sequences are padded or cut to this length.
    models: component monikers to train (A-G).
    hyper: architecture hyper-parameters (regularisation level lambda and widths).
    cnn_epochs, rnn_epochs: epochs per architecture (paper: 500 and 220).
    cnn_ema_decay, rnn_ema_decay: per architecture, > 0 evaluates and keeps a moving average of the
      parameters with this per-step decay (FitConfig.ema_decay); 0 is the paper's way (raw parameters).
    cnn_clip_norm, rnn_clip_norm: per architecture, > 0 clips gradients to this global norm
      (FitConfig.clip_norm); 0 is the paper's way.
    batch_size, eval_batch_size, learning_rate, checkpoint_every, selection: see FitConfig.
    rnn_buckets: padded lengths for the RNN's length bucketing (empty: pad to max_len).
    on_conflict: what to do with a sequence carrying two labels ("drop", "first", "error").
    data_parallel: split each batch over all local devices.
    structure_cache: directory caching ViennaRNA structures (None: no cache).
    fold_workers: folding processes (0: one per CPU).
    burn_in: epochs left out of the joint learning coefficient (eq. 1).
    collab: collaborative models named as in the paper's Table 2, e.g. ("LD(A)+LD(E)",).
    collab_epochs: epochs of each collaborative MLP.
    collab_dense: hidden widths of the collaborative MLP.
    sweep_model: moniker trained at every level of `sweep_levels` as one population (Fig. 3-4); None: no sweep.
    sweep_levels: the regularisation levels lambda of the sweep.
    sweep_epochs: epochs of the sweep.
    cca_pair: the two components whose validation LD features are compared (Sec. 4, Fig. 5).
    cca_trials: Monte Carlo trials per rho for the CCA calibration; 0 skips the feature analysis.
    cca_rhos: points of the rho grid in [0, 1].
  """
  workdir: str
  files: Sequence[str] = ()
  train_files: Sequence[str] = ()
  val_files: Sequence[str] = ()
  test_files: Sequence[str] = ()
  dataset: str = "Test13"
  seed: int = 0
  max_len: int = 1000
  fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
  models: Sequence[str] = ("A",)
  hyper: monikers.Hyper = monikers.Hyper()
  cnn_epochs: int = 500
  rnn_epochs: int = 220
  cnn_ema_decay: float = 0.0
  rnn_ema_decay: float = 0.0
  cnn_clip_norm: float = 0.0
  rnn_clip_norm: float = 0.0
  batch_size: int = 64
  eval_batch_size: int = 256
  learning_rate: float = 1e-3
  checkpoint_every: int = 1
  selection: str = "best_val_accuracy"
  rnn_buckets: Sequence[int] = (48, 64, 80, 96, 112, 128, 144, 160, 192, 224, 256, 320, 384, 512, 768, 1000)
  on_conflict: str = "drop"
  data_parallel: bool = False
  structure_cache: str | None = None
  fold_workers: int = 0
  burn_in: int = 10
  collab: Sequence[str] = ()
  collab_epochs: int = 100
  collab_dense: Sequence[int] = (128, 64)
  sweep_model: str | None = None
  sweep_levels: Sequence[float] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8)
  sweep_epochs: int = 500
  cca_pair: Sequence[str] = ("A", "E")
  cca_trials: int = 0
  cca_rhos: int = 21


def _split_fingerprint(data: DataSet) -> str:
  h = hashlib.sha256()
  for name in ("train", "val", "test"):
    split = data.splits[name]
    h.update(name.encode())
    for rid, seq in zip(split.ids, split.sequences):
      h.update(f"{rid}\t{seq}\n".encode())
  return h.hexdigest()[:16]


def _inputs_fingerprint(tables: dict) -> str:
  """Identifies the exact feature tables a collaborative MLP learns from (all splits, bit for bit)."""
  h = hashlib.sha256()
  for name in SPLITS:
    h.update(name.encode())
    h.update(np.ascontiguousarray(tables[name].features).tobytes())
    h.update(np.ascontiguousarray(tables[name].labels).tobytes())
  return h.hexdigest()[:16]


def _write_json(path: str, obj) -> None:
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(obj, f, indent=1)
  os.replace(tmp, path)


def _bucket_lengths(config: ExperimentConfig, arch: str) -> tuple[int, ...] | None:
  if arch != "rnn" or not config.rnn_buckets:
    return None
  return tuple(b for b in sorted(config.rnn_buckets) if b < config.max_len) + (config.max_len,)


def _fit_config(config: ExperimentConfig, epochs: int, bucket_lengths, arch: str | None = None) -> FitConfig:
  """Training settings; `arch` ('cnn' or 'rnn') adds that architecture's averaging and clipping."""
  per_arch = {"ema_decay": _per_arch(config, "ema_decay", arch), "clip_norm": _per_arch(config, "clip_norm", arch)
              } if arch else {}
  return FitConfig(epochs=epochs, batch_size=config.batch_size, eval_batch_size=config.eval_batch_size,
                   learning_rate=config.learning_rate, checkpoint_every=config.checkpoint_every,
                   selection=config.selection, seed=config.seed, bucket_lengths=bucket_lengths, **per_arch)


def _per_arch(config: ExperimentConfig, setting: str, arch: str):
  """config.cnn_<setting> or config.rnn_<setting>."""
  return getattr(config, f"{arch}_{setting}")


def _fit_identity(fit_config: FitConfig) -> str:
  """What a resumed run must share with its checkpoint: everything but the epoch count (runs may be
  extended). Settings at their defaults are left out, so a new option does not orphan older runs."""
  fields = [f for f in dataclasses.fields(fit_config) if f.name not in ("epochs", "checkpoint_every")]
  return "FitConfig(" + ", ".join(f"{f.name}={getattr(fit_config, f.name)!r}" for f in fields
                                  if getattr(fit_config, f.name) != f.default) + ")"


def _evaluate(entry: dict, probs: dict[str, np.ndarray], labels: dict[str, np.ndarray], classes: list[str]) -> None:
  for name in ("val", "test"):
    y_pred = probs[name].argmax(-1)
    entry[name] = classification_metrics(labels[name], y_pred, len(classes))
  entry["test_report"] = class_report(labels["test"], probs["test"].argmax(-1), classes)


def _train(config: ExperimentConfig, name: str, model, train, val, fit_config: FitConfig, identity: dict, *,
           on_epoch: EpochLog | None, checkpoint_name: str = "checkpoints"):
  safe = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")  # 'LD(A)+LD(E)' -> 'LD_A_LD_E'
  model_dir = os.path.join(config.workdir, "models", safe if safe == name else f"collab_{safe}")
  os.makedirs(model_dir, exist_ok=True)
  mesh = sharding.data_mesh() if config.data_parallel else None
  t0 = time.perf_counter()
  scalars = ScalarLog(os.path.join(model_dir, "tensorboard"))

  def epoch_done(epoch: int, epochs: int, logs: dict) -> None:
    scalars.write(epoch, logs)
    if on_epoch is not None:
      on_epoch(name, epoch, epochs, logs)

  try:
    result = fit(model, train, val, fit_config, checkpoint_dir=os.path.join(model_dir, checkpoint_name),
                 identity=identity, mesh=mesh, on_epoch=epoch_done)
  finally:
    scalars.close()
  _write_json(os.path.join(model_dir, "history.json"), result.history)
  entry = {"parameters": int(sum(x.size for x in jax.tree.leaves(result.state.params))),
           "epochs": len(result.history["val_accuracy"]), "selected_epoch": result.selected_epoch,
           "selection": result.selection, "resumed_from_epoch": result.resumed_from,
           "train_seconds_total": float(sum(result.history["seconds"])),
           "wall_seconds": time.perf_counter() - t0,
           "joint_learning": joint.coefficients(result.history, config.burn_in)}
  return result, entry, model_dir


def train_component(config: ExperimentConfig, data: DataSet, moniker: monikers.Moniker, *,
                    log: Log, on_epoch: EpochLog | None = None) -> tuple[dict, Features]:
  """Trains and selects one component, extracts its LD/O features from the selected checkpoint
  (saved as models/<moniker>/features.npz) and evaluates it; returns (results entry, features)."""
  model = monikers.build(moniker, len(data.classes), config.hyper)
  buckets = _bucket_lengths(config, moniker.arch)
  fit_config = _fit_config(config, _per_arch(config, "epochs", moniker.arch), buckets, moniker.arch)
  identity = {"moniker": moniker.name, "model": repr(model), "classes": data.classes,
              "split": _split_fingerprint(data), "fit": _fit_identity(fit_config)}
  method = monikers.describe(moniker, config.hyper)
  log(f"[{moniker.name}] {method}: {fit_config.epochs} epochs, train {len(data.splits['train'])}, "
      f"val {len(data.splits['val'])}")
  result, entry, model_dir = _train(config, moniker.name, model, data.splits["train"], data.splits["val"],
                                    fit_config, identity, on_epoch=on_epoch)
  feats = features.extract(model, os.path.join(model_dir, "checkpoints"), identity, data,
                           bucket_lengths=buckets, batch_size=config.eval_batch_size)
  features.save(os.path.join(model_dir, "features.npz"), feats)
  entry = {"method": method, "arch": moniker.arch, "inputs": moniker.input_kind, **entry}
  _evaluate(entry, {n: feats[n]["O"] for n in SPLITS}, {n: data.splits[n].labels for n in SPLITS}, data.classes)
  log(f"[{moniker.name}] selected epoch {result.selected_epoch}: val acc {entry['val']['accuracy']:.4f}, "
      f"test acc {entry['test']['accuracy']:.4f}")
  return entry, feats


def train_collaborative(config: ExperimentConfig, data: DataSet, spec: str, component_features: dict[str, Features],
                        *, log: Log, on_epoch: EpochLog | None = None) -> dict:
  """Trains the collaborative MLP on the named component features (train), selects on validation,
  evaluates once on test; returns its results entry."""
  labels = {n: data.splits[n].labels for n in SPLITS}
  tables = combine.combine(spec, component_features, labels)
  model = CollabMLP(num_classes=len(data.classes), dense=tuple(config.collab_dense), noise=config.hyper.noise,
                    dropout=config.hyper.dropout)
  fit_config = _fit_config(config, config.collab_epochs, None)
  # Its checkpoints are keyed by the exact input features: a component retrained or extended to a new
  # selected epoch gives new features and so a fresh MLP, while the old one's checkpoints stay on disk.
  inputs = _inputs_fingerprint(tables)
  identity = {"collab": spec, "model": repr(model), "classes": data.classes, "split": _split_fingerprint(data),
              "fit": _fit_identity(fit_config), "inputs": tables["train"].features.shape[1],
              "inputs_fingerprint": inputs}
  log(f"[{spec}] collaborative MLP on {tables['train'].features.shape[1]} features (fingerprint {inputs}), "
      f"{fit_config.epochs} epochs")
  result, entry, _ = _train(config, spec, model, tables["train"], tables["val"], fit_config, identity,
                            on_epoch=on_epoch, checkpoint_name=os.path.join("checkpoints", inputs))
  probs = {n: predict(result.state, tables[n], config.eval_batch_size)["probs"] for n in ("val", "test")}
  entry = {"method": "collaborative MLP", "features": spec, "inputs_fingerprint": inputs, **entry}
  _evaluate(entry, probs, labels, data.classes)
  log(f"[{spec}] selected epoch {result.selected_epoch}: val acc {entry['val']['accuracy']:.4f}, "
      f"test acc {entry['test']['accuracy']:.4f}")
  return entry


def add_structures(config: ExperimentConfig, data: DataSet, *, log: Log, on_fold: FoldLog | None = None) -> dict:
  """Folds every sequence of every split (cached) and attaches the structure codes; returns fold stats."""
  sequences = [s for name in SPLITS for s in data.splits[name].sequences]
  log(f"folding {len(sequences)} sequences with ViennaRNA (cache: {config.structure_cache})")
  structures, stats = fold_all(sequences, config.structure_cache, config.fold_workers, on_fold)
  start = 0
  for name in SPLITS:
    split = data.splits[name]
    attach_structures(split, structures[start:start + len(split)], config.max_len)
    start += len(split)
  log(f"structures: {stats['cached']} from cache, {stats['folded']} folded, {stats['seconds']:.1f} s")
  return stats


def run_experiment(config: ExperimentConfig, *, command: str = "", log: Log = lambda s: None,
                   on_epoch: EpochLog | None = None, on_fold: FoldLog | None = None) -> dict:
  """Runs the configured experiment and writes config.json, vocabulary.json, data_summary.json,
  models/<moniker>/{checkpoints,history.json}, results.json and report.md under `config.workdir`.

  Rerunning the same configuration resumes each model from its latest checkpoint.
  Returns the results.json content.
  """
  chosen = monikers.parse_monikers(config.models)
  needed = combine.components(list(config.collab))
  if config.cca_trials > 0:
    needed += [m for m in config.cca_pair if m not in needed]
  if config.sweep_model is not None and config.sweep_model not in monikers.MONIKERS:
    raise ValueError(f"unknown sweep model {config.sweep_model!r}")
  absent = [m for m in needed if m not in {c.name for c in chosen}]
  if absent:
    raise ValueError(f"collaborative models / feature analysis need component(s) {absent}: add them to --models")
  os.makedirs(config.workdir, exist_ok=True)
  _write_json(os.path.join(config.workdir, "config.json"), {"command": command, **dataclasses.asdict(config)})
  log("loading data")
  data = load_dataset(config.files, train_files=config.train_files, val_files=config.val_files,
                      test_files=config.test_files, seed=config.seed, max_len=config.max_len,
                      fractions=config.fractions, on_conflict=config.on_conflict)
  data.save_vocabulary(os.path.join(config.workdir, "vocabulary.json"))
  _write_json(os.path.join(config.workdir, "data_summary.json"), data.summary)
  _write_json(os.path.join(config.workdir, "splits.json"), {n: s.ids for n, s in data.splits.items()})
  s = data.summary
  log(f"data: {len(data.classes)} classes; train {s['train']['records']}, val {s['val']['records']}, "
      f"test {s['test']['records']}; {sum(s[n]['cut_to_max_len'] for n in ('train', 'val', 'test'))} cut to "
      f"{config.max_len}; {sum(s[n]['with_ambiguity_codes'] for n in ('train', 'val', 'test'))} with ambiguity codes")
  sweep_input = monikers.MONIKERS[config.sweep_model].input_kind if config.sweep_model else "seq"
  if any(m.input_kind != "seq" for m in chosen) or sweep_input != "seq":
    data.summary["structures"] = add_structures(config, data, log=log, on_fold=on_fold)
    _write_json(os.path.join(config.workdir, "data_summary.json"), data.summary)
  results: dict = {"dataset": config.dataset, "seed": config.seed, "environment": provenance.environment(),
                   "protocol": data.summary["protocol"], "models": {}, "collaborative": {}}
  component_features = {}
  for moniker in chosen:
    results["models"][moniker.name], component_features[moniker.name] = train_component(
        config, data, moniker, log=log, on_epoch=on_epoch)
    _write_json(os.path.join(config.workdir, "results.json"), results)
  for spec in config.collab:
    results["collaborative"][spec] = train_collaborative(config, data, spec, component_features,
                                                         log=log, on_epoch=on_epoch)
    _write_json(os.path.join(config.workdir, "results.json"), results)
  if config.cca_trials > 0:
    x, y = config.cca_pair
    log(f"feature analysis: CCA and PCA of LD({x}) vs LD({y}) on validation, {config.cca_trials} Monte Carlo trials")
    results["feature_analysis"] = feature_study.run(component_features[x]["val"]["LD"], component_features[y]["val"]["LD"],
                                                    (x, y), config.cca_trials, config.cca_rhos, config.seed,
                                                    config.workdir)
    log(f"average CCA {results['feature_analysis']['average_cca']:.3f} ~ representative rho "
        f"{results['feature_analysis']['representative_rho']:.3f}; first-PC correlation "
        f"{results['feature_analysis']['first_pc_correlation']:.3f} ({results['feature_analysis']['seconds']:.0f} s)")
    _write_json(os.path.join(config.workdir, "results.json"), results)
  if config.sweep_model:
    moniker = monikers.MONIKERS[config.sweep_model]
    log(f"regularisation sweep of {moniker.name} at levels {list(config.sweep_levels)}, {config.sweep_epochs} epochs")
    results["sweep"] = sweep.run_sweep(
        data, moniker, config.hyper, config.sweep_levels,
        _fit_config(config, config.sweep_epochs, _bucket_lengths(config, moniker.arch), moniker.arch),
        os.path.join(config.workdir, "sweep"), burn_in=config.burn_in,
        on_epoch=(lambda e, n, logs: on_epoch(f"sweep {moniker.name}", e, n, max(logs, key=lambda x: x["val_accuracy"]))) if on_epoch else None)
    log(f"sweep: peak validation accuracy at lambda {results['sweep']['peak_val_accuracy_level']}, coefficient "
        f"stops rising at lambda {results['sweep']['coefficient_plateau_level']}")
    _write_json(os.path.join(config.workdir, "results.json"), results)
  with open(os.path.join(config.workdir, "report.md"), "w") as f:
    f.write(markdown.report(config, results, data.summary, command))
  log(f"wrote {os.path.join(config.workdir, 'results.json')} and report.md")
  return results


def run_seeds(config: ExperimentConfig, seeds: Sequence[int], *, command: str = "", log: Log = lambda s: None,
              on_epoch: EpochLog | None = None, on_fold: FoldLog | None = None) -> dict:
  """Repeats the whole pipeline (split, components, collaborative models) once per seed, in
  `workdir/seed_<k>/`, then writes `workdir/results.json` and `report.md` with mean +- sd per model."""
  runs = []
  for seed in seeds:
    log(f"=== seed {seed} ===")
    runs.append(run_experiment(dataclasses.replace(config, seed=seed, workdir=os.path.join(config.workdir, f"seed_{seed}")),
                               command=command, log=log, on_epoch=on_epoch, on_fold=on_fold))
  summary = {"dataset": config.dataset, "seeds": list(seeds), "environment": provenance.environment(),
             "protocol": runs[0]["protocol"], "stability": stability.aggregate(runs),
             "per_seed": {str(s): os.path.join(f"seed_{s}", "results.json") for s in seeds}}
  _write_json(os.path.join(config.workdir, "results.json"), summary)
  with open(os.path.join(config.workdir, "report.md"), "w") as f:
    f.write(markdown.stability_report(config, summary, command))
  log(f"wrote {os.path.join(config.workdir, 'results.json')} (mean +- sd over {len(seeds)} seeds)")
  return summary
