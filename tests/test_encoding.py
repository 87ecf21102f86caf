"""Encoding: the paper's exact 8-channel vectors, padding, cutting, and structure channels."""

import jax
import numpy as np

from rcl.data import encoding
from rcl.models import inputs

PAPER = {
    "A": [1, 0, 0, 0, 0, 0, 1, 0],
    "T": [0, 0, 1, 0, 1, 0, 0, 0],
    "G": [0, 1, 0, 0, 0, 0, 0, 1],
    "C": [0, 0, 0, 1, 0, 1, 0, 0],
    "N": [0] * 8,
    "R": [0] * 8,
}


def test_exact_paper_vectors_and_padding():
  enc = encoding.encode_sequences(["ATGCNR"], max_len=8)
  assert enc.codes.dtype == np.uint8 and enc.codes.shape == (1, 8)
  onehot = np.asarray(jax.jit(inputs.one_hot_sequence)(enc.codes))
  assert onehot.shape == (1, 8, 8)
  for i, ch in enumerate("ATGCNR"):
    np.testing.assert_array_equal(onehot[0, i], PAPER[ch])
  np.testing.assert_array_equal(onehot[0, 6:], 0)  # padding
  assert enc.lengths.tolist() == [6] and enc.cut == 0


def test_u_is_t_and_tail_is_cut():
  enc = encoding.encode_sequences(["ACGTACGT", "U"], max_len=4)
  assert enc.codes.tolist() == [[1, 2, 3, 4], [4, 0, 0, 0]]
  assert enc.lengths.tolist() == [4, 1] and enc.cut == 1


def test_structure_channels():
  enc = encoding.encode_structures(["((..))"], max_len=7)
  onehot = np.asarray(inputs.one_hot_structure(enc.codes))
  expected = [[1, 0, 0], [1, 0, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [0, 1, 0], [0, 0, 0]]
  np.testing.assert_array_equal(onehot[0], expected)
