"""The regularisation sweep (paper, Fig. 3-4): one model at a grid of levels lambda, trained as a population."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from rcl.analysis.joint import accuracy_slope, joint_learning_coefficient, plateau_level
from rcl.data.dataset import DataSet
from rcl.experiment import identity
from rcl.models import monikers, noise
from rcl.report import figures
from rcl.train.epochs import NonFiniteLoss
from rcl.train.fit_config import FitConfig
from rcl.train.population import fit_population
from rcl.workdir import CHECKPOINTS, Workdir


def pick_fig3_levels(levels: Sequence[float], wanted: Sequence[float] = (0.0, 1.0, 1.8)) -> list[float]:
  """The grid levels closest to the paper's Fig. 3 panels (none; sigma 1, 50%; sigma 1.8, 90%)."""
  return sorted({min(levels, key=lambda lv: abs(lv - w)) for w in wanted})


def run_sweep(data: DataSet, moniker: monikers.Moniker, hyper: monikers.Hyper, levels: Sequence[float],
              config: FitConfig, outdir: str, *, burn_in: int = 0, ident: identity.Identity | None = None,
              on_epoch: Callable[[int, int, list[dict]], None] | None = None) -> dict:
  """Trains `moniker` at every level at once and writes fig3.png and fig4.png under `outdir`; resumes from
  its checkpoints there when they are the same run's, `ident` (default: model and classes; the experiment's
  sweep stage gives `rcl.experiment.identity.sweep`, data and training settings included).

  Returns a JSON-able summary: per level the history, joint learning coefficients (accuracy, loss),
  Fig. 3 slope and best validation accuracy; the level of peak validation accuracy; the level where the
  coefficient stops rising.
  """
  os.makedirs(outdir, exist_ok=True)
  model = monikers.build(moniker, len(data.classes), hyper)
  if ident is None:
    named = {"moniker": moniker.name, "classes": data.classes}
    ident = identity.Identity(dict(named, version=identity.VERSION, model=identity.model_identity(model)))
  result = fit_population(model, levels, data.splits["train"], data.splits["val"], config,
                          checkpoint_dir=os.path.join(outdir, CHECKPOINTS),
                          identity=ident.current,
                          on_epoch=on_epoch)
  rows = []
  for level, history in zip(result.levels, result.histories):
    sigma, rate = noise.rates(level)
    rows.append({
        "level": level, "noise": sigma, "dropout": rate, "history": history,
        "joint_accuracy": joint_learning_coefficient(history["train_accuracy"], history["val_accuracy"], burn_in),
        "joint_loss": joint_learning_coefficient(history["train_loss"], history["val_loss"], burn_in),
        "slope": accuracy_slope(history["train_accuracy"], history["val_accuracy"], burn_in),
        "best_val_accuracy": max(history["val_accuracy"]),
    })
  return summarize(moniker.name, rows, burn_in, config.epochs, result.seconds, outdir)


def summarize(moniker: str, rows: Sequence[dict], burn_in: int, epochs: int, seconds: float, outdir: str) -> dict:
  """The sweep's entry from its per-level rows (in any order): the level of peak validation accuracy,
  where the coefficient stops rising, and Fig. 3-4 drawn under `outdir`."""
  rows = sorted(rows, key=lambda r: r["level"])
  levels = [r["level"] for r in rows]
  coefs = [r["joint_accuracy"] for r in rows]
  best = max(rows, key=lambda r: r["best_val_accuracy"])
  os.makedirs(outdir, exist_ok=True)
  figures.figure4(os.path.join(outdir, "fig4.png"), levels, coefs, [r["best_val_accuracy"] for r in rows])
  panels = [(f"lambda {lv:g} (sigma {noise.rates(lv)[0]:g}, dropout {noise.rates(lv)[1]:.0%})",
             rows[levels.index(lv)]["history"]) for lv in pick_fig3_levels(levels)]
  figures.figure3(os.path.join(outdir, "fig3.png"), panels, burn_in)
  return {"moniker": moniker, "levels": levels, "burn_in": burn_in, "epochs": epochs,
          "seconds": seconds, "rows": rows, "peak_val_accuracy_level": best["level"],
          "peak_val_accuracy": best["best_val_accuracy"],
          "coefficient_plateau_level": plateau_level(levels, coefs),
          "fig3_levels": [p[0] for p in panels]}


def merge(parts: Sequence[dict], outdir: str) -> dict:
  """One sweep entry from sweeps of the same model over disjoint levels (trained apart, e.g. by the
  processes of a spread run): their rows together; `seconds` is the longest part's (they ran side by side)."""
  first = parts[0]
  return summarize(first["moniker"], [r for part in parts for r in part["rows"]], first["burn_in"], first["epochs"],
                   max(part["seconds"] for part in parts), outdir)


def stage(config, data: DataSet, *, log, on_epoch=None) -> dict:
  """The sweep stage: the configured component at every level, as one population (empty when off)."""
  settings = config.sweep
  if not settings.model:
    return {}
  moniker = monikers.MONIKERS[settings.model]
  log(f"regularisation sweep of {moniker.name} at levels {list(settings.levels)}, {settings.epochs} epochs")
  best_member = None if on_epoch is None else (
      lambda epoch, epochs, logs: on_epoch(f"sweep {moniker.name}", epoch, epochs,
                                           max(logs, key=lambda x: x["val_accuracy"])))
  fit_config = config.fit_for(moniker.arch, settings.epochs)
  ident = identity.sweep(config, data, moniker, monikers.build(moniker, len(data.classes), config.hyper), fit_config)
  try:
    out = run_sweep(data, moniker, config.hyper, settings.levels, fit_config, Workdir(config.workdir).sweep,
                    burn_in=config.analysis.burn_in, ident=ident, on_epoch=best_member)
  except NonFiniteLoss as e:
    raise ValueError(f"[sweep {moniker.name}] {e}") from None
  log(f"sweep: peak validation accuracy at lambda {out['peak_val_accuracy_level']}, coefficient stops rising "
      f"at lambda {out['coefficient_plateau_level']}")
  return {"sweep": out}
