"""Multi-seed stability: mean and standard deviation of every metric of every model across seeds."""

from __future__ import annotations

import numpy as np

METRICS = ("accuracy", "precision", "recall", "f1", "specificity")


def aggregate(runs: list[dict]) -> dict:
  """Summarises results.json contents of several seeds.

  Args:
    runs: one results dict per seed (each with 'models' and 'collaborative' sections).

  Returns:
    {section: {model: {split: {metric: {'mean', 'sd', 'values'}}}}}; sd is the sample standard
    deviation (ddof=1; 0 for a single seed). Models missing from some seed are summarised over the
    seeds that have them.
  """
  out: dict = {}
  for section in ("models", "collaborative"):
    names = []
    for run in runs:
      names += [n for n in run.get(section, {}) if n not in names]
    out[section] = {}
    for name in names:
      entries = [run[section][name] for run in runs if name in run.get(section, {})]
      out[section][name] = {}
      for split in ("val", "test"):
        out[section][name][split] = {}
        for metric in METRICS:
          values = np.array([e[split][metric] for e in entries], dtype=np.float64)
          sd = float(values.std(ddof=1)) if len(values) > 1 else 0.0
          out[section][name][split][metric] = {"mean": float(values.mean()), "sd": sd, "values": values.tolist()}
  return out
