"""Seeded, deterministic batches of fixed shape, optionally bucketed by sequence length.

Every batch has exactly `batch_size` rows so the jitted step compiles once per (bucket) length. A
short final batch is filled with repeats (mask 0): they count in no loss or metric. With bucketing,
sequences are grouped by the smallest bucket length that holds them and batches are formed within
buckets, shortest bucket first; the rows left over from a bucket's last, incomplete batch move up
into the next bucket (they fit its longer padding), so only the longest bucket can end in a short
batch. The batch order is then shuffled; every sequence is seen once per epoch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from rcl.data.dataset import Split

# Columns holding per-position codes: cut to the batch's padded length.
_POSITIONAL = ("seq", "sec")


def bucket_lengths(buckets: Sequence[int], max_len: int) -> tuple[int, ...] | None:
  """The padded lengths in use: the buckets below `max_len`, then `max_len` itself; None (pad every
  batch to `max_len`) when there are no buckets."""
  if not buckets:
    return None
  return tuple(b for b in sorted(buckets) if b < max_len) + (max_len,)


def bucket_of(lengths: np.ndarray, bucket_lengths: Sequence[int]) -> np.ndarray:
  """int[n] lengths -> int[n] index of the smallest bucket length >= each length."""
  edges = np.asarray(sorted(bucket_lengths))
  idx = np.searchsorted(edges, lengths, side="left")
  if (idx >= len(edges)).any():
    raise ValueError(f"a sequence of length {int(lengths.max())} exceeds the largest bucket {edges[-1]}")
  return idx


def _chunks(index: np.ndarray, batch_size: int) -> list[tuple[np.ndarray, int]]:
  """Splits `index` into full batches, filling the last with repeats; returns (rows, valid count)."""
  out = []
  for start in range(0, len(index), batch_size):
    rows = index[start:start + batch_size]
    valid = len(rows)
    if valid < batch_size:
      rows = np.concatenate([rows, np.resize(index, batch_size - valid)])
    out.append((rows, valid))
  return out


def _make(split: Split, rows: np.ndarray, valid: int, length: int | None, epoch: int) -> dict[str, np.ndarray]:
  mask = np.zeros(len(rows), np.float32)
  mask[:valid] = 1.0
  batch = {"mask": mask}
  for name, column in split.columns(epoch).items():
    batch[name] = column[rows, :length] if name in _POSITIONAL else column[rows]
  if "length" in batch and length is not None:
    batch["length"] = np.minimum(batch["length"], length).astype(np.int32)
  return batch


def plan_batches(split: Split, batch_size: int, *, seed: int | None = None, epoch: int = 0,
                 bucket_lengths: Sequence[int] | None = None,
                 capacities: Sequence[int] | None = None) -> list[tuple[np.ndarray, int, int]]:
  """The epoch's batches as (rows, valid, padded length or None for full width), without arrays.

  Args:
    split: the data: anything with `__len__` and `columns(epoch)` (holding 'seq' and 'length' for bucketing).
    batch_size: rows per batch.
    seed: None for the split's order (evaluation), else a shuffle seeded by (seed, epoch).
    epoch: mixes into the shuffle so each epoch differs, reproducibly (resume-safe).
    bucket_lengths: None pads every batch to the split's width; else the allowed padded lengths.
    capacities: the longest sequence each bucket admits, in the order of sorted `bucket_lengths` (default:
      the bucket lengths; a CNN's inference windows admit less than their width, `rcl.models.cnn.windows`).
  """
  n = len(split)
  if n == 0:
    return []
  rng = None if seed is None else np.random.default_rng([seed, epoch])
  order = np.arange(n) if rng is None else rng.permutation(n)
  if not bucket_lengths:
    return [(rows, valid, None) for rows, valid in _chunks(order, batch_size)]
  edges = sorted(bucket_lengths)
  columns = split.columns(epoch)  # lengths may change with the epoch (training flanks, `rcl.data.flanks`)
  which = bucket_of(columns["length"][order], edges if capacities is None else capacities)
  plan = []
  left = order[:0]
  for b, length in enumerate(edges):
    members = np.concatenate([left, order[which == b]])
    full = len(members) if b == len(edges) - 1 else len(members) // batch_size * batch_size
    members, left = members[:full], members[full:]
    plan.extend((rows, valid, min(length, columns["seq"].shape[1])) for rows, valid in _chunks(members, batch_size))
  if rng is not None:
    plan = [plan[i] for i in rng.permutation(len(plan))]
  return plan


def batches(split: Split, batch_size: int, *, seed: int | None = None, epoch: int = 0,
            bucket_lengths: Sequence[int] | None = None,
            capacities: Sequence[int] | None = None) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray]]:
  """Yields the batches of `plan_batches` as (batch, index): a dict of numpy arrays cut from
  `split.columns(epoch)`, and index int32[b], each row's place in the split.

  A batch holds the split's columns for its rows (sequence splits: seq uint8[b, L], length int32[b],
  label int32[b] and, with structures, sec uint8[b, L]; feature tables: features float32[b, d],
  label int32[b]) plus mask float32[b] (1 for real rows): what a network reads, and nothing else.
  """
  for rows, valid, length in plan_batches(split, batch_size, seed=seed, epoch=epoch, bucket_lengths=bucket_lengths,
                                          capacities=capacities):
    yield _make(split, rows, valid, length, epoch), rows.astype(np.int32)
