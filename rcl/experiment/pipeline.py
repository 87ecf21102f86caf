"""An experiment end to end, as a short list of stages, and its repetition over seeds."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from rcl import files
from rcl.analysis import stability
from rcl.config import ExperimentConfig
from rcl.experiment import (boundary, collaborative, components, data as data_stage, feature_study, identity,
                            sweep, training, trust)
from rcl.experiment.progress import EpochLog, FoldLog, Log
from rcl.models import monikers
from rcl.report import markdown, provenance
from rcl.results import RunResults
from rcl.train import sharding
from rcl.workdir import CONFIG, REPORT, RESULTS, Workdir


def run_experiment(config: ExperimentConfig, *, command: str = "", log: Log = lambda s: None,
                   on_epoch: EpochLog | None = None, on_fold: FoldLog | None = None) -> RunResults:
  """Runs the configured experiment under `config.workdir`: config.json, vocabulary.json, splits.json,
  data_summary.json, seen.npz, models/<name>/{checkpoints,history.json,features.npz,novelty.npz}, figures/,
  results.json
  (rewritten after every stage) and report.md.

  Rerunning the same configuration resumes each model from its latest checkpoint. Everything that can
  refuse the run (data, devices, checkpoints of other settings in the workdir) is checked before the
  first write, so a refused run changes nothing. Returns the results.json content as a `RunResults`.
  """
  if os.path.exists(config.workdir) and not os.path.isdir(config.workdir):
    raise ValueError(f"workdir {config.workdir} is a file, not a directory: name a new or existing directory")
  if config.components_from and not os.path.isfile(Workdir(config.components_from).file(CONFIG)):
    raise ValueError(f"--components_from={config.components_from} is not an rcl experiment directory "
                     f"(no config.json)")
  workdir = Workdir(config.workdir)
  data = data_stage.load(config, log=log, on_fold=on_fold)
  identity.check_workdir(config, data)
  if config.data_parallel:
    mesh = sharding.data_mesh()
    for batch_size in {b for f in config.fits() for b in (f.batch_size, f.eval_batch_size)}:
      sharding.check_batch_size(batch_size, mesh)
  os.makedirs(config.workdir, exist_ok=True)
  files.write_json(workdir.file(CONFIG), {"command": command, **dataclasses.asdict(config)})
  data_stage.write(config, data)
  out = RunResults(config.data.dataset, config.seed, provenance.environment(), data.summary["protocol"])
  path = workdir.file(RESULTS)
  component_features, component_states = {}, {}
  for moniker in monikers.parse_monikers(config.models):
    out.models[moniker.name], component_features[moniker.name], state = components.train_component(
        config, data, moniker, log=log, on_epoch=on_epoch)
    if moniker.input_kind == "seq":  # flanks change a record's fold: structure readers sit out boundary noise
      component_states[moniker.name] = (state, config.bucket_lengths(moniker.arch))
    out.write(path)
  collab_results, collab_models = collaborative.stage(config, data, component_features, out.models, log=log,
                                                      on_epoch=on_epoch)
  out.ensembles, out.collaborative = collab_results["ensembles"], collab_results["collaborative"]
  out.write(path)
  stages = (lambda: boundary.stage(config, data, component_states, collab_models, log=log),
            lambda: trust.stage(config, data, component_states, collab_models, component_features, log=log),
            lambda: feature_study.stage(config, component_features, log=log),
            lambda: sweep.stage(config, data, log=log, on_epoch=on_epoch))
  for stage in stages:
    out.studies.update(stage())
    out.write(path)
  files.write_text(workdir.file(REPORT), markdown.report(config, out, data.summary, command))
  log(f"wrote {path} and report.md")
  return out


def run_seeds(config: ExperimentConfig, seeds: Sequence[int], *, command: str = "", log: Log = lambda s: None,
              on_epoch: EpochLog | None = None, on_fold: FoldLog | None = None) -> dict:
  """Repeats the whole pipeline (split, components, collaborative models) once per seed, in
  `workdir/seed_<k>/`, then writes `workdir/results.json` and `report.md` with mean +- sd per model."""
  runs = []
  for seed in seeds:
    log(f"=== seed {seed} ===")
    seeded = dataclasses.replace(config, seed=seed, workdir=Workdir(config.workdir).seed(seed).root)
    runs.append(run_experiment(seeded, command=command, log=log, on_epoch=on_epoch, on_fold=on_fold))
  return summarize_seeds(config, seeds, runs, command=command, log=log)


def summarize_seeds(config: ExperimentConfig, seeds: Sequence[int], runs: Sequence[RunResults], *, command: str = "",
                    log: Log = lambda s: None) -> dict:
  """Writes `workdir/results.json` and `report.md` with mean +- sd per model over the seeds' results (the
  results.json of each `workdir/seed_<k>/` run, in the order of `seeds`)."""
  workdir = Workdir(config.workdir)
  summary = {"dataset": config.data.dataset, "seeds": list(seeds), "environment": provenance.environment(),
             "protocol": runs[0].protocol, "stability": stability.aggregate(runs),
             "comparisons": stability.comparisons(runs),
             "per_seed": {str(s): os.path.relpath(workdir.seed(s).file(RESULTS), workdir.root) for s in seeds}}
  files.write_json(workdir.file(RESULTS), summary)
  files.write_text(workdir.file(REPORT), markdown.stability_report(config, summary, command))
  log(f"wrote {workdir.file(RESULTS)} (mean +- sd over {len(seeds)} seeds)")
  return summary
