"""Independent work spread over a job's processes (`experiments.run --spread`).

Where running the same model on every process is wasteful, the processes of a distributed job (started as
for data parallel: --distributed, or a cluster launcher) share out work that needs no communication:

- with --seeds, the seeds, dealt round-robin (process k trains seeds[k::count]), each a whole pipeline in
  `workdir/seed_<s>/` as a single-process --seeds run makes it;
- else the regularisation sweep's levels, dealt round-robin: process k trains its levels as one population
  in `workdir/sweep_levels_<levels>/`, and process 0 also runs the rest of the experiment (components,
  collaborative models, analysis) in `workdir` itself.

Each share runs as an ordinary single-process run (a child `experiments.run` without the job's process
variables, on this process's own devices, with its own checkpoints: rerunning the job resumes every
share, and a share keyed by seed or by its levels is found again by a job of another process count).
The runtime's key-value store then carries every share's results to every process
(`rcl.train.distributed.gather`), and process 0 writes the one results.json and report.md: the seeds'
mean +- sd, or the sweep's rows merged into the experiment's results. Nothing crosses processes but
results, so workdir need not be on a shared file system (process 0 keeps a copy of every seed's
results.json).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Sequence

import jax

from rcl.config import ExperimentConfig
from rcl.experiment import pipeline, results, sweep
from rcl.report import markdown
from rcl.train import distributed

Log = Callable[[str], None]
# Flags appended to the job's own to make a share's child command (later flags override earlier ones).
Child = Callable[[Sequence[str]], list[str]]


def deal(items: Sequence, index: int, count: int) -> list:
  """Process `index`'s share of `items` out of `count` processes: every count-th item from its index."""
  return list(items)[index::count]


def _run(argv: list[str], what: str) -> str | None:
  """Runs one share as a single-process child (its output passes through); None on success, else the
  error to report."""
  env = {k: v for k, v in os.environ.items() if k not in distributed.PROCESS_VARIABLES}
  status = subprocess.run(argv, env=env, check=False).returncode
  if status == 0:
    return None
  return f"process {jax.process_index()}: {what} failed (exit status {status}; its error is in this process's output)"


def _read(path: str) -> dict:
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def _gather(name: str, mine: dict, log: Log) -> dict:
  """Every process's share results (a dict of JSON-able entries), merged; raises ValueError naming every
  failed share."""
  def waiting(missing, seconds):
    log(f"waiting for process(es) {', '.join(map(str, missing))} to finish their shares ({seconds / 60:.0f} min)")

  merged: dict = {}
  for text in distributed.gather(name, json.dumps(mine), on_wait=waiting):
    merged.update(json.loads(text))
  errors = [entry["error"] for entry in merged.values() if "error" in entry]
  if errors:
    raise ValueError("; ".join(errors) + ". Rerun the job with the same flags to resume every share")
  return merged


def run(config: ExperimentConfig, seeds: Sequence[int], child: Child, *, command: str = "",
        log: Log = lambda s: None) -> dict:
  """Runs this process's share of the seeds (or else of the sweep's levels) and waits for the others';
  process 0 then writes and returns the gathered results.json content (the others return {})."""
  index, count = jax.process_index(), jax.process_count()
  if seeds:
    return _seeds(config, seeds, child, index, count, command, log)
  if config.sweep.model:
    return _sweep(config, child, index, count, command, log)
  raise ValueError("--spread deals out --seeds or the sweep's levels (--sweep_model): this run has neither")


def _seeds(config, seeds, child, index, count, command, log) -> dict:
  mine = {}
  for seed in deal(seeds, index, count):
    workdir = os.path.join(config.workdir, f"seed_{seed}")
    log(f"=== process {index}: seed {seed} ===")
    error = _run(child(["--seeds=", f"--seed={seed}", f"--workdir={workdir}"]), f"seed {seed}")
    mine[str(seed)] = {"error": error} if error else _read(os.path.join(workdir, "results.json"))
  runs = _gather("seeds", mine, log)
  if index != 0:
    return {}
  for seed in seeds:  # a copy beside process 0's summary, unless the file system is shared
    path = os.path.join(config.workdir, f"seed_{seed}", "results.json")
    if not os.path.exists(path):
      os.makedirs(os.path.dirname(path), exist_ok=True)
      results.write_json(path, runs[str(seed)])
  return pipeline.summarize_seeds(config, seeds, [runs[str(s)] for s in seeds], command=command, log=log)


def _sweep(config, child, index, count, command, log) -> dict:
  mine = {}
  if index == 0:
    log("=== process 0: the experiment without its sweep ===")
    error = _run(child(["--sweep_model="]), "the experiment")
    mine["experiment"] = {"error": error} if error else {}
  levels = deal(config.sweep.levels, index, count)
  if levels:
    workdir = os.path.join(config.workdir, "sweep_levels_" + "_".join(f"{lv:g}" for lv in levels))
    log(f"=== process {index}: sweep levels {levels} ===")
    error = _run(child(["--models=", "--collab=", "--cca_trials=0", "--sweep_levels=" + ",".join(map(str, levels)),
                        f"--workdir={workdir}"]), f"sweep levels {levels}")
    mine[f"sweep {index}"] = {"error": error} if error else _read(os.path.join(workdir, "results.json"))["sweep"]
  parts = [entry for name, entry in _gather("sweep", mine, log).items() if name.startswith("sweep")]
  if index != 0:
    return {}
  out = _read(os.path.join(config.workdir, "results.json"))
  out["sweep"] = sweep.merge(parts, os.path.join(config.workdir, "sweep"))
  results.write_json(os.path.join(config.workdir, "results.json"), out)
  summary = _read(os.path.join(config.workdir, "data_summary.json"))
  results.write_text(os.path.join(config.workdir, "report.md"), markdown.report(config, out, summary, command))
  log(f"wrote {os.path.join(config.workdir, 'results.json')} with the sweep's {len(out['sweep']['levels'])} levels "
      f"from {len(parts)} process(es)")
  return out
