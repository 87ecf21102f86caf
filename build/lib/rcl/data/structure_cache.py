"""The on-disk cache of folded structures: versioned by ViennaRNA and its parameters, safe to kill."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid

from rcl.data.folding import FOLD_PARAMS, NORMALISATION_VERSION, vienna_version

STRUCTURE = re.compile(r"^[().]*$")
_KEY = re.compile(r"^[0-9a-f]{64}$")
_SEGMENT_SUFFIX = ".tsv"
_TMP_PREFIX = ".tmp-"
_COMPACT_AT = 32  # segments in a cache directory before loading merges them into one


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
        if sep and _KEY.match(key) and STRUCTURE.match(structure):
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
    if len(structure) != len(sequence) or not STRUCTURE.match(structure):
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
