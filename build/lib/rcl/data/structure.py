"""Secondary structures for whole data sets: cached folding over a process pool, and their codes."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from rcl.data import encoding
from rcl.data.folding import fold
from rcl.data.structure_cache import STRUCTURE, StructureCache

if TYPE_CHECKING:
  from rcl.data.dataset import Split

CHUNK_SIZE = 64
_FLUSH_EVERY = 256  # pending entries
_FLUSH_SECONDS = 15.0


def _fold_chunk(sequences: list[str]) -> list[str]:
  """Worker entry point: folds a chunk of sequences in order."""
  return [fold(s) for s in sequences]


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
  for start in range(0, len(items), size):
    yield items[start:start + size]


def fold_all(
    sequences: Sequence[str],
    cache_dir: str | os.PathLike | None,
    workers: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[str], dict]:
  """Folds many sequences, reusing and filling the on-disk cache.

  Identical sequences are folded once. Misses are folded in chunks (at most `CHUNK_SIZE` sequences)
  by `workers` processes started with 'spawn' (never 'fork': the parent may hold JAX's threads);
  each finished chunk goes to the cache, which is flushed every few hundred entries, every few
  seconds and on the way out (also on an exception or KeyboardInterrupt), so an interrupted run
  keeps what it folded.

  Args:
    sequences: n strings, upper-case DNA alphabet, IUPAC codes allowed (see `fold`).
    cache_dir: cache root directory (see `StructureCache`), or None for no cache.
    workers: processes; 0 = os.cpu_count(); 1 = fold in this process (no pool).
    progress: called as progress(done, to_fold) with counts of distinct sequences to fold: once with
      done = 0 before folding starts, then after each chunk, ending at (to_fold, to_fold). Not called
      when everything is cached.

  Returns:
    (structures, stats): n dot-bracket strings in input order, and stats with 'total' (n), 'unique'
    (distinct sequences), 'cached' (input sequences answered by the cache), 'folded' (distinct
    sequences folded now) and 'seconds' (wall-clock time).
  """
  start = time.perf_counter()
  if workers < 0:
    raise ValueError(f"workers must be >= 0, got {workers}")
  sequences = list(sequences)
  cache = StructureCache(cache_dir) if cache_dir is not None else None
  known, misses = _lookup(sequences, cache)
  missing = set(misses)
  cached = sum(s not in missing for s in sequences)
  if misses:
    _Recorder(known, cache, len(misses), progress).fold(misses, workers or os.cpu_count() or 1)
  structures = [known[s] for s in sequences]
  stats = {"total": len(sequences), "unique": len(known), "cached": cached, "folded": len(misses),
           "seconds": time.perf_counter() - start}
  return structures, stats


def _lookup(sequences: list[str], cache: StructureCache | None) -> tuple[dict[str, str], list[str]]:
  """Every distinct sequence -> its cached structure ('' for a miss), and the misses in first-seen order."""
  known: dict[str, str] = {}
  misses: list[str] = []
  for s in sequences:
    if s in known:
      continue
    hit = cache.get(s) if cache is not None else None
    known[s] = hit if hit is not None else ""
    if hit is None:
      misses.append(s)
  return known, misses


class _Recorder:
  """Folds the misses in chunks and records each finished chunk: in `known`, in the cache (flushed every
  few hundred entries, every few seconds and on the way out, also on an exception) and as progress."""

  def __init__(self, known: dict[str, str], cache: StructureCache | None, total: int,
               progress: Callable[[int, int], None] | None):
    self.known, self.cache, self.total, self.progress = known, cache, total, progress
    self.done = 0
    self.last_flush = time.monotonic()

  def fold(self, misses: list[str], workers: int) -> None:
    if self.progress is not None:
      self.progress(0, self.total)
    size = max(1, min(CHUNK_SIZE, -(-self.total // (4 * workers))))
    try:
      if workers == 1 or self.total == 1:
        for chunk in _chunks(misses, size):
          self.record(chunk, _fold_chunk(chunk))
        return
      context = multiprocessing.get_context("spawn")
      with concurrent.futures.ProcessPoolExecutor(min(workers, -(-self.total // size)), mp_context=context) as pool:
        try:
          futures = {pool.submit(_fold_chunk, chunk): chunk for chunk in _chunks(misses, size)}
          for future in concurrent.futures.as_completed(futures):
            self.record(futures[future], future.result())
        except BaseException:
          pool.shutdown(wait=True, cancel_futures=True)
          raise
    finally:
      if self.cache is not None:
        self.cache.flush()

  def record(self, chunk: list[str], structures: list[str]) -> None:
    for s, structure in zip(chunk, structures):
      self.known[s] = structure
      if self.cache is not None:
        self.cache.put(s, structure)
    self.done += len(chunk)
    if self.cache is not None and (self.cache.pending >= _FLUSH_EVERY
                                   or time.monotonic() - self.last_flush > _FLUSH_SECONDS):
      self.cache.flush()
      self.last_flush = time.monotonic()
    if self.progress is not None:
      self.progress(self.done, self.total)


def attach_structures(split: Split, structures: Sequence[str], max_len: int) -> None:
  """Sets `split.sec` to the uint8 codes of `structures`, cut or padded to max_len.

  Args:
    split: a `rcl.data.dataset.Split` of n records; its `sec` is replaced.
    structures: n dot-bracket strings, structures[i] for split.sequences[i] (full length, uncut).
    max_len: encoded width; must equal the width of `split.seq`.

  Raises:
    ValueError: on a count mismatch, a width mismatch, or a structure whose length differs from its
      sequence's or that holds symbols other than '(', ')', '.' (the message names the record id).
  """
  if len(structures) != len(split.sequences):
    raise ValueError(f"{len(structures)} structures for {len(split.sequences)} sequences")
  if split.seq.shape[1] != max_len:
    raise ValueError(f"max_len {max_len} differs from the split's sequence width {split.seq.shape[1]}")
  for record_id, sequence, structure in zip(split.ids, split.sequences, structures):
    if len(structure) != len(sequence):
      raise ValueError(f"record {record_id!r}: structure has length {len(structure)}, "
                       f"sequence has length {len(sequence)}")
    if not STRUCTURE.match(structure):
      raise ValueError(f"record {record_id!r}: structure holds symbols other than '(', ')', '.'")
  split.sec = encoding.encode_structures(list(structures), max_len).codes
