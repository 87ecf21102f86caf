"""Every path inside an experiment's workdir, named once: the run's files at its top, one folder per model,
the figures, the sweep, and one sub-workdir per seed of a multi-seed run or per trial of a variance study."""

from __future__ import annotations

import dataclasses
import os
import re

# The run's files.
CONFIG, RESULTS, REPORT = "config.json", "results.json", "report.md"
VOCABULARY, SPLIT_IDS, DATA_SUMMARY, SEEN = "vocabulary.json", "splits.json", "data_summary.json", "seen.npz"
# (seen.npz: key "digests", `rcl.data.seen`; a model's novelty.npz: a `rcl.analysis.novelty.Reference`; both are
# copied into bundles under the same names.)
# A model's files (under models/<model folder>/).
PREDICTIONS, FEATURES, HISTORY, NOVELTY = "predictions.npz", "features.npz", "history.json", "novelty.npz"
CHECKPOINTS, TENSORBOARD = "checkpoints", "tensorboard"
# Folders of the run.
MODELS, FIGURES, SWEEP = "models", "figures", "sweep"


def safe_name(name: str) -> str:
  """A file-name form of a model name: 'LD(A)+LD(E)' -> 'LD_A_LD_E'."""
  return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")


@dataclasses.dataclass(frozen=True)
class Workdir:
  """The layout of one experiment's output folder.

  Attributes:
    root: the folder (--workdir).
  """
  root: str

  def file(self, name: str) -> str:
    """A run-level file, e.g. `file(RESULTS)`."""
    return os.path.join(self.root, name)

  def model(self, name: str) -> str:
    """models/<moniker> for a component, models/collab_<safe spec> for a collaborative model."""
    safe = safe_name(name)
    return os.path.join(self.root, MODELS, safe if safe == name else f"collab_{safe}")

  def model_file(self, name: str, file: str) -> str:
    """A model's file or folder, e.g. `model_file('A', CHECKPOINTS)`."""
    return os.path.join(self.model(name), file)

  @property
  def sweep(self) -> str:
    """The regularisation sweep's folder (its checkpoints, fig3.png and fig4.png)."""
    return os.path.join(self.root, SWEEP)

  def seed(self, seed: int) -> Workdir:
    """The workdir of one seed of a multi-seed run."""
    return Workdir(os.path.join(self.root, f"seed_{seed}"))

  def trial(self, source: str, trial: int) -> Workdir:
    """The workdir of one trial of a variance study: variance/base (trial 0 of every source: the base seeds),
    else variance/<source>_<trial>."""
    return Workdir(os.path.join(self.root, "variance", "base" if trial == 0 else f"{source}_{trial}"))

  def figure(self, stem: str) -> str:
    """figures/<stem>.png, relative to the workdir (as results.json records it)."""
    return os.path.join(FIGURES, f"{stem}.png")

  def absolute(self, relative: str) -> str:
    """A path recorded relative to the workdir (a figure), made whole; its folder is created."""
    path = os.path.join(self.root, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path
