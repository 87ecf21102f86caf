"""Inputs for the classification benchmarks: new sequences at nRC's length distribution."""

from __future__ import annotations

import gzip

import numpy as np


def make_input(path: str, n: int, sequences: list[str], mutation: float, seed: int = 0) -> None:
  """Writes n records drawn from `sequences`, each with `mutation` of its letters substituted, gzip."""
  rng = np.random.default_rng(seed)
  letters = np.frombuffer(b"ACGT", np.uint8)
  with gzip.open(path, "wt", compresslevel=6) as f:
    for i in range(n):
      seq = np.frombuffer(sequences[rng.integers(len(sequences))].encode(), np.uint8).copy()
      hit = rng.random(seq.size) < mutation
      seq[hit] = letters[rng.integers(4, size=int(hit.sum()))]
      f.write(f">r{i}\n{seq.tobytes().decode()}\n")
