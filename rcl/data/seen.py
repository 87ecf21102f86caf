"""Which sequences a model was trained or validated on, kept compactly: the first 8 bytes of each
sequence's sha256 (of its upper-case DNA-alphabet form, as `rcl.data.fasta` stores it) as a sorted uint64
array, 8 bytes a sequence. Two distinct sequences share a digest with probability ~n^2 / 2^65 (about 1e-10
for 100,000 sequences)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np



def digest(sequence: str) -> int:
  return int.from_bytes(hashlib.sha256(sequence.encode()).digest()[:8], "big")


def table(sequences: Iterable[str]) -> np.ndarray:
  """uint64[m], the sorted distinct digests of `sequences`."""
  return np.unique(np.fromiter((digest(s) for s in sequences), np.uint64))


def contains(digests: np.ndarray, sequences: Iterable[str]) -> np.ndarray:
  """bool[n]: whether each sequence's digest is in the sorted table `digests` (a binary search each)."""
  probe = np.fromiter((digest(s) for s in sequences), np.uint64)
  at = np.minimum(np.searchsorted(digests, probe), max(len(digests) - 1, 0))
  return (digests[at] == probe) if len(digests) else np.zeros(len(probe), bool)
