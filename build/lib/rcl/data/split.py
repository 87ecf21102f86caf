"""How records become train/validation/test splits: de-duplication, the seeded 80:10:10 split, given files."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from rcl.data.fasta import Record

SPLITS = ("train", "val", "test")


@dataclasses.dataclass
class DedupReport:
  """What de-duplication did: counts and the sequences that carried conflicting labels."""
  records_in: int = 0
  duplicates: int = 0
  conflicts: list[dict] = dataclasses.field(default_factory=list)


def deduplicate(records: Sequence[Record], on_conflict: str = "drop") -> tuple[list[Record], DedupReport]:
  """Keeps the first record of each distinct sequence.

  A sequence seen with two different labels is a conflict: `on_conflict` is "drop" (remove every copy
  and list it in the report), "first" (keep the first label, list it) or "error" (raise ValueError).
  """
  if on_conflict not in ("drop", "first", "error"):
    raise ValueError(f"on_conflict must be drop, first or error, got {on_conflict!r}")
  first: dict[str, Record] = {}
  labels: dict[str, set] = {}
  report = DedupReport(records_in=len(records))
  for r in records:
    if r.sequence in first:
      report.duplicates += 1
      labels[r.sequence].add(r.label)
      if r.label != first[r.sequence].label and len(labels[r.sequence]) == 2:
        f = first[r.sequence]
        report.conflicts.append({
            "first": f"{f.path}:{f.line} {f.id} {f.label}",
            "second": f"{r.path}:{r.line} {r.id} {r.label}",
        })
        if on_conflict == "error":
          raise ValueError(f"sequence with two labels: {report.conflicts[-1]['first']} vs "
                           f"{report.conflicts[-1]['second']}")
    else:
      first[r.sequence] = r
      labels[r.sequence] = {r.label}
  kept = [r for r in first.values() if on_conflict == "first" or len(labels[r.sequence]) == 1]
  return kept, report


def split_indices(n: int, seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> dict[str, np.ndarray]:
  """Seeded shuffle, then consecutive train/val/test slices in the given proportions (rounded)."""
  if abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
    raise ValueError(f"split fractions must be non-negative and sum to 1, got {fractions}")
  order = np.random.default_rng(seed).permutation(n)
  n_train = int(round(fractions[0] * n))
  n_val = int(round(fractions[1] * n))
  return {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}


def merged(records: list[Record], n_files: int, seed: int, fractions: tuple[float, float, float],
           on_conflict: str) -> tuple[dict[str, list[Record]], dict]:
  """The paper's Test13 protocol: merge, de-duplicate by sequence, seeded shuffle, split by `fractions`.

  Returns the records of each split and a summary ('protocol', 'dedup').
  """
  kept, report = deduplicate(records, on_conflict)
  parts = split_indices(len(kept), seed, fractions)
  by_split = {name: [kept[i] for i in parts[name]] for name in SPLITS}
  protocol = (f"merged {n_files} file(s), de-duplicated by sequence, seeded shuffle (seed {seed}), "
              f"split {':'.join(str(round(f * 100)) for f in fractions)}")
  return by_split, {"protocol": protocol, "dedup": dataclasses.asdict(report)}


def given(train: list[Record], val: list[Record], test: list[Record], seed: int,
          on_conflict: str) -> tuple[dict[str, list[Record]], dict]:
  """Given files (Test88 style): training and validation records de-duplicated within themselves, a
  missing validation set carved out of training (10%, seeded), the test set kept record for record, as
  published. Sequences shared between splits are counted ('overlap', 'test_records_in_train',
  'test_duplicate_records'), not removed."""
  by_split, dedup = {}, {}
  for name, records in (("train", train), ("val", val)):
    if records:
      by_split[name], report = deduplicate(records, on_conflict)
      dedup[name] = dataclasses.asdict(report)
  by_split["test"] = list(test)
  if "val" not in by_split:
    parts = split_indices(len(by_split["train"]), seed, (0.9, 0.1, 0.0))
    by_split["val"] = [by_split["train"][i] for i in parts["val"]]
    by_split["train"] = [by_split["train"][i] for i in parts["train"]]
  seen = {name: {r.sequence for r in by_split[name]} for name in SPLITS}
  pairs = (("train", "val"), ("train", "test"), ("val", "test"))
  summary = {"dedup": dedup, "overlap": {f"{a}&{b}": len(seen[a] & seen[b]) for a, b in pairs},
             "test_records_in_train": sum(r.sequence in seen["train"] for r in by_split["test"]),
             "test_duplicate_records": len(by_split["test"]) - len(seen["test"])}
  return by_split, summary
