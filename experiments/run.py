"""Entry point: `python -m experiments.run --flagfile=experiments/test13.flags`.

Kept short on purpose: every field of `rcl.config.ExperimentConfig` is a flag (experiments/config_flags.py),
the flags become the configuration, and the library does the work.
"""

import dataclasses
import json
import logging as std_logging
import os
import shlex
import sys

import jax
from absl import app, flags, logging

from experiments import config_flags
from rcl import allocator, files, portable_cpu
from rcl.config import ExperimentConfig, read
from rcl.data import location
from rcl.experiment import spread, variance
from rcl.experiment.pipeline import run_experiment, run_seeds
from rcl.train import distributed, sharding

config_flags.define(ExperimentConfig())
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Directory the FASTA paths are relative to (default: $RCL_DATA_DIR, else ../shared/data if "
    "present, else ~/.cache/rcl/data, where missing data sets are fetched; rcl/data/location.py).")
_SEEDS = flags.DEFINE_list("seeds", [], "Repeat the whole pipeline per seed and report mean +- sd (overrides --seed).")
flags.register_validator("seeds", lambda v: all(s.lstrip("-").isdigit() for s in v), "--seeds takes integers")
_VARY = flags.DEFINE_list(
    "vary", [], "A variance study: the seed sources to vary one at a time (split, init, order, noise, collab), "
    "each over --trials trials, and all of them together; report.md gives test accuracy's sd per source "
    "(rcl/experiment/variance.py).")
_TRIALS = flags.DEFINE_integer("trials", 5, "Trials per seed source of a --vary study (trial 0: --seed).", lower_bound=2)
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed", False, "Run as one of several processes with JAX's distributed runtime (automatic under SLURM, "
    "Open MPI or a Cloud TPU pod slice with several processes); --data_parallel then spans every process's devices.")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None,
                                   "host:port of process 0 (default: $JAX_COORDINATOR_ADDRESS, else the launcher's).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Processes in the run (default: $JAX_NUM_PROCESSES, "
                                      "else the launcher's).", lower_bound=1)
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index, 0 to num_processes - 1 (default: "
                                   "$JAX_PROCESS_ID, else the launcher's).", lower_bound=0)
_HEARTBEAT = flags.DEFINE_integer("heartbeat_timeout", 100, "Seconds without a heartbeat after which a process "
                                  "counts as dead and the others stop with an error.", lower_bound=1)
_SPREAD = flags.DEFINE_bool(
    "spread", False, "With several processes: instead of data parallel across them, deal the --seeds (else the "
    "sweep's levels) out to the processes, each training its share alone; process 0 writes the gathered report "
    "(rcl/experiment/spread.py).")
_SPREAD_GROUP = flags.DEFINE_integer(
    "spread_group", 1, "With --spread: processes per group; each group trains its share as one distributed job of "
    "its own (data parallel over the group's devices with --data_parallel).", lower_bound=1)
_JOIN_TIMEOUT = flags.DEFINE_integer("join_timeout", 300, "Seconds to wait for every process to join.", lower_bound=1)
_CONFIG_FILE = flags.DEFINE_string(
    "config_file", None, "Run exactly the configuration in this JSON file (a run's config.json, or a --spread "
    "share's); the experiment flags are then ignored.")
_PORTABLE_CPU = flags.DEFINE_bool(
    "portable_cpu", None, "On an x86-64 CPU, hold XLA's code to AVX2, portable math and 2 CPUs so that the run's "
    "numbers do not depend on the processor (rcl/portable_cpu.py; no effect on accelerators). Default: on where it "
    "costs little, a data-parallel run over --cpu_devices >= 2 on a 2-CPU machine (every small profile on CI's "
    "machines); off elsewhere, where it would slow training by over 10% (BUILD.md).")
_CPU_DEVICES = flags.DEFINE_integer(
    "cpu_devices", 0, "On a CPU, run as this many host devices (one per core) so that --data_parallel uses every "
    "core; 0 leaves JAX's default (one).", lower_bound=0)


def _progress():
  seconds = {}

  def on_epoch(name, epoch, epochs, logs):
    seconds.setdefault(name, []).append(logs["seconds"])
    recent = seconds[name][-5:]
    eta = sum(recent) / len(recent) * (epochs - epoch)
    print(f"[{name}] epoch {epoch}/{epochs}  loss {logs['train_loss']:.4f}  acc {logs['train_accuracy']:.4f}  "
          f"val_loss {logs['val_loss']:.4f}  val_acc {logs['val_accuracy']:.4f}  "
          f"{logs['seconds']:.1f}s  ETA {eta / 60:.1f} min", flush=True)
  return on_epoch


def _fold_progress():
  shown = [-1]

  def on_fold(done, total):
    tenth = done * 10 // max(total, 1)
    if tenth != shown[0]:
      shown[0] = tenth
      print(f"  folded {done}/{total}", flush=True)
  return on_fold


def _configuration() -> ExperimentConfig:
  """The run's configuration: from --config_file (its data paths already resolved), else from the flags, their
  data paths taken relative to the data directory."""
  if _CONFIG_FILE.value:
    with open(_CONFIG_FILE.value, encoding="utf-8") as f:
      values = json.load(f)
    values.pop("command", None)  # a run's config.json records its command line beside the configuration
    return read(values)
  config = config_flags.build(ExperimentConfig())
  return dataclasses.replace(config, data=config.data.resolved(location.data_dir(_DATA_DIR.value).path))


def _portable() -> bool:
  """Whether this run takes the portable CPU mode: as --portable_cpu says, else where it costs little."""
  if _PORTABLE_CPU.value is not None:
    return _PORTABLE_CPU.value
  return portable_cpu.costs_little(_CPU_DEVICES.value)


def _share_command(config_file: str, coordinates: spread.Coordinates | None) -> list[str]:
  """A --spread share's child: this entry point on the share's configuration, with this job's process settings,
  single-process or one process of the group's own distributed job."""
  job = [f"--cpu_devices={_CPU_DEVICES.value}", f"--portable_cpu={_portable()}",
         f"--heartbeat_timeout={_HEARTBEAT.value}",
         f"--join_timeout={_JOIN_TIMEOUT.value}"]
  place = ["--nodistributed"] if coordinates is None else [
      "--distributed", f"--coordinator_address={coordinates.address}", f"--num_processes={coordinates.num_processes}",
      f"--process_id={coordinates.process_id}"]
  return [sys.executable, "-m", "experiments.run", f"--config_file={config_file}", *job, *place]


def main(argv):
  del argv
  allocator.restart_with_huge_pages()  # XLA's per-call buffers (rcl/allocator.py)
  spread.stop_with_parent()  # a share of a --spread job ends with the process that started it
  logging.set_verbosity(logging.ERROR)  # Orbax logs every save at INFO and read-only opens at WARNING
  std_logging.getLogger("rcl").setLevel(std_logging.WARNING)  # rcl's own warnings (e.g. a damaged checkpoint)
  if _portable():
    portable_cpu.request()  # before JAX starts a backend
  elif (_PORTABLE_CPU.value is None and portable_cpu.applies() and not portable_cpu.accelerator_installed()
        and not portable_cpu.active()):
    print("note: the portable CPU mode is off (it would cost over 10% here), so this run's numbers may differ on "
          "another CPU kind; --portable_cpu turns it on (BUILD.md, 'Reproducible on any x86-64 CPU')", flush=True)
  if _CPU_DEVICES.value:
    sharding.request_cpu_devices(_CPU_DEVICES.value)  # before JAX starts a backend
  command = shlex.join(["python", "-m", "experiments.run"] + sys.argv[1:])
  try:
    several = distributed.initialize(_DISTRIBUTED.value, coordinator=_COORDINATOR.value,
                                     num_processes=_NUM_PROCESSES.value, process_id=_PROCESS_ID.value,
                                     heartbeat_timeout=_HEARTBEAT.value, init_timeout=_JOIN_TIMEOUT.value)
  except (ValueError, RuntimeError) as e:  # a missing process: the coordinator's join times out
    sys.exit(f"error: the distributed runtime did not start: {e}")
  if _SPREAD.value and several:  # the processes only exchange results: the accelerators are left to the shares
    jax.config.update("jax_platforms", "cpu")  # (no backend exists yet)
  elif _SPREAD.value:
    print("--spread: this run is a single process (no --distributed, no launcher), so it does all the work itself",
          flush=True)
  callbacks = {"log": lambda s: print(s, flush=True), "on_epoch": _progress(), "on_fold": _fold_progress()}
  if not files.is_writer():  # process 0 alone reports
    callbacks = {"log": lambda s: None, "on_epoch": None, "on_fold": None}
  try:
    config = _configuration()
    data = config.data
    location.require(data.files + data.train_files + data.val_files + data.test_files,
                     location.data_dir(_DATA_DIR.value), progress=lambda line: print(line, flush=True))
    if _VARY.value and (_SEEDS.value or _SPREAD.value):
      raise ValueError("--vary runs its own seeds: it takes neither --seeds nor --spread")
    if _VARY.value:
      variance.run(config, _VARY.value, _TRIALS.value, command=command, **callbacks)
    elif _SPREAD.value and several:
      spread.run(config, [int(s) for s in _SEEDS.value], _share_command, group_size=_SPREAD_GROUP.value,
                 command=command, log=lambda line: print(f"[process {jax.process_index()}] {line}", flush=True))
    elif _SEEDS.value:
      run_seeds(config, [int(s) for s in _SEEDS.value], command=command, **callbacks)
    else:
      run_experiment(config, command=command, **callbacks)
  except (ValueError, OSError) as e:  # bad input, refused resumption, a full disk: one line, no traceback
    sys.exit(f"error: {e}")
  except jax.errors.JaxRuntimeError as e:
    if not several:
      raise
    print(f"error: process {jax.process_index()} of {jax.process_count()}: a collective operation failed "
          f"({str(e).splitlines()[0][:300]}). Another process of this run has probably stopped: see its log, "
          "then relaunch every process with the same flags to resume from the last checkpoint", file=sys.stderr,
          flush=True)
    sys.stdout.flush()
    os._exit(1)  # JAX's exit handler would wait on, then abort in, the failed distributed service


if __name__ == "__main__":
  app.run(main)
