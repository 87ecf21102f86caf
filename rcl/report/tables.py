"""Markdown table pieces shared by report.md's sections: header rows, metric rows, number formats."""

from __future__ import annotations

from collections.abc import Sequence

from rcl.report import paper

# Column label of each of the paper's metrics, in the paper's order (`paper.METRICS`).
METRIC_LABELS = {"specificity": "Specificity", "precision": "Precision", "recall": "Recall", "f1": "F1-score",
                 "accuracy": "Accuracy"}


def head(cells: Sequence[str]) -> list[str]:
  """A table's header row and its rule row."""
  return ["| " + " | ".join(cells) + " |", "|" + "---|" * len(cells)]


def metric_labels() -> list[str]:
  """The column labels of the paper's five metrics, in its order."""
  return [METRIC_LABELS[k] for k in paper.METRICS]


def metric_keys(average: str) -> list[str]:
  """results.json's keys of the paper's five metrics: accuracy, the others in their `average` form."""
  return [k if k == "accuracy" else f"{k}_{average}" for k in paper.METRICS]


def metric_head(first: str) -> str:
  """Header of a table of metric rows (`metric_row`) whose first column is `first`, rule row included."""
  return "\n".join(head([first, "Method", *metric_labels(), "Source"])) + "\n"


def metric_row(name: str, method: str, metrics: dict | None, source: str, average: str = "weighted") -> str:
  """A table row of the paper's five metrics; precision, recall, F1 and specificity in `average` form."""
  cells = " | ".join("–" if metrics is None or metrics.get(k) is None else f"{metrics[k]:.3f}"
                     for k in metric_keys(average))
  return f"| {name} | {method} | {cells} | {source} |\n"


def fmt(value, spec: str = ".3f") -> str:
  """`value` in format `spec`, or a dash when there is none."""
  return "–" if value is None else format(value, spec)


def with_ci(value: float, ci: dict, spec: str = ".4f") -> str:
  """A value and its interval: 'value [low, high]'."""
  return f"{value:{spec}} [{ci['low']:{spec}}, {ci['high']:{spec}}]"
