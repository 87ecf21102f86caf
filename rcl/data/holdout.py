"""Held-out Rfam families: whole families removed from training and validation, to be met as novel
sequences. The family of a record is the Rfam accession its ID starts with (nRC: 'RF00005_AF...'), else its
label when that is an accession (Rfam-novel)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from rcl.data.fasta import Record

_ACCESSION = re.compile(r"^(RF\d{5})")
_TAG = 0x401D  # keeps this stream apart from every other one the run's seed drives
NOVEL_SPLITS = ("val", "test")  # the held-out families' records are halved by family: val to choose, test to report


def family(record: Record) -> str | None:
  """The record's Rfam accession, or None when neither its ID nor its label names one."""
  for text in (record.id, record.label or ""):
    match = _ACCESSION.match(text)
    if match:
      return match.group(1)
  return None


def hold_out(records: Sequence[Record], fraction: float, seed: int
             ) -> tuple[list[Record], dict[str, list[Record]], dict]:
  """Removes a seeded `fraction` of the families (at least 2) from `records`.

  A family is only held out while its class keeps another family, so every class stays learnable (on
  Rfam-novel, where class = family, whole classes go). The held-out families are split in two halves,
  each record going with its family: NOVEL_SPLITS[0] novel records choose novelty scores and thresholds,
  NOVEL_SPLITS[1] ones measure them.

  Returns:
    (the kept records, in order; {'val': [...], 'test': [...]} novel records; a summary: fraction, seed,
    families per half, records per half).
  """
  if not 0 < fraction < 1:
    raise ValueError(f"the held-out family fraction must lie in (0, 1), got {fraction}")
  families = [family(r) for r in records]
  missing = [r for r, f in zip(records, families) if f is None]
  if missing:
    r = missing[0]
    raise ValueError(f"{r.path}:{r.line} (record {r.id!r}): no Rfam accession in its ID or label, so its family "
                     f"is unknown and families cannot be held out ({len(missing)} such records)")
  by_class: dict[str, set[str]] = {}
  for r, f in zip(records, families):
    by_class.setdefault(r.label, set()).add(f)
  names = sorted(set(families))
  class_of = {f: r.label for r, f in zip(records, families)}
  every_class_its_own = all(len(fs) == 1 for fs in by_class.values())
  want = max(2, int(round(fraction * len(names))))
  rng = np.random.default_rng([_TAG, seed])
  left = {c: len(fs) for c, fs in by_class.items()}
  chosen: list[str] = []
  for f in (names[i] for i in rng.permutation(len(names))):
    if len(chosen) == want:
      break
    if every_class_its_own or left[class_of[f]] > 1:
      chosen.append(f)
      left[class_of[f]] -= 1
  if len(chosen) < 2:
    raise ValueError(f"cannot hold out 2 families while keeping every class ({len(names)} families)")
  halves = {NOVEL_SPLITS[0]: set(chosen[0::2]), NOVEL_SPLITS[1]: set(chosen[1::2])}
  novel = {name: [r for r, f in zip(records, families) if f in fams] for name, fams in halves.items()}
  held = set(chosen)
  kept = [r for r, f in zip(records, families) if f not in held]
  summary = {"fraction": fraction, "seed": seed, "families": len(names),
             **{name: {"families": sorted(halves[name]), "records": len(novel[name])} for name in NOVEL_SPLITS}}
  return kept, novel, summary
