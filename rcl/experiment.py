"""One experiment end to end: load data, train the chosen component models, evaluate, write results."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import time
from collections.abc import Callable, Sequence

import jax

from rcl.analysis.metrics import class_report, classification_metrics
from rcl.data.dataset import SPLITS, DataSet, load_dataset
from rcl.data.structure import attach_structures, fold_all
from rcl.models import monikers
from rcl.report import markdown
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
    batch_size, eval_batch_size, learning_rate, checkpoint_every, selection: see FitConfig.
    rnn_buckets: padded lengths for the RNN's length bucketing (empty: pad to max_len).
    on_conflict: what to do with a sequence carrying two labels ("drop", "first", "error").
    data_parallel: split each batch over all local devices.
    structure_cache: directory caching ViennaRNA structures (None: no cache).
    fold_workers: folding processes (0: one per CPU).
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
  batch_size: int = 64
  eval_batch_size: int = 256
  learning_rate: float = 1e-3
  checkpoint_every: int = 1
  selection: str = "best_val_accuracy"
  rnn_buckets: Sequence[int] = (64, 128, 256, 512, 1000)
  on_conflict: str = "drop"
  data_parallel: bool = False
  structure_cache: str | None = None
  fold_workers: int = 0


def _split_fingerprint(data: DataSet) -> str:
  h = hashlib.sha256()
  for name in ("train", "val", "test"):
    split = data.splits[name]
    h.update(name.encode())
    for rid, seq in zip(split.ids, split.sequences):
      h.update(f"{rid}\t{seq}\n".encode())
  return h.hexdigest()[:16]


def environment() -> dict:
  """Code and package versions, device and platform: recorded with every result."""
  import importlib.metadata as md  # noqa: PLC0415
  versions = {}
  for pkg in ("rcl", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "scikit-learn"):
    try:
      versions[pkg] = md.version(pkg)
    except md.PackageNotFoundError:
      versions[pkg] = None
  return {"packages": versions, "python": platform.python_version(), "backend": jax.default_backend(),
          "devices": [str(d) for d in jax.devices()], "git": _git_revision()}


def _git_revision() -> str | None:
  head = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".git")
  try:
    ref = open(os.path.join(head, "HEAD")).read().strip()
    if ref.startswith("ref: "):
      return open(os.path.join(head, ref[5:])).read().strip()
    return ref
  except OSError:
    return None


def _write_json(path: str, obj) -> None:
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(obj, f, indent=1)
  os.replace(tmp, path)


def train_component(config: ExperimentConfig, data: DataSet, moniker: monikers.Moniker, *,
                    log: Log, on_epoch: EpochLog | None = None) -> dict:
  """Trains, selects and evaluates one component; returns its results.json entry."""
  model = monikers.build(moniker, len(data.classes), config.hyper)
  rnn = moniker.arch == "rnn"
  fit_config = FitConfig(
      epochs=config.rnn_epochs if rnn else config.cnn_epochs, batch_size=config.batch_size,
      eval_batch_size=config.eval_batch_size, learning_rate=config.learning_rate,
      checkpoint_every=config.checkpoint_every, selection=config.selection, seed=config.seed,
      bucket_lengths=tuple(b for b in config.rnn_buckets if b < config.max_len) + (config.max_len,) if rnn else None)
  model_dir = os.path.join(config.workdir, "models", moniker.name)
  os.makedirs(model_dir, exist_ok=True)
  identity = {"moniker": moniker.name, "model": repr(model), "classes": data.classes,
              "split": _split_fingerprint(data), "fit": repr(fit_config)}
  mesh = sharding.data_mesh() if config.data_parallel else None
  method = monikers.describe(moniker, config.hyper)
  log(f"[{moniker.name}] {method}: {fit_config.epochs} epochs, "
      f"train {len(data.splits['train'])}, "
      f"val {len(data.splits['val'])}")
  t0 = time.perf_counter()
  result = fit(model, data.splits["train"], data.splits["val"], fit_config,
               checkpoint_dir=os.path.join(model_dir, "checkpoints"), identity=identity, mesh=mesh,
               on_epoch=(lambda e, n, logs: on_epoch(moniker.name, e, n, logs)) if on_epoch else None)
  _write_json(os.path.join(model_dir, "history.json"), result.history)
  entry: dict = {"method": method, "arch": moniker.arch, "inputs": moniker.input_kind,
                 "parameters": int(sum(x.size for x in jax.tree.leaves(result.state.params))),
                 "epochs": len(result.history["val_accuracy"]), "selected_epoch": result.selected_epoch,
                 "selection": result.selection, "resumed_from_epoch": result.resumed_from,
                 "train_seconds_total": float(sum(result.history["seconds"])),
                 "wall_seconds": time.perf_counter() - t0}
  for name in ("val", "test"):
    split = data.splits[name]
    out = predict(result.state, split, config.eval_batch_size, bucket_lengths=fit_config.bucket_lengths, mesh=mesh)
    y_pred = out["probs"].argmax(-1)
    entry[name] = classification_metrics(split.labels, y_pred, len(data.classes))
    if name == "test":
      entry["test_report"] = class_report(split.labels, y_pred, data.classes)
  log(f"[{moniker.name}] selected epoch {result.selected_epoch}: val acc {entry['val']['accuracy']:.4f}, "
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
  if any(m.input_kind != "seq" for m in chosen):
    data.summary["structures"] = add_structures(config, data, log=log, on_fold=on_fold)
    _write_json(os.path.join(config.workdir, "data_summary.json"), data.summary)
  results: dict = {"dataset": config.dataset, "seed": config.seed, "environment": environment(),
                   "protocol": data.summary["protocol"], "models": {}}
  for moniker in chosen:
    results["models"][moniker.name] = train_component(config, data, moniker, log=log, on_epoch=on_epoch)
    _write_json(os.path.join(config.workdir, "results.json"), results)
  with open(os.path.join(config.workdir, "report.md"), "w") as f:
    f.write(markdown.report(config, results, data.summary, command))
  log(f"wrote {os.path.join(config.workdir, 'results.json')} and report.md")
  return results
