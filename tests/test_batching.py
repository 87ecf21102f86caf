"""Batches: fixed shapes, full coverage once per epoch, determinism, and few bucket shapes."""

import numpy as np

from rcl.data.batching import batches, plan_batches
from rcl.data.dataset import Split
from rcl.data.encoding import encode_sequences


def _split(n, seed=0, max_len=300):
  rng = np.random.default_rng(seed)
  seqs = ["".join(rng.choice(list("ACGT"), rng.integers(10, max_len))) for _ in range(n)]
  enc = encode_sequences(seqs, max_len)
  return Split([f"s{i}" for i in range(n)], seqs, enc.codes, enc.lengths, np.arange(n, dtype=np.int32) % 3)


def test_fixed_batches_cover_each_row_once():
  split = _split(103)
  out = list(batches(split, 16, seed=0, epoch=2))
  assert all(b["seq"].shape == (16, 300) and "index" not in b for b, _ in out)
  seen = np.concatenate([index[b["mask"] > 0] for b, index in out])
  assert sorted(seen.tolist()) == list(range(103))
  again = list(batches(split, 16, seed=0, epoch=2))
  assert all(np.array_equal(a[1], b[1]) for a, b in zip(out, again))
  other = list(batches(split, 16, seed=0, epoch=3))
  assert not np.array_equal(out[0][1], other[0][1])


def test_buckets_cover_once_with_few_shapes():
  split = _split(500)
  buckets = (64, 128, 300)
  out = list(batches(split, 32, seed=1, epoch=0, bucket_lengths=buckets))
  shapes = {b["seq"].shape for b, _ in out}
  assert shapes <= {(32, 64), (32, 128), (32, 300)} and len(shapes) == 3
  seen = np.concatenate([index[b["mask"] > 0] for b, index in out])
  assert sorted(seen.tolist()) == list(range(500))
  for b, index in out:
    assert (b["length"] <= b["seq"].shape[1]).all()
    np.testing.assert_array_equal(b["seq"], split.seq[index, : b["seq"].shape[1]])
    assert (split.lengths[index] <= b["seq"].shape[1]).all()  # nothing is cut by bucketing
  # Fewer padded positions than padding everything to 300.
  assert sum(b["seq"].size for b, _ in out) < 0.75 * len(out) * 32 * 300
  assert len(plan_batches(split, 32, seed=1, bucket_lengths=buckets)) == len(out)
  # Leftovers move up a bucket: one short batch at most, in the longest bucket, and no more batches
  # than the rows need.
  short = [b for b, _ in out if b["mask"].sum() < 32]
  assert len(short) <= 1 and all(b["seq"].shape[1] == 300 for b in short)
  assert len(out) == -(-500 // 32)
