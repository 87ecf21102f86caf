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

from rcl.analysis import joint, significance, stability
from rcl.analysis.metrics import class_report, classification_metrics
from rcl.collab import combine, ensemble, features
from rcl.collab.features import Features
from rcl.data.dataset import SPLITS, DataSet, load_dataset
from rcl.data.structure import attach_structures, fold_all
from rcl.models import monikers
from rcl.models.mlp import CollabMLP
from rcl import feature_study, sweep
from rcl.report import figures, markdown, provenance
from rcl.report.scalars import ScalarLog
from rcl.train import checkpoint, sharding
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
    collab_train_features: what the collaborative MLP learns from on the training split: "sampled"
      (`collab_draws` training-mode passes of every component, noise, dropout and batch statistics on)
      or "in_sample" (the paper: the components' deterministic features of their own training set).
    collab_draws: training-mode passes per component for "sampled".
    collab_input_noise: Gaussian noise sigma on the MLP's standardised inputs in training (0: none).
    collab_selection: the collaborative MLP's model selection rule (see FitConfig.selection).
    sweep_model: moniker trained at every level of `sweep_levels` as one population (Fig. 3-4); None: no sweep.
    sweep_levels: the regularisation levels lambda of the sweep.
    sweep_epochs: epochs of the sweep.
    cca_pair: the two components whose validation LD features are compared (Sec. 4, Fig. 5).
    cca_trials: Monte Carlo trials per rho for the CCA calibration; 0 skips the feature analysis.
    cca_rhos: points of the rho grid in [0, 1].
    components_from: another workdir whose trained components are reused (read only) when they are
      identical to the ones this run asks for (e.g. the feature analysis of an already trained profile).
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
  collab_train_features: str = "sampled"
  collab_draws: int = 8
  collab_input_noise: float = 0.0
  collab_selection: str = "best_val_accuracy"
  sweep_model: str | None = None
  sweep_levels: Sequence[float] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8)
  sweep_epochs: int = 500
  cca_pair: Sequence[str] = ("A", "E")
  cca_trials: int = 0
  cca_rhos: int = 21
  components_from: str | None = None


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


def _safe(name: str) -> str:
  """A file-name form of a model name: 'LD(A)+LD(E)' -> 'LD_A_LD_E'."""
  return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")


def _evaluate(config: ExperimentConfig, name: str, entry: dict, probs: dict[str, np.ndarray], data: DataSet,
              history: dict | None = None) -> None:
  """Fills entry's val/test metrics, per-class report, bootstrap interval of test accuracy and figures
  (training curves when `history` is given; test confusion matrix)."""
  labels = {n: data.splits[n].labels for n in ("val", "test")}
  for split in ("val", "test"):
    entry[split] = classification_metrics(labels[split], probs[split].argmax(-1), len(data.classes))
  entry["test_report"] = class_report(labels["test"], probs["test"].argmax(-1), data.classes)
  entry["test_accuracy_ci"] = significance.bootstrap_accuracy(probs["test"].argmax(-1) == labels["test"],
                                                              seed=config.seed)
  os.makedirs(os.path.join(config.workdir, "figures"), exist_ok=True)
  entry["figures"] = {"confusion": os.path.join("figures", f"confusion_{_safe(name)}.png")}
  figures.confusion(os.path.join(config.workdir, entry["figures"]["confusion"]), name,
                    entry["test_report"]["confusion_matrix"]["rows_true_cols_predicted"], data.classes)
  if history is not None:
    entry["figures"]["curves"] = os.path.join("figures", f"curves_{_safe(name)}.png")
    figures.training_curves(os.path.join(config.workdir, entry["figures"]["curves"]), name, history,
                            entry["selected_epoch"])


def _model_dir(config: ExperimentConfig, name: str) -> str:
  """models/<moniker> for a component, models/collab_<safe spec> for a collaborative model."""
  safe = _safe(name)
  return os.path.join(config.workdir, "models", safe if safe == name else f"collab_{safe}")


def _train(config: ExperimentConfig, name: str, model, train, val, fit_config: FitConfig, identity: dict, *,
           on_epoch: EpochLog | None, checkpoint_dir: str):
  model_dir = _model_dir(config, name)
  os.makedirs(model_dir, exist_ok=True)
  mesh = sharding.data_mesh() if config.data_parallel else None
  t0 = time.perf_counter()
  scalars = ScalarLog(os.path.join(model_dir, "tensorboard"))

  def epoch_done(epoch: int, epochs: int, logs: dict) -> None:
    scalars.write(epoch, logs)
    if on_epoch is not None:
      on_epoch(name, epoch, epochs, logs)

  try:
    result = fit(model, train, val, fit_config, checkpoint_dir=checkpoint_dir, identity=identity, mesh=mesh,
                 on_epoch=epoch_done)
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


def _draws(config: ExperimentConfig) -> int:
  """Training-mode feature passes each component needs (for collaborative models learning from them)."""
  return config.collab_draws if config.collab and config.collab_train_features == "sampled" else 0


def _reusable(config: ExperimentConfig, name: str, identity: dict, epochs: int, log: Log) -> str:
  """The checkpoint directory a component is read from or trained into: `config.components_from`'s when it
  holds this very component (same identity: model, classes, split, training settings) trained for exactly
  `epochs` epochs, read only; otherwise this workdir's own."""
  own = os.path.join(_model_dir(config, name), "checkpoints")
  if not config.components_from:
    return own
  other = os.path.join(config.components_from, "models", name, "checkpoints")
  meta = checkpoint.latest_meta(other)
  if meta is not None and meta.get("identity") == identity and meta.get("epoch") == epochs:
    log(f"[{name}] reusing the trained component in {other} (same model, data split and training settings)")
    return other
  why = ("nothing trained there" if meta is None else
         f"trained for {meta.get('epoch')} epochs, not {epochs}" if meta.get("identity") == identity else
         "a different model, data split or training settings")
  log(f"[{name}] not reusing {other}: {why}; training it here")
  return own


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
  checkpoint_dir = _reusable(config, moniker.name, identity, fit_config.epochs, log)
  result, entry, model_dir = _train(config, moniker.name, model, data.splits["train"], data.splits["val"],
                                    fit_config, identity, on_epoch=on_epoch, checkpoint_dir=checkpoint_dir)
  feats = features.extract(model, checkpoint_dir, identity, data,
                           bucket_lengths=buckets, batch_size=config.eval_batch_size, draws=_draws(config),
                           train_batch_size=config.batch_size, seed=config.seed)
  features.save(os.path.join(model_dir, "features.npz"), feats)
  entry = {"method": method, "arch": moniker.arch, "inputs": moniker.input_kind, **entry}
  _evaluate(config, moniker.name, entry, {n: feats[n]["O"] for n in ("val", "test")}, data, result.history)
  log(f"[{moniker.name}] selected epoch {result.selected_epoch}: val acc {entry['val']['accuracy']:.4f}, "
      f"test acc {entry['test']['accuracy']:.4f}")
  return entry, feats


def train_collaborative(config: ExperimentConfig, data: DataSet, spec: str, component_features: dict[str, Features],
                        *, log: Log, on_epoch: EpochLog | None = None) -> tuple[dict, dict[str, np.ndarray]]:
  """Trains the collaborative MLP on the named component features (train), selects on validation,
  evaluates once on test; returns its results entry and its val/test probabilities."""
  labels = {n: data.splits[n].labels for n in SPLITS}
  train_from = features.SAMPLED if config.collab_train_features == "sampled" else "train"
  tables = combine.combine(spec, component_features, labels, train_from=train_from)
  model = CollabMLP(num_classes=len(data.classes), dense=tuple(config.collab_dense), noise=config.hyper.noise,
                    dropout=config.hyper.dropout, input_noise=config.collab_input_noise)
  fit_config = dataclasses.replace(_fit_config(config, config.collab_epochs, None), selection=config.collab_selection)
  inputs = _inputs_fingerprint(tables)
  identity = {"collab": spec, "model": repr(model), "classes": data.classes, "split": _split_fingerprint(data),
              "fit": _fit_identity(fit_config), "inputs": tables["val"].features.shape[1],
              "inputs_fingerprint": inputs}
  # Its checkpoints are keyed by its identity, input features included: a component retrained or extended
  # to a new selected epoch gives new features, other MLP settings a new identity, and so a fresh MLP,
  # while the old one's checkpoints stay on disk.
  key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
  draws = (f", {tables['train'].features.shape[0]} training-mode draws (one per epoch)"
           if tables["train"].features.ndim == 3 else " (in-sample)")
  log(f"[{spec}] collaborative MLP on {tables['val'].features.shape[1]} features of {len(tables['train'])} "
      f"training sequences{draws}, inputs {inputs}, {fit_config.epochs} epochs")
  result, entry, _ = _train(config, spec, model, tables["train"], tables["val"], fit_config, identity,
                            on_epoch=on_epoch, checkpoint_dir=os.path.join(_model_dir(config, spec), "checkpoints", key))
  probs = {n: predict(result.state, tables[n], config.eval_batch_size)["probs"] for n in ("val", "test")}
  entry = {"method": "collaborative MLP", "features": spec, "train_features": config.collab_train_features,
           "inputs_fingerprint": inputs, "checkpoint_key": key, **entry}
  _evaluate(config, spec, entry, probs, data, result.history)
  log(f"[{spec}] selected epoch {result.selected_epoch}: val acc {entry['val']['accuracy']:.4f}, "
      f"test acc {entry['test']['accuracy']:.4f}")
  return entry, probs


def evaluate_ensemble(config: ExperimentConfig, data: DataSet, spec: str,
                      component_features: dict[str, Features]) -> tuple[dict, dict[str, np.ndarray]]:
  """The baseline of a collaborative spec: its components' averaged softmax outputs, nothing trained."""
  names = ensemble.members(spec)
  probs = {n: ensemble.average(names, component_features, n) for n in ("val", "test")}
  entry = {"method": "mean of softmax outputs (no training)", "members": names}
  _evaluate(config, ensemble.name(spec), entry, probs, data)
  return entry, probs


def compare(config: ExperimentConfig, spec: str, results: dict, correct: dict[str, np.ndarray]) -> dict:
  """Paired test-set comparisons of a collaborative model with each of its components and its ensemble.

  The best component is the one with the highest validation accuracy (never chosen on the test set).
  Per rival: the exact McNemar test and a paired bootstrap interval of the accuracy difference.
  """
  names = ensemble.members(spec)
  best = max(names, key=lambda m: results["models"][m]["val"]["accuracy"])
  out = {"best_component": best, "ensemble": ensemble.name(spec), "rivals": {}}
  for rival in names + [ensemble.name(spec)]:
    out["rivals"][rival] = {
        "mcnemar": significance.mcnemar_exact(correct[spec], correct[rival]),
        "accuracy_difference": significance.bootstrap_accuracy(correct[spec], baseline=correct[rival],
                                                               seed=config.seed)}
  return out


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
                   "protocol": data.summary["protocol"], "models": {}, "ensembles": {}, "collaborative": {}}
  component_features, correct = {}, {}
  test_labels = data.splits["test"].labels
  for moniker in chosen:
    results["models"][moniker.name], component_features[moniker.name] = train_component(
        config, data, moniker, log=log, on_epoch=on_epoch)
    correct[moniker.name] = component_features[moniker.name]["test"]["O"].argmax(-1) == test_labels
    _write_json(os.path.join(config.workdir, "results.json"), results)
  for spec in config.collab:
    rows = {"ensembles": (ensemble.name(spec), evaluate_ensemble(config, data, spec, component_features)),
            "collaborative": (spec, train_collaborative(config, data, spec, component_features, log=log,
                                                        on_epoch=on_epoch))}
    for section, (name, (entry, probs)) in rows.items():
      results[section][name] = entry
      correct[name] = probs["test"].argmax(-1) == test_labels
    results["collaborative"][spec]["comparison"] = cmp = compare(config, spec, results, correct)
    rivals = ", ".join(f"{r} {results['ensembles' if r.startswith('Ensemble') else 'models'][r]['test']['accuracy']:.4f} "
                       f"(McNemar p {c['mcnemar']['p_value']:.3g})" for r, c in cmp["rivals"].items())
    log(f"[{spec}] test acc {results['collaborative'][spec]['test']['accuracy']:.4f} against {rivals}")
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
             "comparisons": stability.comparisons(runs),
             "per_seed": {str(s): os.path.join(f"seed_{s}", "results.json") for s in seeds}}
  _write_json(os.path.join(config.workdir, "results.json"), summary)
  with open(os.path.join(config.workdir, "report.md"), "w") as f:
    f.write(markdown.stability_report(config, summary, command))
  log(f"wrote {os.path.join(config.workdir, 'results.json')} (mean +- sd over {len(seeds)} seeds)")
  return summary
