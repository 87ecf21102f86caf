"""Decoys: sequences that are no ncRNA of any class, made from real ones so that only order is lost.

'shuffled' keeps each sequence's exact dinucleotide counts (Altschul & Erickson 1985: a random Eulerian
walk through the sequence's dinucleotide graph, drawn with Kandel et al.'s last-edge arborescence, so every
such sequence is equally likely); 'uniform' draws every nucleotide from ACGT (records are stored in the DNA
alphabet) with equal chance at the sequence's length.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rcl.data.dataset import Split
from rcl.data.encoding import encode_sequences

KINDS = ("shuffled", "uniform")
_TAG = 0x0DEC0  # keeps decoy streams apart from every other stream seeded by the run's seed


def dinucleotide_shuffle(sequence: str, rng: np.random.Generator) -> str:
  """A uniformly random sequence with exactly `sequence`'s dinucleotide counts (so also its first and last
  letter and its letter counts)."""
  n = len(sequence)
  if n < 3:
    return sequence
  letters = sorted(set(sequence))
  last = sequence[-1]
  edges: dict[str, list[str]] = {a: [] for a in letters}
  for a, b in zip(sequence, sequence[1:]):
    edges[a].append(b)
  # A random arborescence into `last`: from every other letter, a random walk until the tree is reached,
  # each letter keeping the exit it left by last (Wilson's loop-erased walk on the multigraph's reverse).
  in_tree = {last}
  exit_to: dict[str, str] = {}
  for start in letters:
    u = start
    while u not in in_tree:
      exit_to[u] = edges[u][rng.integers(len(edges[u]))]
      u = exit_to[u]
    u = start
    while u not in in_tree:
      in_tree.add(u)
      u = exit_to[u]
  # Every other out-edge of a letter in random order, its tree edge last: the walk then uses every edge.
  order: dict[str, list[str]] = {}
  for a in letters:
    rest = list(edges[a])
    if a in exit_to:
      rest.remove(exit_to[a])
    rng.shuffle(rest)
    order[a] = rest + ([exit_to[a]] if a in exit_to else [])
  out, position = [sequence[0]], {a: 0 for a in letters}
  for _ in range(n - 1):
    a = out[-1]
    out.append(order[a][position[a]])
    position[a] += 1
  return "".join(out)


def uniform(length: int, rng: np.random.Generator) -> str:
  """`length` nucleotides drawn uniformly from ACGT."""
  return "".join(np.array(list("ACGT"))[rng.integers(0, 4, length)])


def make(sequences: list[str], kind: str, seed: int, stream: int = 0) -> list[str]:
  """One decoy per sequence, in order, from the stream [_TAG, seed, stream, kind]."""
  if kind not in KINDS:
    raise ValueError(f"decoy kind must be one of {KINDS}, got {kind!r}")
  rng = np.random.default_rng([_TAG, seed, stream, KINDS.index(kind)])
  if kind == "uniform":
    return [uniform(len(s), rng) for s in sequences]
  return [dinucleotide_shuffle(s, rng) for s in sequences]


def decoy_split(split: Split, kind: str, seed: int, max_len: int, stream: int = 0) -> Split:
  """A decoy of every record of `split`, encoded like it (ids '<id>|<kind>'); labels are kept only so the
  split batches like any other, and mean nothing."""
  sequences = make(list(split.sequences), kind, seed, stream)
  enc = encode_sequences(sequences, max_len)
  return dataclasses.replace(split, ids=[f"{i}|{kind}" for i in split.ids], sequences=sequences, seq=enc.codes,
                             lengths=enc.lengths, labels=np.asarray(split.labels).copy(), sec=None)
