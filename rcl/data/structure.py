"""Secondary structures (ViennaRNA minimum-free-energy dot-bracket) with a versioned on-disk cache."""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import json
import multiprocessing
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
  from rcl.data.dataset import Split

# Model details passed explicitly to ViennaRNA (its defaults), so a global change of RNA.cvar settings
# in the calling process cannot silently alter the structures. Part of the cache tag.
FOLD_PARAMS = {
    "temperature": 37.0,
    "dangles": 2,
    "noLP": 0,
    "noGU": 0,
    "noGUclosure": 0,
    "special_hp": 1,
    "circ": 0,
    "gquad": 0,
}
# Bump when the way a sequence is turned into ViennaRNA input changes (it invalidates the cache).
NORMALISATION_VERSION = 1
CHUNK_SIZE = 64

_NON_ACGU = re.compile(r"[^ACGU]")
_KEY = re.compile(r"^[0-9a-f]{64}$")
_STRUCTURE = re.compile(r"^[().]*$")
_SEGMENT_SUFFIX = ".tsv"
_TMP_PREFIX = ".tmp-"
_COMPACT_AT = 32  # segments in a cache directory before loading merges them into one
_FLUSH_EVERY = 256  # pending entries
_FLUSH_SECONDS = 15.0


@functools.cache
def _rna():
  try:
    import RNA  # pylint: disable=import-outside-toplevel
  except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("secondary structures need the ViennaRNA Python bindings (module `RNA`)") from e
  return RNA


@functools.cache
def _model_details():
  RNA = _rna()  # pylint: disable=invalid-name
  md = RNA.md()
  for name, value in FOLD_PARAMS.items():
    setattr(md, name, value)
  return md


def vienna_version() -> str:
  """The installed ViennaRNA version, e.g. '2.8.0'."""
  return str(_rna().__version__)


def normalise(sequence: str) -> str:
  """Turns a DNA-alphabet sequence into ViennaRNA input of the same length.

  Upper-cases, writes T as U and replaces every other symbol that is not A, C, G or U (the IUPAC
  ambiguity codes N R Y K M S W B D H V, or anything else) by 'N'.
  """
  return _NON_ACGU.sub("N", sequence.upper().replace("T", "U"))


def fold(sequence: str) -> str:
  """Minimum-free-energy secondary structure of one sequence (ViennaRNA, default Turner 2004 model).

  Ambiguity codes: every symbol other than A, C, G, T/U (IUPAC N R Y K M S W B D H V, any other
  character) is given to ViennaRNA as 'N', which it never pairs: such positions always come out
  unpaired ('.'), and folding never fails on them. Resolving a code to one of its bases (e.g. R -> A)
  would invent a base the data do not have, and pairing it optimistically would let unknown bases
  create stems; 'N' is the conservative choice. ViennaRNA would treat unknown letters like 'N' anyway,
  the substitution makes it explicit and independent of ViennaRNA's input handling.

  Args:
    sequence: str of length L, upper-case DNA alphabet (T, not U), IUPAC codes allowed.

  Returns:
    Dot-bracket str of length L over '(', ')', '.'; '' for ''.
  """
  if not sequence:
    return ""
  fc = _rna().fold_compound(normalise(sequence), _model_details())
  structure, _ = fc.mfe()
  if len(structure) != len(sequence):  # pragma: no cover - guards against a ViennaRNA surprise
    raise RuntimeError(f"ViennaRNA returned {len(structure)} positions for a sequence of {len(sequence)}")
  return structure


def _fold_chunk(sequences: list[str]) -> list[str]:
  """Worker entry point: folds a chunk of sequences in order."""
  return [fold(s) for s in sequences]


def cache_tag() -> str:
  """Names the cache sub-directory: ViennaRNA version plus a hash of the folding parameters."""
  params = json.dumps({**FOLD_PARAMS, "normalisation": NORMALISATION_VERSION}, sort_keys=True)
  return f"vienna-{vienna_version()}-mfe-{hashlib.sha256(params.encode()).hexdigest()[:12]}"


def sequence_key(sequence: str) -> str:
  """sha256 hex digest of the exact sequence string."""
  return hashlib.sha256(sequence.encode("utf-8")).hexdigest()


def _atomic_write(path: str, text: str) -> None:
  """Writes `text` to a temporary file in the same directory, then renames it onto `path`."""
  directory = os.path.dirname(path)
  tmp = os.path.join(directory, f"{_TMP_PREFIX}{uuid.uuid4().hex}")
  try:
    with open(tmp, "w", encoding="ascii", newline="\n") as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


class StructureCache:
  """Structures on disk, keyed by the sha256 of the exact sequence.

  Layout: `<directory>/<tag>/` where the tag (`cache_tag()`) names the ViennaRNA version and a hash
  of the folding parameters, so a different version or model never reuses old structures; the tag
  directory also holds `params.json` describing them. Entries live in immutable segment files
  `seg-*.tsv` (lines `sha256<TAB>dot-bracket`), each created whole by writing a temporary file and
  `os.replace`-ing it, so a killed run leaves complete segments only and concurrent runs never write
  to the same file. When more than a few dozen segments have built up, loading merges them into one
  (written atomically before the merged ones are removed). Malformed lines are skipped.
  """

  def __init__(self, directory: str | os.PathLike):
    self.root = os.fspath(directory)
    self.path = os.path.join(self.root, cache_tag())
    self._entries: dict[str, str] | None = None
    self._pending: dict[str, str] = {}

  def _segments(self) -> list[str]:
    if not os.path.isdir(self.path):
      return []
    return sorted(n for n in os.listdir(self.path) if n.startswith("seg-") and n.endswith(_SEGMENT_SUFFIX))

  def _load(self) -> dict[str, str]:
    if self._entries is not None:
      return self._entries
    entries: dict[str, str] = {}
    read = []
    for name in self._segments():
      try:
        with open(os.path.join(self.path, name), encoding="ascii", errors="replace") as f:
          text = f.read()
      except FileNotFoundError:  # merged away by a concurrent run: its entries are in a newer segment
        continue
      read.append(name)
      for line in text.splitlines():
        key, sep, structure = line.partition("\t")
        if sep and _KEY.match(key) and _STRUCTURE.match(structure):
          entries[key] = structure
    self._entries = entries
    if len(read) > _COMPACT_AT:
      self._compact(read)
    return entries

  def _compact(self, read: list[str]) -> None:
    self._write_segment(self._entries or {})
    for name in read:
      try:
        os.remove(os.path.join(self.path, name))
      except FileNotFoundError:
        pass
    now = time.time()
    for name in os.listdir(self.path):  # temporary files left by killed runs
      full = os.path.join(self.path, name)
      if name.startswith(_TMP_PREFIX) and now - os.path.getmtime(full) > 3600:
        try:
          os.remove(full)
        except FileNotFoundError:
          pass

  def _write_segment(self, entries: dict[str, str]) -> None:
    os.makedirs(self.path, exist_ok=True)
    params = os.path.join(self.path, "params.json")
    if not os.path.exists(params):
      _atomic_write(params, json.dumps({"viennarna": vienna_version(), "method": "mfe", **FOLD_PARAMS,
                                        "normalisation": NORMALISATION_VERSION}, indent=1) + "\n")
    name = f"seg-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}{_SEGMENT_SUFFIX}"
    _atomic_write(os.path.join(self.path, name), "".join(f"{k}\t{v}\n" for k, v in entries.items()))

  def get(self, sequence: str) -> str | None:
    """The cached structure of `sequence`, or None (also when a stored one has the wrong length)."""
    key = sequence_key(sequence)
    structure = self._pending.get(key)
    if structure is None:
      structure = self._load().get(key)
    if structure is None or len(structure) != len(sequence):
      return None
    return structure

  def put(self, sequence: str, structure: str) -> None:
    """Records a structure; it reaches the disk at the next `flush`."""
    if len(structure) != len(sequence) or not _STRUCTURE.match(structure):
      raise ValueError(f"not a dot-bracket structure of length {len(sequence)}: {structure[:40]!r}")
    self._pending[sequence_key(sequence)] = structure

  @property
  def pending(self) -> int:
    return len(self._pending)

  def flush(self) -> None:
    """Writes the pending entries as one new segment (atomically)."""
    if not self._pending:
      return
    self._write_segment(self._pending)
    self._load().update(self._pending)
    self._pending = {}

  def __len__(self) -> int:
    return len(self._load()) + sum(k not in self._load() for k in self._pending)


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
  workers = workers or os.cpu_count() or 1
  sequences = list(sequences)
  cache = StructureCache(cache_dir) if cache_dir is not None else None
  known: dict[str, str] = {}
  misses: list[str] = []
  for s in sequences:
    if s in known:
      continue
    hit = cache.get(s) if cache is not None else None
    if hit is not None:
      known[s] = hit
    else:
      known[s] = ""  # placeholder: marks the sequence as seen
      misses.append(s)
  missing = set(misses)
  cached = sum(s not in missing for s in sequences)

  total = len(misses)
  if total:
    if progress is not None:
      progress(0, total)
    size = max(1, min(CHUNK_SIZE, -(-total // (4 * workers))))
    done = 0
    last_flush = time.monotonic()

    def record(chunk: list[str], structures: list[str]) -> None:
      nonlocal done, last_flush
      for s, structure in zip(chunk, structures):
        known[s] = structure
        if cache is not None:
          cache.put(s, structure)
      done += len(chunk)
      if cache is not None and (cache.pending >= _FLUSH_EVERY or time.monotonic() - last_flush > _FLUSH_SECONDS):
        cache.flush()
        last_flush = time.monotonic()
      if progress is not None:
        progress(done, total)

    try:
      if workers == 1 or total == 1:
        for chunk in _chunks(misses, size):
          record(chunk, _fold_chunk(chunk))
      else:
        context = multiprocessing.get_context("spawn")
        n_proc = min(workers, -(-total // size))
        with concurrent.futures.ProcessPoolExecutor(n_proc, mp_context=context) as pool:
          try:
            futures = {pool.submit(_fold_chunk, chunk): chunk for chunk in _chunks(misses, size)}
            for future in concurrent.futures.as_completed(futures):
              record(futures[future], future.result())
          except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    finally:
      if cache is not None:
        cache.flush()

  structures = [known[s] for s in sequences]
  stats = {"total": len(sequences), "unique": len(known), "cached": cached, "folded": total,
           "seconds": time.perf_counter() - start}
  return structures, stats


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
  from rcl.data import encoding  # pylint: disable=import-outside-toplevel  (keeps workers free of JAX)

  if len(structures) != len(split.sequences):
    raise ValueError(f"{len(structures)} structures for {len(split.sequences)} sequences")
  if split.seq.shape[1] != max_len:
    raise ValueError(f"max_len {max_len} differs from the split's sequence width {split.seq.shape[1]}")
  for record_id, sequence, structure in zip(split.ids, split.sequences, structures):
    if len(structure) != len(sequence):
      raise ValueError(f"record {record_id!r}: structure has length {len(structure)}, "
                       f"sequence has length {len(sequence)}")
    if not _STRUCTURE.match(structure):
      raise ValueError(f"record {record_id!r}: structure holds symbols other than '(', ')', '.'")
  split.sec = encoding.encode_structures(list(structures), max_len).codes
