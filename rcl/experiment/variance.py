"""The variance study: the whole pipeline once per trial, one seed source varied at a time, and the spread of
test accuracy each source causes (`rcl.analysis.variance`).

Trial t of source s runs with s's seed at --seed + t and every other source at --seed (`rcl.config.seeds`);
trial 0 of every source is the same run, the base, trained once. The total spread's trials set every source
to --seed + t together. Each trial is a run of its own in workdir/variance/ (`Workdir.trial`), resumed
like any run, reading the base's trained components where they are identical to its own (those of a
collaborative-MLP trial); the study writes workdir/results.json ('variance') and report.md.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from rcl import files
from rcl.analysis import variance
from rcl.config import ExperimentConfig
from rcl.config.seeds import SOURCES, Seeds
from rcl.experiment.pipeline import run_experiment
from rcl.experiment.progress import EpochLog, FoldLog, Log
from rcl.report import figures, provenance
from rcl.report import variance as variance_report
from rcl.results import RunResults
from rcl.workdir import REPORT, RESULTS, Workdir


def check(sources: Sequence[str], trials: int) -> None:
  """Raises ValueError unless `sources` are known seed sources and there are at least 2 trials."""
  unknown = [s for s in sources if s not in SOURCES]
  if not sources or unknown:
    raise ValueError(f"--vary takes seed sources among {', '.join(SOURCES)}; got {', '.join(sources) or 'none'}")
  if trials < 2:
    raise ValueError(f"--trials must be at least 2 (a standard deviation needs two runs), got {trials}")


def trial_config(config: ExperimentConfig, source: str, trial: int) -> ExperimentConfig:
  """The configuration of trial `trial` of `source` (or of `variance.TOTAL`, every source at once)."""
  seed = config.seed + trial
  if trial == 0:  # the base: every source at --seed
    seeds = config.seeds
  elif source == variance.TOTAL:
    seeds = Seeds(**{f"{s}_seed": seed for s in SOURCES})
  else:
    seeds = config.seeds.varied(source, seed)
  # A trial reads the base's trained components where they are identical (a collab trial's all are).
  reuse = config.components_from or (None if trial == 0 else Workdir(config.workdir).trial(source, 0).root)
  return dataclasses.replace(config, seeds=seeds, workdir=Workdir(config.workdir).trial(source, trial).root,
                             components_from=reuse)


def run(config: ExperimentConfig, sources: Sequence[str], trials: int, *, command: str = "", log: Log = lambda s: None,
        on_epoch: EpochLog | None = None, on_fold: FoldLog | None = None) -> dict:
  """Runs every trial (the base once), then writes the study's results.json and report.md; returns the summary."""
  check(sources, trials)
  if config.seeds != Seeds():
    raise ValueError("a variance study sets the per-source seeds itself: give --seed only")
  studied = [*sources, variance.TOTAL]
  done: dict[str, RunResults] = {}
  results = {}
  for source in studied:
    results[source] = []
    for trial in range(trials):
      one = trial_config(config, source, trial)
      if one.workdir not in done:
        log(f"=== variance study: {'base seeds' if trial == 0 else f'{source} trial {trial}'} ({one.workdir}) ===")
        done[one.workdir] = run_experiment(one, command=command, log=log, on_epoch=on_epoch, on_fold=on_fold)
      results[source].append(done[one.workdir])
  workdir = Workdir(config.workdir)
  summary = variance.summarize(results)
  summary["figure"] = workdir.figure("variance")
  figures.variance(workdir.absolute(summary["figure"]), summary)
  out = {"dataset": config.data.dataset, "seed": config.seed, "environment": provenance.environment(),
         "variance": summary,
         "trials": {source: [os.path.relpath(Workdir(trial_config(config, source, t).workdir).file(RESULTS),
                                             workdir.root) for t in range(trials)] for source in studied}}
  files.write_json(workdir.file(RESULTS), out)
  files.write_text(workdir.file(REPORT), variance_report.report(out, command))
  log(f"wrote {workdir.file(RESULTS)} and report.md (variance over {trials} trials per source)")
  return out
