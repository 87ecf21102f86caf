"""Boundary noise: the flank generator (Noviello et al.'s protocol) and training-time flank augmentation."""

import numpy as np
import pytest

from rcl.data import flanks
from rcl.data.batching import batches
from rcl.data.dataset import Split
from rcl.data.encoding import encode_sequences


def _dinucleotides(sequence: str) -> set[str]:
  return {sequence[i:i + 2] for i in range(0, len(sequence), 2)}


@pytest.mark.parametrize("length", [30, 31, 101])
@pytest.mark.parametrize("percent", [0, 25, 50, 100, 150, 200])
def test_dinucleotide_flanks_have_the_protocol_lengths_and_pieces(length, percent):
  rng = np.random.default_rng(length)
  record = "".join(rng.choice(list("ACGT"), length))
  flanked = flanks.flank_sequence(record, percent, np.random.default_rng(1))
  pieces = int(0.25 * length * percent / 100)  # Noviello's count per side
  assert flanks.per_side(length, percent, "dinucleotide") == pieces
  # Each side is `pieces` pieces of the record: 2 bases each, or 1 for an odd record's last base.
  assert pieces <= (len(flanked) - length) / 2 <= 2 * pieces
  own = _dinucleotides(record)
  if pieces == 0:
    assert flanked == record
    return
  # The record stands unchanged in the middle and each flank parses as `pieces` of its pieces.
  found = False
  for start in range(len(flanked) - length + 1):
    if flanked[start:start + length] != record:
      continue
    lhs, rhs = flanked[:start], flanked[start + length:]
    if _made_of(lhs, own, pieces) and _made_of(rhs, own, pieces):
      found = True
      break
  assert found, (record, flanked)


def _made_of(side: str, pieces: set[str], count: int) -> bool:
  """Whether `side` parses as exactly `count` pieces from `pieces`."""
  reachable = {0: {0}}
  for position in range(len(side) + 1):
    for used in reachable.get(position, ()):
      for size in (1, 2):
        if side[position:position + size] in pieces and position + size <= len(side):
          reachable.setdefault(position + size, set()).add(used + 1)
  return count in reachable.get(len(side), set())


def test_uniform_flanks_lengths_alphabet_and_balance():
  record = "A" * 400
  flanked = flanks.flank_sequence(record, 100, np.random.default_rng(0), "uniform")
  assert len(flanked) == 400 + 2 * 200 and flanked[200:600] == record
  sides = flanked[:200] + flanked[600:]
  counts = np.array([sides.count(c) for c in "ACGT"])
  assert counts.sum() == 400 and counts.min() > 60  # about 100 each


def test_flanks_are_seeded():
  split = _split(["ACGTTGCA" * 5, "GGGAAACCCUUU".replace("U", "T") * 3], ["x", "y"])
  a = flanks.flank_split(split, 100, seed=3, stream=0, max_len=200)
  b = flanks.flank_split(split, 100, seed=3, stream=0, max_len=200)
  c = flanks.flank_split(split, 100, seed=4, stream=0, max_len=200)
  d = flanks.flank_split(split, 100, seed=3, stream=1, max_len=200)
  assert a.sequences == b.sequences and a.sequences != c.sequences and a.sequences != d.sequences
  np.testing.assert_array_equal(a.seq, b.seq)
  assert list(a.lengths) == [len(s) for s in a.sequences] and list(a.labels) == list(split.labels)
  assert flanks.flank_split(split, 0, seed=3).sequences == split.sequences


def test_bad_levels_and_kinds_are_refused():
  with pytest.raises(ValueError, match="kind"):
    flanks.per_side(10, 50, "random")
  with pytest.raises(ValueError, match=">= 0"):
    flanks.per_side(10, -5, "uniform")
  with pytest.raises(ValueError, match="share"):
    flanks.Augmentation(1.5)


def _split(sequences, ids, width=64):
  enc = encode_sequences(sequences, width)
  return Split(ids, sequences, enc.codes, enc.lengths, np.arange(len(ids), dtype=np.int32) % 3)


def test_training_flanks_are_fresh_each_epoch_and_reproducible():
  rng = np.random.default_rng(0)
  sequences = ["".join(rng.choice(list("ACGT"), rng.integers(20, 40))) for _ in range(200)]
  split = _split(sequences, [f"r{i}" for i in range(200)], width=96)
  aug = flanks.Augmentation(0.5, 200.0, "mixed")
  one, again = flanks.Flanked(split, aug, seed=1), flanks.Flanked(split, aug, seed=1)
  e0, e1 = one.columns(0), one.columns(1)
  np.testing.assert_array_equal(e0["seq"], again.columns(0)["seq"])
  np.testing.assert_array_equal(e1["length"], again.columns(1)["length"])
  assert not np.array_equal(e0["seq"], e1["seq"])
  changed = e0["length"] > split.lengths
  assert 0.35 < changed.mean() < 0.65  # about half the records get flanks
  assert (e0["length"] <= 96).all() and (e0["length"] >= split.lengths).all()
  for i in np.flatnonzero(changed)[:20]:  # the record stands whole inside its flanked version
    row, clean = e0["seq"][i, :e0["length"][i]].tobytes(), split.seq[i, :split.lengths[i]].tobytes()
    assert clean in row
    assert not e0["seq"][i, e0["length"][i]:].any()  # padding after the end
  np.testing.assert_array_equal(e0["label"], split.labels)
  # Batches of a flanked split are cut from the epoch's codes, bucketed by the flanked lengths.
  rows = [b for b, _ in batches(one, 32, seed=0, epoch=0, bucket_lengths=(48, 96))]
  assert sum(int(b["mask"].sum()) for b in rows) == 200
  for b in rows:
    assert (b["length"] <= b["seq"].shape[1]).all()
