"""Multi-seed stability: mean and standard deviation of every metric of every model across seeds."""

from __future__ import annotations

import numpy as np

from rcl.analysis.metrics import METRIC_KEYS
from rcl.results import SECTIONS, RunResults


def aggregate(runs: list[RunResults]) -> dict:
  """Summarises the results of several seeds.

  Args:
    runs: one run's results per seed.

  Returns:
    {section: {model: {split: {metric: {'mean', 'sd', 'values'}}}}}; sd is the sample standard
    deviation (ddof=1; 0 for a single seed). Models missing from some seed are summarised over the
    seeds that have them.
  """
  out: dict = {}
  for section in SECTIONS:
    names = []
    for run in runs:
      names += [n for n in run.section(section) if n not in names]
    out[section] = {}
    for name in names:
      entries = [run.section(section)[name] for run in runs if name in run.section(section)]
      out[section][name] = {}
      for split in ("val", "test"):
        out[section][name][split] = {}
        for metric in METRIC_KEYS:
          values = np.array([getattr(e.scores, split)[metric] for e in entries], dtype=np.float64)
          sd = float(values.std(ddof=1)) if len(values) > 1 else 0.0
          out[section][name][split][metric] = {"mean": float(values.mean()), "sd": sd, "values": values.tolist()}
  return out


def comparisons(runs: list[RunResults]) -> list[dict]:
  """Per seed and collaborative model: its test accuracy and the paired comparisons with its best
  component (by validation accuracy) and its ensemble, as recorded by the run."""
  rows = []
  for run in runs:
    for spec, entry in run.collaborative.items():
      cmp = entry.comparison
      if cmp is None:
        continue
      row = {"seed": run.seed, "collaborative": spec, "accuracy": entry.accuracy(),
             "accuracy_ci": entry.scores.test_accuracy_ci}
      for rival, section, name in (("best_component", "models", cmp["best_component"]),
                                   ("ensemble", "ensembles", cmp["ensemble"])):
        row[rival] = {"name": name, "accuracy": run.section(section)[name].accuracy(),
                      "difference": cmp["rivals"][name]["accuracy_difference"],
                      "mcnemar": cmp["rivals"][name]["mcnemar"]}
      rows.append(row)
  return rows
