"""A model bundle's novelty rule scored on records known to lie outside its classes (`rcl evaluate --novel`)."""

from __future__ import annotations

import collections
from collections.abc import Iterable

import numpy as np

from rcl.analysis import novelty
from rcl.bundle import Bundle
from rcl.classify import UNCLASSIFIED, rows
from rcl.data.fasta import Record


def evaluate_novel(bundle: Bundle, known: dict, records: Iterable[Record], *, chunk_size: int = 4096,
                   workers: int = 4, structure_cache: str | None = None) -> dict:
  """How well the bundle's novelty rule tells `records` (sequences known to lie outside its classes; labels
  ignored) from the labelled records of `known` (a `labelled_metrics.evaluate` result): {'records',
  'auroc', 'false_acceptance' (the share called a class at the bundle's threshold), 'called_as': class ->
  count}."""
  if bundle.novelty_rule is None:
    raise ValueError(f"the bundle {bundle.directory} has no novelty rule: --novel needs one")
  scores, calls = [], collections.Counter()
  for chunk in rows(bundle, records, chunk_size=chunk_size, workers=workers, structure_cache=structure_cache):
    scores.extend(row["novelty"] for row in chunk)
    calls.update(row["call"] for row in chunk if row["call"] != UNCLASSIFIED)
  if not scores:
    raise ValueError("no records in the --novel input")
  limit = bundle.novelty_rule[1]
  return {"records": len(scores), "auroc": novelty.auroc(known["novelty"]["scores"], np.asarray(scores)),
          "false_acceptance": novelty.accepted(np.asarray(scores), limit), "called_as": dict(calls.most_common())}
