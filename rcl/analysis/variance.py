"""Variance by source: how much of test accuracy's spread each seed source causes (Bouthillier et al. 2021).

A study's trials vary one source's seed at a time, the others held at the base seed, and, for the total
spread, every source at once. Per model and source: the sample standard deviation of test accuracy over the
trials; also of each collaborative model's gain, its test accuracy minus that of its best component (chosen by
validation accuracy in the same trial).
"""

from __future__ import annotations

import numpy as np

from rcl.results import SECTIONS, RunResults

TOTAL = "all"  # the trials that vary every source together


def _gain_name(spec: str) -> str:
  return f"{spec} − best component"


def accuracies(run: RunResults) -> dict[str, float]:
  """Test accuracy of every model of a run, and every collaborative model's gain over its best component (by
  validation accuracy, as its comparison records it)."""
  out = {name: entry.accuracy() for name, entry in run.named(SECTIONS)}
  for spec, entry in run.collaborative.items():
    if entry.comparison is not None:
      out[_gain_name(spec)] = entry.accuracy() - run.models[entry.comparison["best_component"]].accuracy()
  return out


def summarize(trials: dict[str, list[RunResults]]) -> dict:
  """Per source (TOTAL included) and quantity: mean, sample sd (ddof=1) and the values over its trials.

  Args:
    trials: source -> the results of its trials, trial 0 (the base seeds) first.

  Returns:
    {'sources': [...], 'trials': {source: n}, 'quantities': [...], 'sd': {quantity: {source: {'mean', 'sd',
    'values'}}}}; a quantity missing from a trial is summarised over the trials that have it.
  """
  per_source = {source: [accuracies(run) for run in runs] for source, runs in trials.items()}
  quantities = []
  for rows in per_source.values():
    for row in rows:
      quantities += [q for q in row if q not in quantities]
  table = {}
  for quantity in quantities:
    table[quantity] = {}
    for source, rows in per_source.items():
      values = np.array([row[quantity] for row in rows if quantity in row], np.float64)
      if len(values):
        table[quantity][source] = {"mean": float(values.mean()),
                                   "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                                   "values": values.tolist()}
  return {"sources": list(trials), "trials": {s: len(r) for s, r in trials.items()}, "quantities": quantities,
          "sd": table}
