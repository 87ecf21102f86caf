"""Independent work spread over a job's processes (`experiments.run --spread`).

Where running the same model on every process is wasteful, the processes of a distributed job (started as
for data parallel: --distributed, or a cluster launcher) share out work that needs no communication. The
processes form groups of `--spread_group` consecutive processes (default 1: every process its own group),
and the work is dealt round-robin to the groups:

- with --seeds, the seeds (group g of n trains seeds[g::n]), each a whole pipeline in `workdir/seed_<s>/`
  as a single-process --seeds run makes it;
- else the regularisation sweep's levels: group g trains its levels as one population in
  `workdir/sweep_levels_<levels>/`, and group 0 also runs the rest of the experiment (components,
  collaborative models, analysis) in `workdir` itself.

Each share runs as an ordinary run of its own: a child `experiments.run` started from the share's
configuration (the job's, with the share's seed, levels and workdir, written to a JSON file) and none of
the job's process variables. A group of one runs it single-process on its own devices; the
processes of a larger group run it together as a distributed job of their own (its coordinator at the
group's first process, whose address the key-value store passes on), data parallel over the group's
devices with --data_parallel. Checkpoints are then a single job's, as Orbax expects: rerunning the job
resumes every share, and shares are keyed by seed or by their levels, so a job with another number of
groups finds the seeds again. The runtime's key-value store carries every share's results to every
process (`rcl.train.distributed.gather`), and process 0 writes the one results.json and report.md: the
seeds' mean +- sd, or the sweep's rows merged into the experiment's results. Only results cross groups,
so workdir need not be on a shared file system (process 0 keeps a copy of every seed's results.json).
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence

import jax

from rcl import files
from rcl.config import ExperimentConfig
from rcl.experiment import pipeline, sweep
from rcl.experiment.progress import Log
from rcl.report import markdown
from rcl.results import RunResults
from rcl.train import distributed
from rcl.workdir import DATA_SUMMARY, REPORT, RESULTS, Workdir


@dataclasses.dataclass(frozen=True)
class Coordinates:
  """Where a process stands in a share's own distributed job: its coordinator's host:port, the job's
  process count and this process's index."""
  address: str
  num_processes: int
  process_id: int


# A share's child command: from its configuration file and, for a group of several processes, its place in
# the group's job (the entry point turns both into its own command line).
Child = Callable[[str, Coordinates | None], list[str]]
_PARENT = "RCL_SPREAD_PARENT"  # a share's child learns its spreading process's pid from this variable


def stop_with_parent(poll_s: float = 2.0) -> None:
  """In a share's child: exits (status 1) once the process that started it is gone, e.g. stopped by the
  runtime when a process of the job died, so that no orphan trains on unseen. Its checkpoints stay for
  the rerun (each is written whole). No-op in any other run."""
  parent = os.environ.get(_PARENT)
  if not parent:
    return

  def watch():
    while os.getppid() == int(parent):
      time.sleep(poll_s)
    print("error: the process that started this share has stopped, so this share stops too; rerun the job with "
          "the same flags to resume", file=sys.stderr, flush=True)
    os._exit(1)

  threading.Thread(target=watch, name="stop_with_parent", daemon=True).start()


def deal(items: Sequence, index: int, count: int) -> list:
  """Group `index`'s share of `items` out of `count` groups: every count-th item from its index."""
  return list(items)[index::count]


@dataclasses.dataclass
class _Group:
  """This process's group: its index among `count` groups, this process's rank in it, its size."""
  index: int
  count: int
  rank: int
  size: int
  child: Child
  log: Log
  runs: int = 0

  def run(self, config: ExperimentConfig, what: str) -> str | None:
    """Runs one share, `config`, as this process's part of a child job (its output passes through); None on
    success, else the error to report."""
    coordinates = None
    if self.size > 1:  # the group's own distributed job, coordinated from its first process
      key = f"rcl/spread/group_{self.index}/run_{self.runs}"
      self.runs += 1
      if self.rank == 0:
        with socket.socket() as s:
          s.bind(("", 0))
          distributed.publish(key, f"{socket.gethostname()}:{s.getsockname()[1]}")
      address = distributed.wait_for(key, on_wait=lambda seconds: self.log(
          f"waiting for the first process of group {self.index} to start {what} ({seconds / 60:.0f} min)"))
      coordinates = Coordinates(address, self.size, self.rank)
    env = {k: v for k, v in os.environ.items() if k not in distributed.PROCESS_VARIABLES}
    env[_PARENT] = str(os.getpid())
    # Every process writes its own copy (the workdir need not be shared, and the writer gate is process 0's).
    with tempfile.TemporaryDirectory() as folder:
      path = os.path.join(folder, "share_config.json")
      with open(path, "w", encoding="utf-8") as f:
        json.dump(dataclasses.asdict(config), f)
      status = subprocess.run(self.child(path, coordinates), env=env, check=False).returncode
    if status == 0:
      return None
    return (f"process {jax.process_index()}: {what} failed (exit status {status}; its error is in this process's "
            "output)")


def _read(path: str) -> dict:
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def _gather(name: str, mine: dict, log: Log) -> dict:
  """Every process's share results (a dict of JSON-able entries), merged; raises ValueError naming every
  failed share."""
  def waiting(process, seconds):
    log(f"waiting for process {process} to finish its shares ({seconds / 60:.0f} min)")

  merged: dict = {}
  for text in distributed.gather(name, json.dumps(mine), on_wait=waiting):
    merged.update(json.loads(text))
  errors = [entry["error"] for entry in merged.values() if "error" in entry]
  if errors:
    raise ValueError("; ".join(errors) + ". Rerun the job with the same flags to resume every share")
  return merged


def run(config: ExperimentConfig, seeds: Sequence[int], child: Child, *, group_size: int = 1, command: str = "",
        log: Log = lambda s: None) -> dict:
  """Runs this process's group's share of the seeds (or else of the sweep's levels) and waits for the
  others'; process 0 then writes and returns the gathered results.json content (the others return {})."""
  index, count = jax.process_index(), jax.process_count()
  if group_size < 1 or count % group_size:
    raise ValueError(f"--spread_group={group_size} must divide the job's {count} processes")
  group = _Group(index // group_size, count // group_size, index % group_size, group_size, child, log)
  if seeds:
    return _seeds(config, seeds, group, command, log)
  if config.sweep.model:
    return _sweep(config, group, command, log)
  raise ValueError("--spread deals out --seeds or the sweep's levels (--sweep_model): this run has neither")


def _entry(group: _Group, error: str | None, read: Callable[[], dict]) -> dict:
  """A share's entry: its error, else (from the group's first process, whose child wrote it) its results."""
  return {"error": error} if error else read() if group.rank == 0 else {}


def _seeds(config, seeds, group: _Group, command, log) -> dict:
  mine = {}
  for seed in deal(seeds, group.index, group.count):
    workdir = Workdir(config.workdir).seed(seed)
    log(f"=== group {group.index}: seed {seed} ===")
    error = group.run(dataclasses.replace(config, seed=seed, workdir=workdir.root), f"seed {seed}")
    mine[f"{seed}/{group.rank}"] = _entry(group, error, lambda: _read(workdir.file(RESULTS)))
  runs = _gather("seeds", mine, log)
  if jax.process_index() != 0:
    return {}
  runs = {key.split("/")[0]: entry for key, entry in runs.items() if key.endswith("/0")}
  for seed in seeds:  # a copy beside process 0's summary, unless the file system is shared
    path = Workdir(config.workdir).seed(seed).file(RESULTS)
    if not os.path.exists(path):
      os.makedirs(os.path.dirname(path), exist_ok=True)
      files.write_json(path, runs[str(seed)])
  return pipeline.summarize_seeds(config, seeds, [RunResults.from_json(runs[str(s)]) for s in seeds], command=command,
                                 log=log)


def _sweep(config, group: _Group, command, log) -> RunResults | dict:
  mine = {}
  if group.index == 0:
    log("=== group 0: the experiment without its sweep ===")
    experiment = dataclasses.replace(config, sweep=dataclasses.replace(config.sweep, model=""))
    mine[f"experiment/{group.rank}"] = _entry(group, group.run(experiment, "the experiment"), dict)
  levels = deal(config.sweep.levels, group.index, group.count)
  if levels:
    workdir = Workdir(os.path.join(config.workdir, "sweep_levels_" + "_".join(f"{lv:g}" for lv in levels)))
    log(f"=== group {group.index}: sweep levels {levels} ===")
    share = dataclasses.replace(config, workdir=workdir.root, models=(),
                                collab=dataclasses.replace(config.collab, specs=()),
                                analysis=dataclasses.replace(config.analysis, cca_trials=0),
                                sweep=dataclasses.replace(config.sweep, levels=tuple(levels)))
    error = group.run(share, f"sweep levels {levels}")
    mine[f"sweep {group.index}/{group.rank}"] = _entry(group, error, lambda: _read(workdir.file(RESULTS))["sweep"])
  parts = [entry for key, entry in _gather("sweep", mine, log).items() if key.startswith("sweep") and entry]
  if jax.process_index() != 0:
    return {}
  workdir = Workdir(config.workdir)
  out = RunResults.read(workdir.file(RESULTS))
  out.studies["sweep"] = sweep.merge(parts, workdir.sweep)
  out.write(workdir.file(RESULTS))
  summary = _read(workdir.file(DATA_SUMMARY))
  files.write_text(workdir.file(REPORT), markdown.report(config, out, summary, command))
  log(f"wrote {workdir.file(RESULTS)} with the sweep's {len(out.studies['sweep']['levels'])} levels "
      f"from {len(parts)} group(s)")
  return out
