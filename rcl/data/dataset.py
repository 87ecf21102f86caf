"""Labelled FASTA files to encoded train/validation/test splits and their class vocabulary."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from rcl.data import encoding, split
from rcl.data import holdout as heldout
from rcl.data.fasta import AMBIGUITY, Record, read_fasta
from rcl.data.split import SPLITS


@dataclasses.dataclass
class Split:
  """One encoded split.

  Attributes:
    ids: record identifiers, length n.
    sequences: the de-duplicated input sequences (kept for folding and for reports), length n.
    seq: uint8[n, max_len] sequence codes.
    lengths: int32[n] encoded lengths (<= max_len).
    labels: int32[n] class indices into the vocabulary.
    sec: uint8[n, max_len] structure codes, or None until structures are attached.
  """
  ids: list[str]
  sequences: list[str]
  seq: np.ndarray
  lengths: np.ndarray
  labels: np.ndarray
  sec: np.ndarray | None = None

  def __len__(self) -> int:
    return len(self.ids)

  def columns(self, epoch: int = 0) -> dict[str, np.ndarray]:
    """Per-row arrays that batches are cut from (the same in every epoch)."""
    del epoch
    cols = {"seq": self.seq, "length": self.lengths, "label": self.labels}
    if self.sec is not None:
      cols["sec"] = self.sec
    return cols

  def subset(self, index: np.ndarray) -> "Split":
    return Split([self.ids[i] for i in index], [self.sequences[i] for i in index], self.seq[index],
                 self.lengths[index], self.labels[index], None if self.sec is None else self.sec[index])


@dataclasses.dataclass
class DataSet:
  """Train/val/test splits with their class vocabulary and a summary of what loading did."""
  splits: dict[str, Split]
  classes: list[str]
  summary: dict
  novel: dict[str, Split] = dataclasses.field(default_factory=dict)  # held-out families ('val', 'test'), or none


def _summarise_split(records: Sequence[Record], enc: encoding.Encoded) -> dict:
  lengths = np.array([len(r.sequence) for r in records]) if records else np.zeros(0)
  amb = [sum(r.sequence.count(c) for c in AMBIGUITY) for r in records]
  return {
      "records": len(records),
      "cut_to_max_len": int(enc.cut),
      "with_ambiguity_codes": int(sum(a > 0 for a in amb)),
      "ambiguity_positions": int(sum(amb)),
      "length_min": int(lengths.min()) if lengths.size else 0,
      "length_median": float(np.median(lengths)) if lengths.size else 0.0,
      "length_max": int(lengths.max()) if lengths.size else 0,
  }


def _encode_split(records: Sequence[Record], classes: list[str], max_len: int) -> tuple[Split, dict]:
  index = {c: i for i, c in enumerate(classes)}
  enc = encoding.encode_sequences([r.sequence for r in records], max_len)
  labels = np.array([index[r.label] for r in records], dtype=np.int32)
  split = Split([r.id for r in records], [r.sequence for r in records], enc.codes, enc.lengths, labels)
  summary = _summarise_split(records, enc)
  summary["class_counts"] = {c: int(n) for c, n in zip(classes, np.bincount(labels, minlength=len(classes)))}
  return split, summary


def _read_all(paths: Sequence[str]) -> list[Record]:
  records: list[Record] = []
  for p in paths:
    records.extend(read_fasta(p, require_label=True))
  return records


def load_dataset(
    files: Sequence[str] = (),
    *,
    train_files: Sequence[str] = (),
    val_files: Sequence[str] = (),
    test_files: Sequence[str] = (),
    seed: int = 0,
    max_len: int = 1000,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    on_conflict: str = "drop",
    holdout: float = 0.0,
) -> DataSet:
  """Loads labelled FASTA files into encoded splits.

  Either `files` (merged, de-duplicated, shuffled with `seed` and split by `fractions`: the paper's
  Test13 protocol) or explicit `train_files` and `test_files` (Test88 style); in the explicit mode a
  missing `val_files` is carved out of the training records (10%, seeded). Given training and
  validation files are de-duplicated within themselves; given test files are kept record for record,
  as published (duplicates included). Sequences shared between given splits are counted in the
  summary ('overlap', 'test_records_in_train'), not removed.
  The vocabulary is the sorted union of all labels, so a class absent from one split still has an index.
  With `holdout` > 0, that fraction of the Rfam families leaves every split (`heldout.hold_out`) to form
  `DataSet.novel`, the records of families no model of the run learns (labels -1).
  """
  if not files and not (train_files or test_files):
    raise ValueError("no data given: name --files (to be split 80:10:10) or --train_files and --test_files")
  if files and (train_files or test_files):
    raise ValueError("give either --files (to be split) or --train_files and --test_files, not both")
  if files:
    by_split, summary = split.merged(_read_all(files), len(files), seed, fractions, on_conflict)
  else:
    if not train_files or not test_files:
      raise ValueError("explicit splits need both --train_files and --test_files")
    by_split, summary = split.given(_read_all(train_files), _read_all(val_files), _read_all(test_files), seed,
                                    on_conflict)
    summary["protocol"] = ("given files: train " + ", ".join(map(str, train_files)) + "; val " +
                           (", ".join(map(str, val_files)) if val_files else f"10% of train (seed {seed})") +
                           "; test " + ", ".join(map(str, test_files)))
  summary = {"max_len": max_len, "seed": seed, **summary}
  novel_records = {}
  if holdout:
    everything = [r for name in SPLITS for r in by_split[name]]
    _, novel_records, summary["holdout"] = heldout.hold_out(everything, holdout, seed)
    removed = {id(r) for records in novel_records.values() for r in records}
    by_split = {name: [r for r in records if id(r) not in removed] for name, records in by_split.items()}
  classes = sorted({r.label for name in SPLITS for r in by_split[name]})
  trained = {r.label for r in by_split["train"]}
  if len(trained) == 1:
    raise ValueError(f"the training data holds one class only ({trained.pop()!r}): a classifier needs at least two")
  splits = {}
  for name in SPLITS:
    if not by_split[name]:
      total = sum(len(v) for v in by_split.values())
      raise ValueError(f"the {name} split is empty ({total} distinct records in all): give more records"
                       + (" or --val_files" if name == "val" and not files else ""))
    splits[name], summary[name] = _encode_split(by_split[name], classes, max_len)
  novel = {}
  for name, records in novel_records.items():
    enc = encoding.encode_sequences([r.sequence for r in records], max_len)
    novel[name] = Split([r.id for r in records], [r.sequence for r in records], enc.codes, enc.lengths,
                        np.full(len(records), -1, np.int32))
  return DataSet(splits, classes, summary, novel)
