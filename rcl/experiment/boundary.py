"""The boundary-noise stage: every model of the run (components, plain ensembles, collaborative MLPs) on
flanked copies of the validation and test splits at each noise level (Noviello et al. 2020's protocol,
`rcl.data.flanks`). The validation rows are there to choose by; the test rows are reported only."""

from __future__ import annotations


import numpy as np

from rcl.analysis.metrics import classification_metrics
from rcl.collab.outputs import every_model
from rcl.config import ExperimentConfig
from rcl.data import flanks
from rcl.data.dataset import DataSet
from rcl.experiment.progress import Log
from rcl.report import figures
from rcl.results import RunResults
from rcl.workdir import Workdir

EVALUATED = ("val", "test")


def stage(config: ExperimentConfig, data: DataSet, components: dict, collaborative: dict, *, log: Log) -> dict:
  """{'boundary_noise': {'levels', 'kind', 'seed', 'figure', 'models': {name: {split: {'accuracy': [...],
  'f1_macro': [...]}}}}} over `config.boundary.levels`, or {} when there are none.

  Args:
    components: moniker -> (selected state, bucket lengths) of every trained component that reads the
      sequence alone (flanks would change a structure reader's fold, which is not recomputed here).
    collaborative: spec -> (selected MLP state, feature mean, feature std) of every collaborative model
      (those drawing on a component missing from `components` are left out).
  """
  levels = [float(v) for v in config.boundary.levels]
  if not levels:
    return {}
  kind, batch = config.boundary.kind, config.eval_batch_size
  curves: dict[str, dict[str, dict[str, list[float]]]] = {}
  for stream, split_name in enumerate(EVALUATED):
    clean = data.splits[split_name]
    for level in levels:
      copy = flanks.flank_split(clean, level, config.seed, kind=kind, stream=stream, max_len=config.data.max_len)
      outputs = every_model(copy, components, collaborative, batch)
      for name, out in outputs.items():
        scores = classification_metrics(copy.labels, out.logits.argmax(-1), len(data.classes))
        row = curves.setdefault(name, {}).setdefault(split_name, {"accuracy": [], "f1_macro": []})
        row["accuracy"].append(scores["accuracy"])
        row["f1_macro"].append(scores["f1_macro"])
      log(f"[boundary noise] {split_name} at {level:g}%: " +
          ", ".join(f"{n} {curves[n][split_name]['accuracy'][-1]:.4f}" for n in outputs))
  workdir = Workdir(config.workdir)
  path = workdir.figure("boundary_noise")
  figures.boundary_noise(workdir.absolute(path), levels,
                         {name: c["test"] for name, c in curves.items()}, title=f"test split, {kind} flanks")
  return {"boundary_noise": {"levels": levels, "kind": kind, "seed": config.seed, "figure": path, "models": curves}}


def robust_choice(results: RunResults) -> tuple[str, float, str]:
  """The run's best model by validation only: (name, score, how), the score being validation accuracy
  averaged over the clean and every flanked validation copy when the run measured boundary noise, else
  clean validation accuracy. Candidates: components, plain ensembles and collaborative models; a tie goes to
  a collaborative model."""
  entries = dict(results.named())
  curves = results.studies.get("boundary_noise", {}).get("models", {})
  if curves and all(name in curves for name in entries):
    levels = ", ".join(f"{v:g}" for v in results.studies["boundary_noise"]["levels"])
    scores = {name: float(np.mean(curves[name]["val"]["accuracy"])) for name in entries}
    how = f"validation accuracy averaged over boundary noise {levels}%"
  else:
    scores = {name: entry.accuracy("val") for name, entry in entries.items()}
    how = "clean validation accuracy"
  if not scores:
    raise ValueError("the run has no trained model to choose from")
  name = max(scores, key=lambda n: (scores[n], n in results.collaborative))
  return name, scores[name], how
