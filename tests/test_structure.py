"""Tests for ViennaRNA folding, the structure cache and attaching structures to a split."""

from __future__ import annotations

import os

import numpy as np
import pytest

from rcl.data import encoding, folding, structure, structure_cache
from rcl.data.dataset import Split

HAIRPIN = "GGGGAAAACCCC"


def random_sequences(n: int, seed: int, low: int = 30, high: int = 120) -> list[str]:
  rng = np.random.default_rng(seed)
  return ["".join(rng.choice(list("ACGT"), int(rng.integers(low, high + 1)))) for _ in range(n)]


def assert_valid(seq: str, dot_bracket: str) -> None:
  assert len(dot_bracket) == len(seq)
  assert set(dot_bracket) <= set("().")
  depth = 0
  for c in dot_bracket:
    depth += {"(": 1, ")": -1, ".": 0}[c]
    assert depth >= 0
  assert depth == 0


def test_fold_known_hairpin():
  assert folding.fold(HAIRPIN) == "((((....))))"
  assert folding.fold("") == ""
  # T is folded as U.
  assert folding.fold("GGGGAAAATCCCC") == folding.fold("GGGGAAAAUCCCC") == "(((((...)))))"


def test_fold_lengths_match_sequences():
  for seq in random_sequences(10, seed=1):
    assert_valid(seq, folding.fold(seq))


def test_normalise():
  assert folding.normalise("ACGTNRYKMSWBDHV") == "ACGUNNNNNNNNNNN"
  assert folding.normalise("acgt") == "ACGU"
  assert folding.normalise("") == ""


@pytest.mark.parametrize("seq", [
    "GGGGNNNNCCCC",
    "GGGRYKMSWBDHVCCCC",
    "NNNNNNNN",
    "N",
    "GGGGAAAACCNC",
    "GGGGRAAAYCCCCKMSWACGTBDHV",
])
def test_ambiguity_codes_fold_unpaired(seq):
  dot_bracket = folding.fold(seq)
  assert_valid(seq, dot_bracket)
  for base, symbol in zip(seq, dot_bracket):
    if base not in "ACGT":
      assert symbol == "."
  # Every ambiguity code is folded exactly as an N.
  as_n = "".join(b if b in "ACGT" else "N" for b in seq)
  assert folding.fold(as_n) == dot_bracket


def test_ambiguity_codes_random_never_pair():
  rng = np.random.default_rng(7)
  for _ in range(20):
    seq = "".join(rng.choice(list("ACGTACGTNRYKMSWBDHV"), int(rng.integers(20, 150))))
    dot_bracket = folding.fold(seq)
    assert_valid(seq, dot_bracket)
    assert all(s == "." for b, s in zip(seq, dot_bracket) if b not in "ACGT")


def test_fold_all_cache_round_trip(tmp_path):
  seqs = random_sequences(12, seed=2) + [HAIRPIN]
  first, stats1 = structure.fold_all(seqs, tmp_path, workers=1)
  assert stats1["total"] == 13 and stats1["cached"] == 0 and stats1["folded"] == 13
  assert first[-1] == "((((....))))"
  assert first == [folding.fold(s) for s in seqs]
  second, stats2 = structure.fold_all(seqs, tmp_path, workers=1)
  assert stats2["total"] == 13 and stats2["cached"] == 13 and stats2["folded"] == 0
  assert second == first
  assert stats2["seconds"] >= 0.0
  # Layout: one tag directory naming the ViennaRNA version, with params.json and segment files.
  (tag,) = os.listdir(tmp_path)
  assert tag == structure_cache.cache_tag() and tag.startswith(f"vienna-{folding.vienna_version()}-")
  names = os.listdir(tmp_path / tag)
  assert "params.json" in names
  assert any(n.startswith("seg-") and n.endswith(".tsv") for n in names)
  assert not any(n.startswith(".tmp-") for n in names)


def test_fold_all_partial_cache_folds_only_missing(tmp_path):
  seqs = random_sequences(10, seed=3)
  structure.fold_all(seqs[:4], tmp_path, workers=1)
  calls = []
  out, stats = structure.fold_all(seqs, tmp_path, workers=1, progress=lambda d, t: calls.append((d, t)))
  assert stats["cached"] == 4 and stats["folded"] == 6 and stats["total"] == 10
  assert calls[0] == (0, 6) and calls[-1] == (6, 6)
  assert out == [folding.fold(s) for s in seqs]


def test_fold_all_deduplicates():
  seqs = random_sequences(3, seed=4)
  seqs = [seqs[0], seqs[1], seqs[0], seqs[2], seqs[1], seqs[0]]
  out, stats = structure.fold_all(seqs, None, workers=1)
  assert stats == {**stats, "total": 6, "unique": 3, "cached": 0, "folded": 3}
  assert out[0] == out[2] == out[5] and out[1] == out[4]
  assert out == [folding.fold(s) for s in seqs]


def test_fold_all_parallel_matches_serial():
  seqs = random_sequences(20, seed=5)
  serial, _ = structure.fold_all(seqs, None, workers=1)
  calls = []
  parallel, stats = structure.fold_all(seqs, None, workers=2, progress=lambda d, t: calls.append((d, t)))
  assert parallel == serial
  assert stats["folded"] == 20 and stats["cached"] == 0
  assert calls[0] == (0, 20) and calls[-1] == (20, 20)
  done = [d for d, _ in calls]
  assert done == sorted(done) and len(calls) > 2  # several chunks, reported as they finish
  assert all(t == 20 for _, t in calls)


def test_fold_all_interrupted_run_keeps_folded(tmp_path):
  seqs = random_sequences(2 * structure.CHUNK_SIZE, seed=6, low=20, high=40)

  first_chunk = []

  def stop_after_first_chunk(done, total):
    if done > 0:
      first_chunk.append(done)
      raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    structure.fold_all(seqs, tmp_path, workers=1, progress=stop_after_first_chunk)
  (k,) = first_chunk
  assert 0 < k < len(seqs)
  out, stats = structure.fold_all(seqs, tmp_path, workers=1)
  assert stats["cached"] == k and stats["folded"] == len(seqs) - k
  assert out[:k] == [folding.fold(s) for s in seqs[:k]]


def test_cache_is_versioned(tmp_path, monkeypatch):
  seqs = random_sequences(3, seed=8)
  structure.fold_all(seqs, tmp_path, workers=1)
  monkeypatch.setattr(structure_cache, "vienna_version", lambda: "0.0.0")
  _, stats = structure.fold_all(seqs, tmp_path, workers=1)
  assert stats["cached"] == 0 and stats["folded"] == 3
  assert len(os.listdir(tmp_path)) == 2


def test_cache_skips_malformed_lines_and_compacts(tmp_path, monkeypatch):
  seqs = random_sequences(6, seed=9)
  for s in seqs:  # one segment per call
    structure.fold_all([s], tmp_path, workers=1)
  path = tmp_path / structure_cache.cache_tag()
  (path / "seg-zzz-broken.tsv").write_text("not a line\n" + "ab\t((\n" + "f" * 64 + "\t(x)\n")
  monkeypatch.setattr(structure_cache, "_COMPACT_AT", 3)
  cache = structure_cache.StructureCache(tmp_path)
  assert [cache.get(s) for s in seqs] == [folding.fold(s) for s in seqs]
  assert len(cache) == 6
  assert len([n for n in os.listdir(path) if n.startswith("seg-")]) == 1
  assert cache.get(seqs[0][:-1]) is None
  with pytest.raises(ValueError):
    cache.put("ACGU", "(.)")


def test_fold_all_rejects_negative_workers():
  with pytest.raises(ValueError, match="workers"):
    structure.fold_all(["ACGT"], None, workers=-1)


def make_split(sequences: list[str], max_len: int) -> Split:
  enc = encoding.encode_sequences(sequences, max_len)
  ids = [f"r{i}" for i in range(len(sequences))]
  return Split(ids, sequences, enc.codes, enc.lengths, np.zeros(len(sequences), np.int32))


def test_attach_structures_sets_codes():
  seqs = [HAIRPIN, "ACGTACGTAC"]
  split = make_split(seqs, max_len=8)
  structures, _ = structure.fold_all(seqs, None, workers=1)
  structure.attach_structures(split, structures, max_len=8)
  assert split.sec.dtype == np.uint8 and split.sec.shape == (2, 8)
  np.testing.assert_array_equal(split.sec[0], [1, 1, 1, 1, 3, 3, 3, 3])  # '((((....' cut to 8
  expected = encoding.encode_structures(structures, 8).codes
  np.testing.assert_array_equal(split.sec, expected)
  # Subsets carry the structures along.
  np.testing.assert_array_equal(split.subset(np.array([1])).sec, expected[1:])


def test_attach_structures_rejects_mismatch():
  split = make_split([HAIRPIN, "ACGTACGTAC"], max_len=16)
  with pytest.raises(ValueError, match="'r1'"):
    structure.attach_structures(split, ["((((....))))", "....."], max_len=16)
  with pytest.raises(ValueError, match="2 sequences"):
    structure.attach_structures(split, ["((((....))))"], max_len=16)
  with pytest.raises(ValueError, match="max_len"):
    structure.attach_structures(split, ["((((....))))", ".........."], max_len=8)
  with pytest.raises(ValueError, match="'r0'"):
    structure.attach_structures(split, ["((((....))x)", ".........."], max_len=16)
  assert split.sec is None
