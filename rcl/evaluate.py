"""Labelled evaluation of a model bundle: accuracy, weighted and macro metrics, a per-class table and the
confusion matrix of a labelled FASTA file, streamed like classification (`rcl.classify.rows`)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from rcl.analysis import metrics
from rcl.bundle import Bundle
from rcl.classify import TSV_HEADER, format_row, rows
from rcl.data.fasta import Record
from rcl.experiment.results import write_text

PER_CLASS_COLUMNS = ("precision", "recall", "f1", "specificity", "support")


def _known(records: Iterable[Record], classes: list[str], truth: list[int]) -> Iterator[Record]:
  """The records, each label checked against the model's classes (as it is read, before its chunk is
  predicted) and its class index appended to `truth`."""
  index = {c: i for i, c in enumerate(classes)}
  for record in records:
    if record.label not in index:
      raise ValueError(f"{record.path}:{record.line} (record {record.id!r}): class {record.label!r} is not one "
                       f"this model knows; its {len(classes)} classes are: {', '.join(classes)}")
    truth.append(index[record.label])
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
    'per_class' and 'confusion_matrix' (`metrics.class_report`)}.
  """
  classes = bundle.classes
  truth: list[int] = []
  predicted: list[int] = []
  index = {c: i for i, c in enumerate(classes)}
  if predictions is not None:
    predictions.write(TSV_HEADER)
  start = time.perf_counter()
  for chunk in rows(bundle, _known(records, classes, truth), chunk_size=chunk_size, workers=workers,
                    structure_cache=structure_cache):
    predicted.extend(index[row["predicted"]] for row in chunk)
    if predictions is not None:
      predictions.write("".join(format_row(row, "tsv") for row in chunk))
    if progress is not None:
      progress(len(predicted), time.perf_counter() - start)
  if not predicted:
    raise ValueError("no records to evaluate")
  y_true, y_pred = np.asarray(truth[:len(predicted)]), np.asarray(predicted)
  return {"model": bundle.meta["model"], "records": len(predicted),
          "metrics": metrics.classification_metrics(y_true, y_pred, len(classes)),
          **metrics.class_report(y_true, y_pred, classes)}


def per_class_tsv(result: dict) -> str:
  """One row per class: precision, recall, F1, specificity and support."""
  lines = ["class\t" + "\t".join(PER_CLASS_COLUMNS)]
  for name, stats in result["per_class"].items():
    lines.append(name + "\t" + "\t".join(str(stats[k]) if k == "support" else f"{stats[k]:.4f}"
                                         for k in PER_CLASS_COLUMNS))
  return "\n".join(lines) + "\n"


def confusion_tsv(result: dict) -> str:
  """The confusion matrix: a row per true class, a column per predicted class."""
  classes = result["confusion_matrix"]["classes"]
  lines = ["true\\predicted\t" + "\t".join(classes)]
  for name, row in zip(classes, result["confusion_matrix"]["rows_true_cols_predicted"]):
    lines.append(name + "\t" + "\t".join(str(v) for v in row))
  return "\n".join(lines) + "\n"


def summary(result: dict) -> str:
  """The console report: overall metrics, then the per-class table."""
  m = result["metrics"]
  lines = [f"{result['model']} on {result['records']} labelled records", f"accuracy   {m['accuracy']:.4f}",
           "           precision  recall  F1      specificity"]
  for avg in metrics.AVERAGES:
    lines.append(f"{avg:<10} {m[f'precision_{avg}']:.4f}     {m[f'recall_{avg}']:.4f}  {m[f'f1_{avg}']:.4f}  "
                 f"{m[f'specificity_{avg}']:.4f}")
  width = max(len(c) for c in result["per_class"])
  lines += ["", f"{'class':<{width}}  precision  recall  F1      support"]
  for name, s in result["per_class"].items():
    lines.append(f"{name:<{width}}  {s['precision']:.4f}     {s['recall']:.4f}  {s['f1']:.4f}  {s['support']}")
  return "\n".join(lines) + "\n"


def write(result: dict, out: str) -> list[str]:
  """Writes metrics.json, per_class.tsv, confusion.tsv and confusion.png into `out`; returns their paths."""
  from rcl.report import figures  # noqa: PLC0415 - matplotlib loads only when figures are written
  os.makedirs(out, exist_ok=True)
  paths = [os.path.join(out, n) for n in ("metrics.json", "per_class.tsv", "confusion.tsv", "confusion.png")]
  write_text(paths[0], json.dumps(result, indent=1) + "\n")
  write_text(paths[1], per_class_tsv(result))
  write_text(paths[2], confusion_tsv(result))
  figures.confusion(paths[3], result["model"], result["confusion_matrix"]["rows_true_cols_predicted"],
                    result["confusion_matrix"]["classes"], subset=f"{result['records']} labelled records")
  return paths
