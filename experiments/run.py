"""Entry point: `python -m experiments.run --flagfile=experiments/test13.flags`.

Kept short on purpose: every field of `rcl.config.ExperimentConfig` is a flag (experiments/config_flags.py),
the flags become the configuration, and the library does the work.
"""

import dataclasses
import logging as std_logging
import shlex
import sys

from absl import app, flags, logging

from experiments import config_flags
from rcl.config import ExperimentConfig
from rcl.data import location
from rcl.experiment.pipeline import run_experiment, run_seeds
from rcl.train import sharding

config_flags.define(ExperimentConfig())
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Directory the FASTA paths are relative to (default: $RCL_DATA_DIR, else ../shared/data if "
    "present, else ~/.cache/rcl/data, where missing data sets are fetched; rcl/data/location.py).")
_SEEDS = flags.DEFINE_list("seeds", [], "Repeat the whole pipeline per seed and report mean +- sd (overrides --seed).")
flags.register_validator("seeds", lambda v: all(s.lstrip("-").isdigit() for s in v), "--seeds takes integers")
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


def main(argv):
  del argv
  logging.set_verbosity(logging.ERROR)  # Orbax logs every save at INFO and read-only opens at WARNING
  std_logging.getLogger("rcl").setLevel(std_logging.WARNING)  # rcl's own warnings (e.g. a damaged checkpoint)
  if _CPU_DEVICES.value:
    sharding.request_cpu_devices(_CPU_DEVICES.value)  # before JAX starts a backend
  command = shlex.join(["python", "-m", "experiments.run"] + sys.argv[1:])
  callbacks = {"log": lambda s: print(s, flush=True), "on_epoch": _progress(), "on_fold": _fold_progress()}
  try:
    config = config_flags.build(ExperimentConfig())
    where = location.data_dir(_DATA_DIR.value)
    config = dataclasses.replace(config, data=config.data.resolved(where.path))
    data = config.data
    location.require(data.files + data.train_files + data.val_files + data.test_files, where,
                     progress=lambda line: print(line, flush=True))
    if _SEEDS.value:
      run_seeds(config, [int(s) for s in _SEEDS.value], command=command, **callbacks)
    else:
      run_experiment(config, command=command, **callbacks)
  except (ValueError, OSError) as e:  # bad input, refused resumption, a full disk: one line, no traceback
    sys.exit(f"error: {e}")


if __name__ == "__main__":
  app.run(main)
