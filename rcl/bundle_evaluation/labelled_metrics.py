"""A model bundle's metrics on labelled FASTA records (per-class table, confusion), streamed like classification."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from rcl.analysis import metrics
from rcl.bundle import Bundle
from rcl.classify import TSV_HEADER, format_row, rows
from rcl.data import seen
from rcl.data.fasta import Record

PREDICTIONS_HEADER = TSV_HEADER.rstrip("\n") + "\ttrue\tcorrect\tseen\n"


def _known(records: Iterable[Record], classes: list[str], truth: list[int], was_seen: list[bool],
           digests) -> Iterator[Record]:
  """The records, each label checked against the model's classes (as it is read, before its chunk is
  predicted), its class index appended to `truth` and to `was_seen` whether the model was trained or
  validated on its sequence (`digests`, the bundle's `rcl.data.seen` table; None: unknown, False)."""
  index = {c: i for i, c in enumerate(classes)}
  for record in records:
    if record.label not in index:
      raise ValueError(f"{record.path}:{record.line} (record {record.id!r}): class {record.label!r} is not one "
                       f"this model knows; its {len(classes)} classes are: {', '.join(classes)}")
    truth.append(index[record.label])
    was_seen.append(digests is not None and bool(seen.contains(digests, [record.sequence])[0]))
    yield record


def evaluate(bundle: Bundle, records: Iterable[Record], *, chunk_size: int = 4096, workers: int = 4,
             structure_cache: str | None = None, predictions=None,
             progress: Callable[[int, float], None] | None = None) -> dict:
  """Predicts every labelled record and scores the predictions.

  Args:
    bundle: the model.
    records: labelled records (`iter_records(..., require_label=True)`).
    predictions: an optional text stream that receives the classification TSV (as `rcl classify` writes).
    progress: called with (records done, seconds) after every chunk.

  Returns:
    {'model', 'records', 'metrics': accuracy and '<metric>_<weighted|macro>' (`metrics.METRIC_KEYS`),
    'per_class' and 'confusion_matrix' (`metrics.class_report`), 'seen': how many records the model was
    trained or validated on (None when the bundle keeps no digests), 'unseen_metrics' (the metrics of the
    others, when some were seen), and with a novelty rule 'novelty': {'called': the share called a class,
    'accuracy_called', 'scores': float[n] (removed before writing)}}.
  """
  classes = bundle.classes
  truth: list[int] = []
  was_seen: list[bool] = []
  predicted: list[int] = []
  scores: list[float] = []
  index = {c: i for i, c in enumerate(classes)}
  if predictions is not None:
    predictions.write(PREDICTIONS_HEADER)
  start = time.perf_counter()
  for chunk in rows(bundle, _known(records, classes, truth, was_seen, bundle.seen), chunk_size=chunk_size,
                    workers=workers, structure_cache=structure_cache):
    first = len(predicted)
    predicted.extend(index[row["predicted"]] for row in chunk)
    scores.extend(row["novelty"] for row in chunk if row["novelty"] is not None)
    if predictions is not None:
      predictions.write("".join(
          format_row(row, "tsv").rstrip("\n") + f"\t{classes[truth[first + i]]}\t"
          f"{int(index[row['predicted']] == truth[first + i])}\t"
          f"{'' if bundle.seen is None else int(was_seen[first + i])}\n" for i, row in enumerate(chunk)))
    if progress is not None:
      progress(len(predicted), time.perf_counter() - start)
  if not predicted:
    raise ValueError("no records to evaluate")
  y_true, y_pred = np.asarray(truth[:len(predicted)]), np.asarray(predicted)
  result = {"model": bundle.meta["model"], "records": len(predicted),
            "metrics": metrics.classification_metrics(y_true, y_pred, len(classes)),
            **metrics.class_report(y_true, y_pred, classes),
            "seen": None if bundle.seen is None else int(sum(was_seen[:len(predicted)]))}
  if result["seen"]:
    unseen = ~np.asarray(was_seen[:len(predicted)])
    result["unseen_metrics"] = (metrics.classification_metrics(y_true[unseen], y_pred[unseen], len(classes))
                                if unseen.any() else None)
  if bundle.novelty_rule is not None:
    limit = bundle.novelty_rule[1]
    called = np.asarray(scores) <= limit
    result["novelty"] = {"score": bundle.novelty_rule[0], "threshold": limit, "called": float(called.mean()),
                         "accuracy_called": float((y_true == y_pred)[called].mean()) if called.any() else None,
                         "scores": np.asarray(scores)}
  return result
