"""Entry point: `python -m experiments.run --flagfile=experiments/test13.flags`.

Kept short on purpose: flags become an ExperimentConfig and the library does the work.
"""

import os
import shlex
import sys
import time

from absl import app, flags, logging

from rcl.experiment import ExperimentConfig, run_experiment, run_seeds
from rcl.models.monikers import Hyper
from rcl.train import sharding
from rcl.train.loop import SELECTION_RULES

_DATA_DIR = flags.DEFINE_string("data_dir", os.environ.get("RCL_DATA_DIR", "data"),
                                "Directory the FASTA paths are relative to (default: $RCL_DATA_DIR, else data/).")
_WORKDIR = flags.DEFINE_string("workdir", "runs/default", "Output directory; rerun to resume.")
_DATASET = flags.DEFINE_string("dataset", "Test13", "Name for reports (Test13 compares with the paper's Table 1).")
_FILES = flags.DEFINE_list("files", [], "FASTA files to merge, de-duplicate and split 80:10:10.")
_TRAIN = flags.DEFINE_list("train_files", [], "Explicit training FASTA files.")
_VAL = flags.DEFINE_list("val_files", [], "Explicit validation FASTA files (default: 10% of training).")
_TEST = flags.DEFINE_list("test_files", [], "Explicit test FASTA files.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the split, initialisation, shuffles and noise.")
_MODELS = flags.DEFINE_list("models", ["A"], "Component monikers to train (A-G).")
_MAX_LEN = flags.DEFINE_integer("max_len", 1000, "Pad or cut sequences to this length.")
_REG = flags.DEFINE_float("reg_level", 1.0, "Regularisation level lambda: noise sigma = lambda, dropout = lambda x 50%.")
_FILTERS = flags.DEFINE_integer("cnn_filters", None, "Override every CNN's filter count (small profiles).")
_KERNEL = flags.DEFINE_integer("cnn_kernel", 5, "CNN convolution width.")
_CNN_DENSE = flags.DEFINE_list("cnn_dense", ["128", "64"], "CNN dense widths (last = LD features).")
_HIDDEN = flags.DEFINE_integer("rnn_hidden", 64, "GRU units per direction.")
_RNN_DENSE = flags.DEFINE_list("rnn_dense", ["128", "64", "32"], "RNN dense widths (last = LD features).")
_CNN_EPOCHS = flags.DEFINE_integer("cnn_epochs", 500, "CNN training epochs (paper: 500).")
_RNN_EPOCHS = flags.DEFINE_integer("rnn_epochs", 220, "RNN training epochs (paper: 220).")
_CNN_EMA = flags.DEFINE_float("cnn_ema_decay", 0.0, "Per-step decay of a moving average of CNN parameters that is "
                              "validated, selected and kept instead of the raw ones (0: off, the paper).")
_RNN_EMA = flags.DEFINE_float("rnn_ema_decay", 0.0, "The same for RNN components (0: off, the paper).")
_CNN_CLIP = flags.DEFINE_float("cnn_clip_norm", 0.0, "Clip CNN gradients to this global norm before Adam "
                               "(0: no clipping, the paper).", lower_bound=0.0)
_RNN_CLIP = flags.DEFINE_float("rnn_clip_norm", 0.0, "The same for RNN components (0: no clipping, the paper).",
                               lower_bound=0.0)
_BATCH = flags.DEFINE_integer("batch_size", 64, "Training batch size.")
_BUCKETS = flags.DEFINE_list("rnn_buckets", [str(b) for b in ExperimentConfig.rnn_buckets],
                              "Padded lengths of the RNN's length buckets (those above --max_len are dropped and "
                              "--max_len added; empty: pad every batch to --max_len, the paper's way).")
flags.register_validator("rnn_buckets", lambda v: all(b.isdigit() and int(b) > 0 for b in v),
                         "--rnn_buckets takes positive integers separated by commas")
for _name in ("cnn_ema_decay", "rnn_ema_decay"):
  flags.register_validator(_name, lambda v: 0.0 <= v < 1.0, f"--{_name} must be in [0, 1)")
_LR = flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate (paper: Keras default).")
_CKPT = flags.DEFINE_integer("checkpoint_every", 1, "Epochs between resumable checkpoints.")
_SELECT = flags.DEFINE_enum("selection", "best_val_accuracy", list(SELECTION_RULES), "Model selection rule.")
_CACHE = flags.DEFINE_string("structure_cache", os.environ.get("RCL_CACHE_DIR", os.path.expanduser("~/.cache/rcl/structures")),
                              "Directory caching ViennaRNA structures (default: $RCL_CACHE_DIR or ~/.cache/rcl/structures).")
_FOLD_WORKERS = flags.DEFINE_integer("fold_workers", 0, "Processes folding structures (0: one per CPU).")
_BURN_IN = flags.DEFINE_integer("burn_in", 10, "Epochs left out of the joint learning coefficient (eq. 1).")
_COLLAB = flags.DEFINE_list("collab", [], "Collaborative models, e.g. 'LD(A)+LD(E)' (several: comma-separated).")
_COLLAB_EPOCHS = flags.DEFINE_integer("collab_epochs", 100, "Epochs of each collaborative MLP.")
_COLLAB_FEATURES = flags.DEFINE_enum(
    "collab_train_features", ExperimentConfig.collab_train_features, ["sampled", "in_sample"],
    "What collaborative MLPs learn from on the training split: 'sampled' (training-mode passes of the "
    "components, noise and dropout on) or 'in_sample' (the paper: deterministic training-set features).")
_COLLAB_DRAWS = flags.DEFINE_integer("collab_draws", ExperimentConfig.collab_draws,
                                     "Training-mode passes per component for --collab_train_features=sampled.",
                                     lower_bound=1)
_COLLAB_NOISE = flags.DEFINE_float("collab_input_noise", ExperimentConfig.collab_input_noise,
                                   "Gaussian noise sigma on the collaborative MLP's standardised inputs.",
                                   lower_bound=0.0)
_COLLAB_SELECT = flags.DEFINE_enum("collab_selection", ExperimentConfig.collab_selection, list(SELECTION_RULES),
                                   "Model selection rule of the collaborative MLPs.")
_SWEEP = flags.DEFINE_string("sweep_model", None, "Moniker to train at every --sweep_levels as one population (Fig. 3-4).")
_SWEEP_LEVELS = flags.DEFINE_list("sweep_levels", ["0", "0.2", "0.4", "0.6", "0.8", "1.0", "1.2", "1.4", "1.6", "1.8"],
                                  "Regularisation levels lambda of the sweep.")
_SWEEP_EPOCHS = flags.DEFINE_integer("sweep_epochs", 500, "Epochs of the sweep.")
_CCA_PAIR = flags.DEFINE_list("cca_pair", ["A", "E"], "Components whose validation LD features CCA/PCA compares.")
_CCA_TRIALS = flags.DEFINE_integer("cca_trials", 0, "Monte Carlo trials per rho (paper: 1000); 0 skips the analysis.")
_CCA_RHOS = flags.DEFINE_integer("cca_rhos", 21, "Points of the rho grid in [0, 1].")
_COMPONENTS_FROM = flags.DEFINE_string(
    "components_from", None, "Another workdir whose trained components are reused, read only, where they are "
    "identical to the ones asked for (same model, data split and training settings); others train here.")
_SEEDS = flags.DEFINE_list("seeds", [], "Repeat the whole pipeline per seed and report mean +- sd (overrides --seed).")
_PARALLEL = flags.DEFINE_bool("data_parallel", False, "Split batches over all local devices.")
_CPU_DEVICES = flags.DEFINE_integer("cpu_devices", 0, "On a CPU, run as this many host devices (one per core) so "
                                    "that --data_parallel uses every core; 0 leaves JAX's default (one).")


def _resolve(paths):
  return tuple(p if os.path.isabs(p) else os.path.join(_DATA_DIR.value, p) for p in paths)


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
  logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO
  if _CPU_DEVICES.value:
    sharding.request_cpu_devices(_CPU_DEVICES.value)  # before JAX starts a backend
  config = ExperimentConfig(
      workdir=_WORKDIR.value, files=_resolve(_FILES.value), train_files=_resolve(_TRAIN.value),
      val_files=_resolve(_VAL.value), test_files=_resolve(_TEST.value), dataset=_DATASET.value,
      seed=_SEED.value, max_len=_MAX_LEN.value, models=tuple(_MODELS.value),
      hyper=Hyper(reg_level=_REG.value, cnn_filters=_FILTERS.value, cnn_kernel=_KERNEL.value,
                  cnn_dense=tuple(map(int, _CNN_DENSE.value)), rnn_hidden=_HIDDEN.value,
                  rnn_dense=tuple(map(int, _RNN_DENSE.value))),
      cnn_epochs=_CNN_EPOCHS.value, rnn_epochs=_RNN_EPOCHS.value, cnn_ema_decay=_CNN_EMA.value,
      rnn_ema_decay=_RNN_EMA.value, cnn_clip_norm=_CNN_CLIP.value,
      rnn_clip_norm=_RNN_CLIP.value, batch_size=_BATCH.value,
      rnn_buckets=tuple(int(b) for b in _BUCKETS.value),
      learning_rate=_LR.value, checkpoint_every=_CKPT.value, selection=_SELECT.value,
      data_parallel=_PARALLEL.value, structure_cache=_CACHE.value, fold_workers=_FOLD_WORKERS.value,
      collab=tuple(_COLLAB.value), collab_epochs=_COLLAB_EPOCHS.value,
      collab_train_features=_COLLAB_FEATURES.value, collab_draws=_COLLAB_DRAWS.value,
      collab_input_noise=_COLLAB_NOISE.value, collab_selection=_COLLAB_SELECT.value, burn_in=_BURN_IN.value,
      sweep_model=_SWEEP.value or None, sweep_levels=tuple(float(v) for v in _SWEEP_LEVELS.value),
      sweep_epochs=_SWEEP_EPOCHS.value, cca_pair=tuple(_CCA_PAIR.value), cca_trials=_CCA_TRIALS.value,
      cca_rhos=_CCA_RHOS.value, components_from=_COMPONENTS_FROM.value)
  command = shlex.join(["python", "-m", "experiments.run"] + sys.argv[1:])
  callbacks = {"log": lambda s: print(s, flush=True), "on_epoch": _progress(), "on_fold": _fold_progress()}
  try:
    if _SEEDS.value:
      run_seeds(config, [int(s) for s in _SEEDS.value], command=command, **callbacks)
    else:
      run_experiment(config, command=command, **callbacks)
  except (ValueError, FileNotFoundError) as e:
    sys.exit(f"error: {e}")


if __name__ == "__main__":
  app.run(main)
