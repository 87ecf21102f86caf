"""What a bundle's labelled evaluation reports: the console summary and tables, and the files of `--out`."""

from __future__ import annotations

import json
import os

from rcl.analysis import metrics
from rcl.files import write_text

PER_CLASS_COLUMNS = ("precision", "recall", "f1", "specificity", "support")


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
  """The console report of a `labelled_metrics.evaluate` result: overall metrics, then the per-class table."""
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


def noise_table(noise: dict) -> str:
  """The console table of `boundary_noise.evaluate_boundary_noise`'s summary: a row per level."""
  lines = [f"boundary noise ({noise['kind']} flanks, seed {noise['seed']})",
           "level %   accuracy  macro F1  weighted F1  records"]
  for i, level in enumerate(noise["levels"]):
    lines.append(f"{level:<9g} {noise['accuracy'][i]:.4f}    {noise['f1_macro'][i]:.4f}    "
                 f"{noise['f1_weighted'][i]:.4f}       {noise['records']}")
  return "\n".join(lines) + "\n"


def write_boundary_noise(noise: dict, out: str) -> list[str]:
  """Writes boundary_noise.json (`boundary_noise.evaluate_boundary_noise`'s summary) and boundary_noise.png
  (accuracy and macro F1 against the level) into `out`; returns their paths."""
  from rcl.report import figures  # noqa: PLC0415 - matplotlib loads only when figures are written
  os.makedirs(out, exist_ok=True)
  paths = [os.path.join(out, n) for n in ("boundary_noise.json", "boundary_noise.png")]
  write_text(paths[0], json.dumps(noise, indent=1) + "\n")
  figures.boundary_noise(paths[1], noise["levels"], {noise["model"]: noise},
                         title=f"{noise['kind']} flanks, seed {noise['seed']}, {noise['records']} records")
  return paths
