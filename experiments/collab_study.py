"""Which collaborative training wins? `python -m experiments.collab_study --workdirs=runs/x/seed_0,runs/x/seed_1`.

Retrains the collaborative MLPs of finished runs (their components untouched: features are read from
models/<moniker>/features.npz) under each lever of BUILD.md's "Collaborative learning" study, and prints
per variant the validation accuracy of every run, its mean (what the choice is made on) and, for the
record only, the mean test accuracy beside the best component's and the plain ensemble's. Scratch
checkpoints go under --out.
"""

import dataclasses
import os

import numpy as np
from absl import app, flags, logging

from rcl.collab import ensemble, features
from rcl.data.dataset import load_dataset
from rcl.experiment.collaborative import evaluate_ensemble, train_collaborative
from rcl.experiment.export import load_run_config
from rcl.results import RunResults
from rcl.workdir import FEATURES, RESULTS, Workdir

def _variants() -> dict[str, dict]:
  """Training features x input noise sigma x selection rule."""
  out = {}
  for source in ("in_sample", "sampled"):  # in_sample is the paper's way
    for noise in (0.0, 0.5, 1.0, 2.0):
      for rule in ("best_val_accuracy", "best_val_loss"):
        if rule == "best_val_loss" and noise not in (0.0, 1.0):
          continue
        name = source + (f"+noise{noise:g}" if noise else "") + ("+val_loss" if rule == "best_val_loss" else "")
        out[name] = {"train_features": source, "input_noise": noise, "selection": rule}
  return out


VARIANTS = _variants()

_WORKDIRS = flags.DEFINE_list("workdirs", [], "Finished runs (one per seed) whose collaborative models to redo.")
_VARIANTS = flags.DEFINE_list("variants", list(VARIANTS), f"Levers to compare, of {list(VARIANTS)}.")
_OUT = flags.DEFINE_string("out", "runs/collab_study", "Scratch directory for the retrained MLPs.")


def _load(workdir: str):
  config, _ = load_run_config(workdir)
  d = config.data
  data = load_dataset(d.files, train_files=d.train_files, val_files=d.val_files, test_files=d.test_files,
                      seed=config.seed, max_len=d.max_len, fractions=d.fractions, on_conflict=d.on_conflict)
  monikers = {m for spec in config.collab.specs for m in ensemble.members(spec)}
  layout = Workdir(workdir)
  feats = {m: features.load(layout.model_file(m, FEATURES)) for m in monikers}
  return config, data, feats, RunResults.read(layout.file(RESULTS))


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  runs = [_load(w) for w in _WORKDIRS.value]
  rows = []
  for variant in _VARIANTS.value:
    for spec in runs[0][0].collab.specs:
      val, test, best, plain = [], [], [], []
      for (config, data, feats, results), workdir in zip(runs, _WORKDIRS.value):
        scratch = os.path.join(_OUT.value, variant, os.path.basename(os.path.normpath(workdir)))
        collab = dataclasses.replace(config.collab, **VARIANTS[variant])
        cfg = dataclasses.replace(config, workdir=scratch, collab=collab)
        entry, _, _ = train_collaborative(cfg, data, spec, feats, log=lambda s: None)
        baseline, _ = evaluate_ensemble(cfg, data, spec, feats)
        component = max(ensemble.members(spec), key=lambda m: results.models[m].accuracy("val"))
        val.append(entry.accuracy("val"))
        test.append(entry.accuracy())
        best.append(results.models[component].accuracy())
        plain.append(baseline.accuracy())
      rows.append((variant, spec, val, test, best, plain))
      print(f"{variant:24s} {spec:14s} val {' '.join(f'{v:.4f}' for v in val)} mean {np.mean(val):.4f} | "
            f"test mean {np.mean(test):.4f} (best component {np.mean(best):.4f}, ensemble {np.mean(plain):.4f})",
            flush=True)
  chosen = max(rows, key=lambda r: np.mean(r[2]))
  print(f"highest mean validation accuracy: {chosen[0]} ({np.mean(chosen[2]):.4f})")


if __name__ == "__main__":
  app.run(main)
