"""A bundle's labelled evaluation at several levels of boundary noise (random flanks, `rcl.data.flanks`)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Iterator, Sequence

from rcl.bundle import Bundle
from rcl.bundle_evaluation import labelled_metrics
from rcl.data import flanks
from rcl.data.fasta import Record


def check_levels(levels: Sequence[float]) -> None:
  """Raises ValueError unless `levels` is a non-empty list of boundary noise percentages >= 0."""
  if not levels:
    raise ValueError("no boundary noise levels given")
  for level in levels:
    if not math.isfinite(level) or level < 0:
      raise ValueError(f"boundary noise levels must be percentages >= 0, got {level:g}")


def reference_level(levels: Sequence[float]) -> int:
  """The index of the level reported in full (summary, metrics.json, predictions.tsv): the clean level 0
  when it is measured, else the first."""
  return list(levels).index(0) if 0 in levels else 0


def _flanked(records: Iterable[Record], level: float, rng, kind: str) -> Iterator[Record]:
  """The records, each with flanks of `level`% drawn from `rng` in file order (level 0: unchanged)."""
  for record in records:
    yield record if level == 0 else dataclasses.replace(
        record, sequence=flanks.flank_sequence(record.sequence, level, rng, kind))


def evaluate_boundary_noise(bundle: Bundle, open_records: Callable[[], Iterable[Record]], levels: Sequence[float],
                            *, kind: str = "dinucleotide", seed: int = 0, chunk_size: int = 4096, workers: int = 4,
                            structure_cache: str | None = None, predictions=None,
                            progress: Callable[[float], Callable[[int, float], None] | None] | None = None
                            ) -> tuple[list[dict], dict]:
  """`labelled_metrics.evaluate` at every boundary noise level: each record's sequence gets random flanks of
  `level`% of its length (`flanks.flank_sequence`, one stream per level, `flanks.level_rng(seed, level)`).

  Args:
    bundle: the model.
    open_records: opens the labelled records afresh; called once per level, so the file is streamed
      `len(levels)` times and never held.
    levels: noise percentages >= 0 (0: the records unchanged).
    kind: 'dinucleotide' or 'uniform' (`flanks.KINDS`).
    predictions: an optional text stream for the classification TSV of the reference level
      (`reference_level`).
    progress: progress(level), asked right after `open_records()` for that level, gives the level's
      per-chunk progress callback (as `labelled_metrics.evaluate` takes) or None.

  Returns:
    (the `labelled_metrics.evaluate` result of every level, in `levels` order; a flanked level's has
    'boundary_noise': {'percent', 'kind', 'seed'}), and {'model', 'kind', 'seed', 'levels', 'accuracy',
    'f1_macro', 'f1_weighted', 'records'} with one entry per level in each list.
  """
  check_levels(levels)
  if kind not in flanks.KINDS:
    raise ValueError(f"boundary noise kind must be one of {flanks.KINDS}, got {kind!r}")
  if seed < 0:
    raise ValueError(f"the boundary noise seed must be >= 0, got {seed}")
  levels = [int(v) if float(v).is_integer() else float(v) for v in levels]
  reference = reference_level(levels)
  results = []
  for i, level in enumerate(levels):
    records = _flanked(open_records(), level, flanks.level_rng(seed, level), kind)
    result = labelled_metrics.evaluate(bundle, records, chunk_size=chunk_size, workers=workers,
                                       structure_cache=structure_cache,
                                       predictions=predictions if i == reference else None,
                                       progress=progress(level) if progress is not None else None)
    if level:
      result["boundary_noise"] = {"percent": level, "kind": kind, "seed": seed}
    results.append(result)
  counts = {r["records"] for r in results}
  if len(counts) > 1:
    raise ValueError(f"the input changed between boundary noise levels ({sorted(counts)} records were read)")
  return results, {"model": bundle.meta["model"], "kind": kind, "seed": seed, "levels": levels,
                   **{k: [r["metrics"][k] for r in results] for k in ("accuracy", "f1_macro", "f1_weighted")},
                   "records": results[0]["records"]}
