"""De-duplication, seeded splits, explicit splits and the class vocabulary."""

import numpy as np
import pytest

from rcl.data.dataset import load_dataset
from rcl.data.fasta import Record
from rcl.data.split import deduplicate, split_indices


def _rec(i, seq, label):
  return Record(f"r{i}", label, seq, "f.fa", i)


def test_deduplicate_counts_and_conflicts():
  records = [_rec(1, "AAAA", "x"), _rec(2, "AAAA", "x"), _rec(3, "CCCC", "y"), _rec(4, "CCCC", "z"), _rec(5, "GG", "x")]
  kept, report = deduplicate(records, "drop")
  assert [r.id for r in kept] == ["r1", "r5"]
  assert report.duplicates == 2 and len(report.conflicts) == 1
  assert "r3" in report.conflicts[0]["first"] and "r4" in report.conflicts[0]["second"]
  kept, _ = deduplicate(records, "first")
  assert [r.id for r in kept] == ["r1", "r3", "r5"]
  with pytest.raises(ValueError, match="two labels"):
    deduplicate(records, "error")


def test_split_is_seeded_disjoint_and_complete():
  a = split_indices(1001, seed=3)
  b = split_indices(1001, seed=3)
  c = split_indices(1001, seed=4)
  for k in a:
    np.testing.assert_array_equal(a[k], b[k])
  assert not np.array_equal(a["train"], c["train"])
  assert [len(a[k]) for k in ("train", "val", "test")] == [801, 100, 100]
  allidx = np.concatenate([a["train"], a["val"], a["test"]])
  assert sorted(allidx.tolist()) == list(range(1001))


def _fasta(n, seed, classes=("a", "b", "c")):
  rng = np.random.default_rng(seed)
  lines = []
  for i in range(n):
    seq = "".join(rng.choice(list("ACGT"), rng.integers(20, 40)))
    lines.append(f">id{seed}_{i} {classes[i % len(classes)]}\n{seq}\n")
  return "".join(lines)


def test_load_split_mode(write_fasta):
  text = _fasta(200, 0)
  p1 = write_fasta("one.fa", text)
  p2 = write_fasta("two.fa", _fasta(100, 0))  # the same first 100 records again
  data = load_dataset([p1, p2], seed=1, max_len=32)
  sizes = [len(data.splits[k]) for k in ("train", "val", "test")]
  assert sum(sizes) == 200 and sizes == [160, 20, 20]
  assert data.summary["dedup"]["duplicates"] == 100
  assert data.classes == ["a", "b", "c"]
  seqs = [set(data.splits[k].sequences) for k in ("train", "val", "test")]
  assert not (seqs[0] & seqs[1]) and not (seqs[0] & seqs[2]) and not (seqs[1] & seqs[2])
  assert data.summary["train"]["cut_to_max_len"] == sum(len(s) > 32 for s in data.splits["train"].sequences)
  again = load_dataset([p1, p2], seed=1, max_len=32)
  assert again.splits["test"].ids == data.splits["test"].ids


def test_explicit_mode_vocabulary_is_union_and_val_carved(write_fasta):
  train = write_fasta("train.fa", _fasta(100, 1, ("a", "b")))
  test = write_fasta("test.fa", _fasta(10, 2, ("a", "c")))
  data = load_dataset(train_files=[train], test_files=[test], seed=0, max_len=64)
  assert data.classes == ["a", "b", "c"]
  assert len(data.splits["val"]) == 10 and len(data.splits["train"]) == 90
  assert data.summary["test"]["class_counts"] == {"a": 5, "b": 0, "c": 5}
  with pytest.raises(ValueError, match="either"):
    load_dataset([train], train_files=[train], test_files=[test])


def test_given_test_file_is_evaluated_as_published(write_fasta):
  train = write_fasta("train.fa", ">t1 a\nACGTACGT\n>t2 b\nGGGGCCCC\n>t3 a\nACGTACGT\n")
  # The published test set repeats a record, carries a conflicting label and shares a training sequence.
  test = write_fasta("test.fa", ">x1 a\nACGTACGT\n>x2 b\nTTTTAAAA\n>x3 b\nTTTTAAAA\n>x4 a\nTTTTAAAA\n>x5 b\nCCCCAAAA\n")
  val = write_fasta("val.fa", ">v1 a\nAAAACCCC\n>v2 b\nGGGGTTTT\n>v3 b\nGGGGTTTT\n")
  data = load_dataset(train_files=[train], val_files=[val], test_files=[test], max_len=16)
  assert data.splits["test"].ids == ["x1", "x2", "x3", "x4", "x5"]  # record for record
  assert data.splits["test"].labels.tolist() == [data.classes.index(c) for c in "abbab"]
  assert len(data.splits["train"]) == 2 and len(data.splits["val"]) == 2  # these are still de-duplicated
  assert data.summary["test_records_in_train"] == 1 and data.summary["test_duplicate_records"] == 2
