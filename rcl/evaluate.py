"""Labelled evaluation of a model bundle: accuracy, weighted and macro metrics, a per-class table and the
confusion matrix of a labelled FASTA file, streamed like classification (`rcl.classify.rows`), and the
same at several levels of boundary noise (`rcl.data.flanks`)."""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from rcl.analysis import metrics, novelty
from rcl.bundle import Bundle
from rcl.classify import TSV_HEADER, UNCLASSIFIED, format_row, rows
from rcl.data import flanks, seen
from rcl.data.fasta import Record
from rcl.files import write_text

PER_CLASS_COLUMNS = ("precision", "recall", "f1", "specificity", "support")


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


def evaluate_novel(bundle: Bundle, known: dict, records: Iterable[Record], *, chunk_size: int = 4096,
                   workers: int = 4, structure_cache: str | None = None) -> dict:
  """How well the bundle's novelty rule tells `records` (sequences known to lie outside its classes; labels
  ignored) from the labelled records of `known` (an `evaluate` result): {'records', 'auroc',
  'false_acceptance' (the share called a class at the bundle's threshold), 'called_as': class -> count}."""
  if bundle.novelty_rule is None:
    raise ValueError(f"the bundle {bundle.directory} has no novelty rule: --novel needs one")
  scores, calls = [], collections.Counter()
  for chunk in rows(bundle, records, chunk_size=chunk_size, workers=workers, structure_cache=structure_cache):
    scores.extend(row["novelty"] for row in chunk)
    calls.update(row["call"] for row in chunk if row["call"] != UNCLASSIFIED)
  if not scores:
    raise ValueError("no records in the --novel input")
  limit = bundle.novelty_rule[1]
  return {"records": len(scores), "auroc": novelty.auroc(known["novelty"]["scores"], np.asarray(scores)),
          "false_acceptance": novelty.accepted(np.asarray(scores), limit), "called_as": dict(calls.most_common())}


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
  noise = result.get("boundary_noise")
  flanked = f" with {noise['percent']:g}% {noise['kind']} flanks (seed {noise['seed']})" if noise else ""
  lines = [f"{result['model']} on {result['records']} labelled records{flanked}", f"accuracy   {m['accuracy']:.4f}",
           "           precision  recall  F1      specificity"]
  for avg in metrics.AVERAGES:
    lines.append(f"{avg:<10} {m[f'precision_{avg}']:.4f}     {m[f'recall_{avg}']:.4f}  {m[f'f1_{avg}']:.4f}  "
                 f"{m[f'specificity_{avg}']:.4f}")
  width = max(len(c) for c in result["per_class"])
  lines += ["", f"{'class':<{width}}  precision  recall  F1      support"]
  for name, s in result["per_class"].items():
    lines.append(f"{name:<{width}}  {s['precision']:.4f}     {s['recall']:.4f}  {s['f1']:.4f}  {s['support']}")
  if result.get("seen"):
    unseen = result["unseen_metrics"]
    lines += ["", f"warning: {result['seen']} of {result['records']} records were in the model's training or "
                  f"validation data: the figures above overstate its accuracy on new sequences",
              f"unseen records only ({result['records'] - result['seen']}): accuracy "
              + (f"{unseen['accuracy']:.4f}, macro F1 {unseen['f1_macro']:.4f}" if unseen else "- (none)")]
  if "novelty" in result:
    n = result["novelty"]
    accuracy = "-" if n["accuracy_called"] is None else f"{n['accuracy_called']:.4f}"
    lines += ["", f"novelty ({n['score']}, threshold {n['threshold']:.4g}): {n['called']:.4f} of the records called "
                  f"a class, accuracy among them {accuracy}"]
  if "novel" in result:
    v = result["novel"]
    lines += [f"novel input ({v['records']} records): AUROC {v['auroc']:.4f}, false acceptance "
              f"{v['false_acceptance']:.4f}" + (f" (called: {', '.join(f'{c} {k}' for c, k in v['called_as'].items())})"
                                                if v["called_as"] else "")]
  return "\n".join(lines) + "\n"


def write(result: dict, out: str) -> list[str]:
  """Writes metrics.json, per_class.tsv, confusion.tsv and confusion.png into `out`; returns their paths."""
  from rcl.report import figures  # noqa: PLC0415 - matplotlib loads only when figures are written
  os.makedirs(out, exist_ok=True)
  paths = [os.path.join(out, n) for n in ("metrics.json", "per_class.tsv", "confusion.tsv", "confusion.png")]
  written = {**result, **({"novelty": {k: v for k, v in result["novelty"].items() if k != "scores"}}
                          if "novelty" in result else {})}
  write_text(paths[0], json.dumps(written, indent=1) + "\n")
  write_text(paths[1], per_class_tsv(result))
  write_text(paths[2], confusion_tsv(result))
  figures.confusion(paths[3], result["model"], result["confusion_matrix"]["rows_true_cols_predicted"],
                    result["confusion_matrix"]["classes"], subset=f"{result['records']} labelled records")
  return paths


def check_levels(levels: Sequence[float]) -> None:
  """Raises ValueError unless `levels` is a non-empty list of boundary noise percentages >= 0."""
  if not levels:
    raise ValueError("no boundary noise levels given")
  for level in levels:
    if not math.isfinite(level) or level < 0:
      raise ValueError(f"boundary noise levels must be percentages >= 0, got {level:g}")


def reference_level(levels: Sequence[float]) -> int:
  """The index of the level reported in full (summary, metrics.json, predictions.tsv): the clean level 0
  when it is measured, else the first."""
  return list(levels).index(0) if 0 in levels else 0


def _flanked(records: Iterable[Record], level: float, rng, kind: str) -> Iterator[Record]:
  """The records, each with flanks of `level`% drawn from `rng` in file order (level 0: unchanged)."""
  for record in records:
    yield record if level == 0 else dataclasses.replace(
        record, sequence=flanks.flank_sequence(record.sequence, level, rng, kind))


def evaluate_boundary_noise(bundle: Bundle, open_records: Callable[[], Iterable[Record]], levels: Sequence[float],
                            *, kind: str = "dinucleotide", seed: int = 0, chunk_size: int = 4096, workers: int = 4,
                            structure_cache: str | None = None, predictions=None,
                            progress: Callable[[float], Callable[[int, float], None] | None] | None = None
                            ) -> tuple[list[dict], dict]:
  """`evaluate` at every boundary noise level: each record's sequence gets random flanks of `level`% of its
  length (`flanks.flank_sequence`, one stream per level, `flanks.level_rng(seed, level)`).

  Args:
    bundle: the model.
    open_records: opens the labelled records afresh; called once per level, so the file is streamed
      `len(levels)` times and never held.
    levels: noise percentages >= 0 (0: the records unchanged).
    kind: 'dinucleotide' or 'uniform' (`flanks.KINDS`).
    predictions: an optional text stream for the classification TSV of the reference level
      (`reference_level`).
    progress: progress(level), asked right after `open_records()` for that level, gives the level's
      per-chunk progress callback (as `evaluate` takes) or None.

  Returns:
    (the `evaluate` result of every level, in `levels` order; a flanked level's has 'boundary_noise':
    {'percent', 'kind', 'seed'}), and {'model', 'kind', 'seed', 'levels', 'accuracy', 'f1_macro',
    'f1_weighted', 'records'} with one entry per level in each list.
  """
  check_levels(levels)
  if kind not in flanks.KINDS:
    raise ValueError(f"boundary noise kind must be one of {flanks.KINDS}, got {kind!r}")
  if seed < 0:
    raise ValueError(f"the boundary noise seed must be >= 0, got {seed}")
  levels = [int(v) if float(v).is_integer() else float(v) for v in levels]
  reference = reference_level(levels)
  results = []
  for i, level in enumerate(levels):
    records = _flanked(open_records(), level, flanks.level_rng(seed, level), kind)
    result = evaluate(bundle, records, chunk_size=chunk_size, workers=workers, structure_cache=structure_cache,
                      predictions=predictions if i == reference else None,
                      progress=progress(level) if progress is not None else None)
    if level:
      result["boundary_noise"] = {"percent": level, "kind": kind, "seed": seed}
    results.append(result)
  counts = {r["records"] for r in results}
  if len(counts) > 1:
    raise ValueError(f"the input changed between boundary noise levels ({sorted(counts)} records were read)")
  return results, {"model": bundle.meta["model"], "kind": kind, "seed": seed, "levels": levels,
                   **{k: [r["metrics"][k] for r in results] for k in ("accuracy", "f1_macro", "f1_weighted")},
                   "records": results[0]["records"]}


def noise_table(noise: dict) -> str:
  """The console table of `evaluate_boundary_noise`: a row per level."""
  lines = [f"boundary noise ({noise['kind']} flanks, seed {noise['seed']})",
           "level %   accuracy  macro F1  weighted F1  records"]
  for i, level in enumerate(noise["levels"]):
    lines.append(f"{level:<9g} {noise['accuracy'][i]:.4f}    {noise['f1_macro'][i]:.4f}    "
                 f"{noise['f1_weighted'][i]:.4f}       {noise['records']}")
  return "\n".join(lines) + "\n"


def write_boundary_noise(noise: dict, out: str) -> list[str]:
  """Writes boundary_noise.json (`evaluate_boundary_noise`'s summary) and boundary_noise.png (accuracy and
  macro F1 against the level) into `out`; returns their paths."""
  from rcl.report import figures  # noqa: PLC0415 - matplotlib loads only when figures are written
  os.makedirs(out, exist_ok=True)
  paths = [os.path.join(out, n) for n in ("boundary_noise.json", "boundary_noise.png")]
  write_text(paths[0], json.dumps(noise, indent=1) + "\n")
  figures.boundary_noise(paths[1], noise["levels"], {noise["model"]: noise},
                         title=f"{noise['kind']} flanks, seed {noise['seed']}, {noise['records']} records")
  return paths
