"""Compact uint8 codes for sequences and structures, and the one-hot tables of the paper (footnote 2).

On the host a sequence is one byte per position (0 = padding). The models expand the codes with these
tables inside the jitted computation (`rcl.models.inputs`), so a data set of N sequences costs
N x max_len bytes rather than N x max_len x 8 floats. This module needs NumPy only (no JAX), so that
folding worker processes stay light.
"""

from __future__ import annotations

import dataclasses

import numpy as np

PAD = 0
AMBIGUOUS = 5
SEQUENCE_CODES = {"A": 1, "C": 2, "G": 3, "T": 4}

# Rows indexed by code: padding, A, C, G, T, ambiguous ("other symbol": all zeros, as in the paper).
SEQUENCE_TABLE = np.array(
    [
        [0, 0, 0, 0, 0, 0, 0, 0],  # padding
        [1, 0, 0, 0, 0, 0, 1, 0],  # A
        [0, 0, 0, 1, 0, 1, 0, 0],  # C
        [0, 1, 0, 0, 0, 0, 0, 1],  # G
        [0, 0, 1, 0, 1, 0, 0, 0],  # T/U
        [0, 0, 0, 0, 0, 0, 0, 0],  # IUPAC ambiguity code
    ],
    dtype=np.float32,
)
SEQUENCE_CHANNELS = SEQUENCE_TABLE.shape[1]

# Dot-bracket structure: padding, '(', ')', '.'.
STRUCTURE_CODES = {"(": 1, ")": 2, ".": 3}
STRUCTURE_TABLE = np.eye(4, dtype=np.float32)[:, 1:]
STRUCTURE_CHANNELS = STRUCTURE_TABLE.shape[1]

_SEQ_LUT = np.full(256, AMBIGUOUS, dtype=np.uint8)
for _char, _code in SEQUENCE_CODES.items():
  _SEQ_LUT[ord(_char)] = _code
_SEQ_LUT[ord("U")] = SEQUENCE_CODES["T"]
_STRUCT_LUT = np.zeros(256, dtype=np.uint8)
for _char, _code in STRUCTURE_CODES.items():
  _STRUCT_LUT[ord(_char)] = _code


@dataclasses.dataclass(frozen=True)
class Encoded:
  """Sequences as fixed-width codes.

  Attributes:
    codes: uint8[n, max_len], 0 after each sequence's end.
    lengths: int32[n], encoded length (min(true length, max_len)).
    cut: int, how many sequences were longer than max_len and lost their tail.
  """
  codes: np.ndarray
  lengths: np.ndarray
  cut: int


def _encode(strings: list[str], max_len: int, lut: np.ndarray) -> Encoded:
  if max_len <= 0:
    raise ValueError(f"max_len must be positive, got {max_len}")
  codes = np.zeros((len(strings), max_len), dtype=np.uint8)
  lengths = np.zeros(len(strings), dtype=np.int32)
  cut = 0
  for i, s in enumerate(strings):
    raw = np.frombuffer(s.encode("ascii"), dtype=np.uint8)[:max_len]
    codes[i, : raw.size] = lut[raw]
    lengths[i] = raw.size
    cut += len(s) > max_len
  return Encoded(codes, lengths, cut)


def encode_sequences(sequences: list[str], max_len: int = 1000) -> Encoded:
  """Encodes upper-case DNA strings (IUPAC codes allowed) as uint8 codes, cutting tails past max_len."""
  return _encode(sequences, max_len, _SEQ_LUT)


def encode_structures(structures: list[str], max_len: int = 1000) -> Encoded:
  """Encodes dot-bracket strings as uint8 codes, cutting tails past max_len."""
  return _encode(structures, max_len, _STRUCT_LUT)
