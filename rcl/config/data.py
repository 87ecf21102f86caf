"""Which sequences a run reads, how they are split and encoded."""

from __future__ import annotations

import dataclasses
import os

from rcl.config.fields import field_help as _help

ON_CONFLICT = ("drop", "first", "error")


def default_structure_cache() -> str:
  """$RCL_CACHE_DIR, else ~/.cache/rcl/structures."""
  return os.environ.get("RCL_CACHE_DIR", os.path.expanduser("~/.cache/rcl/structures"))


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """Which sequences, how they are split and encoded."""
  files: tuple[str, ...] = dataclasses.field(
      default=(), metadata=_help("FASTA files to merge, de-duplicate and split 80:10:10."))
  train_files: tuple[str, ...] = dataclasses.field(default=(), metadata=_help("Explicit training FASTA files."))
  val_files: tuple[str, ...] = dataclasses.field(
      default=(), metadata=_help("Explicit validation FASTA files (default: 10% of training)."))
  test_files: tuple[str, ...] = dataclasses.field(
      default=(), metadata=_help("Explicit test FASTA files, evaluated record for record as published."))
  dataset: str = dataclasses.field(
      default="Test13", metadata=_help("Name for reports (Test13 and Test88 compare with the paper's tables)."))
  max_len: int = dataclasses.field(default=1000, metadata=_help("Pad or cut sequences to this length.", lower=1))
  fractions: tuple[float, float, float] = dataclasses.field(default=(0.8, 0.1, 0.1), metadata={"flag": None})
  on_conflict: str = dataclasses.field(default="drop", metadata={"flag": None})
  structure_cache: str | None = dataclasses.field(
      default_factory=default_structure_cache,
      metadata=_help("Directory caching ViennaRNA structures (default: $RCL_CACHE_DIR or ~/.cache/rcl/structures)."))
  fold_workers: int = dataclasses.field(
      default=0, metadata=_help("Processes folding structures (0: one per CPU).", lower=0))
  holdout_families: float = dataclasses.field(
      default=0.0, metadata=_help("Share of Rfam families removed from every split to be met as novel sequences "
                                  "(half choose the novelty score and threshold, half test them; 0: none).",
                                  lower=0.0))

  def resolved(self, data_dir: str) -> DataConfig:
    """The same with relative FASTA paths taken relative to `data_dir`."""
    def resolve(paths):
      return tuple(p if os.path.isabs(p) else os.path.join(data_dir, p) for p in paths)
    return dataclasses.replace(self, files=resolve(self.files), train_files=resolve(self.train_files),
                               val_files=resolve(self.val_files), test_files=resolve(self.test_files))

  def __post_init__(self):
    if self.on_conflict not in ON_CONFLICT:
      raise ValueError(f"on_conflict must be one of {ON_CONFLICT}, got {self.on_conflict!r}")
