"""Classifying FASTA records with a model bundle, streamed: read, encode, predict and write a chunk at a
time, so memory does not grow with the input."""

from __future__ import annotations

import collections
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from rcl.bundle import Bundle
from rcl.data.dataset import Split
from rcl.data.encoding import encode_sequences
from rcl.data.fasta import AMBIGUITY, Record
from rcl.data.structure import attach_structures, fold_all

FORMATS = ("tsv", "jsonl")
TSV_HEADER = "id\tlength\tcall\tpredicted\tname\tprobability\tnovelty\ttop\tflags\n"
UNCLASSIFIED = "unclassified"  # the call of a record whose novelty score is above the bundle's threshold


def _chunks(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
  chunk: list[Record] = []
  for record in records:
    chunk.append(record)
    if len(chunk) == size:
      yield chunk
      chunk = []
  if chunk:
    yield chunk


_AMBIGUOUS = re.compile(f"[{''.join(sorted(AMBIGUITY))}]")


def flags(sequence: str, max_len: int, shortest: int | None) -> list[str]:
  """What a reader should know about a prediction: 'cut' (longer than max_len, the tail unseen),
  'ambiguous' (IUPAC ambiguity codes), 'short' (shorter than every training sequence)."""
  out = []
  if len(sequence) > max_len:
    out.append("cut")
  if _AMBIGUOUS.search(sequence):
    out.append("ambiguous")
  if shortest is not None and len(sequence) < shortest:
    out.append("short")
  return out


def _predict(bundle: Bundle, chunk: list[Record], structure_cache: str | None
             ) -> tuple[np.ndarray, np.ndarray | None]:
  """(float32[len(chunk), classes] calibrated probabilities, float32[len(chunk)] novelty scores or None) for
  a chunk of records."""
  sequences = [r.sequence for r in chunk]
  enc = encode_sequences(sequences, bundle.meta["max_len"])
  split = Split([r.id for r in chunk], sequences, enc.codes, enc.lengths, np.zeros(len(chunk), np.int32))
  if bundle.needs_structure:
    attach_structures(split, fold_all(sequences, structure_cache, 0)[0], bundle.meta["max_len"])
  return bundle.calibrated(bundle.outputs(split))


def rows(bundle: Bundle, records: Iterable[Record], *, chunk_size: int = 4096, top_k: int = 3,
         structure_cache: str | None = None, workers: int = 4) -> Iterator[list[dict]]:
  """Per chunk of records, in input order, one dict per record: id, length, the call (the predicted class, or
  UNCLASSIFIED when the novelty score exceeds the bundle's threshold), the predicted class, its name (from
  the bundle's `class_names`; None where unknown) and its calibrated probability, the novelty score (None
  for a bundle without a novelty rule), the top_k (class, probability) pairs and flags.

  `workers` chunks are predicted at once, each in its own thread: XLA runs computations from different
  threads concurrently, which keeps the cores busy through the RNN's sequential scan (BUILD.md,
  "Measurements behind code choices"). At most workers + 1 chunks are held. An error met while reading is
  raised after the rows of every chunk read before it.
  """
  classes, max_len = bundle.classes, bundle.meta["max_len"]
  shortest = bundle.meta.get("provenance", {}).get("train_length_min")
  names = bundle.meta.get("class_names") or {}

  rule = bundle.novelty_rule
  limit = np.inf if rule is None else rule[1]

  def finish(chunk: list[Record], result: tuple[np.ndarray, np.ndarray | None]) -> list[dict]:
    probs, scores = result
    order = np.argsort(-probs, axis=1, kind="stable")[:, :top_k]
    return [{"id": r.id, "length": len(r.sequence),
             "call": classes[order[i, 0]] if scores is None or scores[i] <= limit else UNCLASSIFIED,
             "predicted": classes[order[i, 0]], "name": names.get(classes[order[i, 0]]),
             "probability": float(probs[i, order[i, 0]]), "novelty": None if scores is None else float(scores[i]),
             "top": [(classes[j], float(probs[i, j])) for j in order[i]],
             "flags": flags(r.sequence, max_len, shortest)} for i, r in enumerate(chunk)]

  chunks = _chunks(records, chunk_size)
  pending: collections.deque = collections.deque()
  with ThreadPoolExecutor(max(1, workers)) as pool:
    while True:
      try:
        chunk = next(chunks, None)
      except Exception:
        while pending:  # what was read before the error is still written
          done_chunk, future = pending.popleft()
          yield finish(done_chunk, future.result())
        raise
      if chunk is not None:
        pending.append((chunk, pool.submit(_predict, bundle, chunk, structure_cache)))
      if pending and (chunk is None or len(pending) > workers):
        done_chunk, future = pending.popleft()
        yield finish(done_chunk, future.result())
      if chunk is None and not pending:
        return


def format_row(row: dict, fmt: str) -> str:
  """One output line (with its newline) in 'tsv' (an unknown name is empty) or 'jsonl'."""
  if fmt == "jsonl":
    return json.dumps(row) + "\n"
  top = ",".join(f"{c}:{p:.4f}" for c, p in row["top"])
  novelty = "" if row["novelty"] is None else f"{row['novelty']:.4g}"
  return (f"{row['id']}\t{row['length']}\t{row['call']}\t{row['predicted']}\t{row['name'] or ''}\t"
          f"{row['probability']:.4f}\t{novelty}\t{top}\t{','.join(row['flags'])}\n")


def classify(bundle: Bundle, records: Iterable[Record], out, *, fmt: str = "tsv", chunk_size: int = 4096,
             top_k: int = 3, structure_cache: str | None = None, workers: int = 4,
             progress: Callable[[int, float], None] | None = None) -> int:
  """Writes one line per record to the text stream `out` (a header first for TSV), flushed after every
  chunk, so that a parsing error met later leaves whole lines only. Returns the records written;
  `progress(records, seconds)` is called after every chunk."""
  if fmt not in FORMATS:
    raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
  if fmt == "tsv":
    out.write(TSV_HEADER)
  done, start = 0, time.perf_counter()
  for chunk in rows(bundle, records, chunk_size=chunk_size, top_k=top_k, structure_cache=structure_cache,
                    workers=workers):
    out.write("".join(format_row(row, fmt) for row in chunk))
    out.flush()
    done += len(chunk)
    if progress is not None:
      progress(done, time.perf_counter() - start)
  return done
