"""Reading results.json's model entries for report.md: the one place that knows their keys."""

from __future__ import annotations

from rcl.analysis.stability import SECTIONS


def dataset(results: dict) -> str:
  """The data set's name (Test13 and Test88 are compared with the paper's tables)."""
  return results["dataset"]


def section(results: dict, name: str) -> dict:
  """One section of entries ('models', 'ensembles' or 'collaborative') by model name; empty when absent."""
  return results.get(name, {})


def named(results: dict, sections: tuple[str, ...] = SECTIONS) -> list[tuple[str, dict]]:
  """(name, entry) of every model in `sections`, in their order."""
  return [(name, entry) for s in sections for name, entry in section(results, s).items()]


def method(entry: dict) -> str:
  """How the model is built, e.g. 'CNN (256)' or 'collaborative MLP'."""
  return entry["method"]


def metrics(entry: dict, split: str = "test") -> dict:
  """The model's metrics on 'test' or 'val' (keys of `rcl.analysis.metrics.METRIC_KEYS`)."""
  return entry[split]


def accuracy(entry: dict, split: str = "test") -> float:
  """The model's accuracy on 'test' or 'val'."""
  return metrics(entry, split)["accuracy"]


def accuracy_ci(entry: dict) -> dict | None:
  """The bootstrap interval of test accuracy ('low', 'high'), if recorded."""
  return entry.get("test_accuracy_ci")


def selected_epoch(entry: dict) -> int | None:
  """The epoch model selection kept; None for a model without training (a plain ensemble)."""
  return entry.get("selected_epoch")


def figure_paths(entry: dict) -> dict:
  """The model's figures by kind ('curves', 'confusion'), relative to the workdir."""
  return entry.get("figures", {})


def per_class(entry: dict) -> dict | None:
  """Per class name, the test figures ('f1', 'support', ...), if recorded."""
  return entry["test_report"]["per_class"] if "test_report" in entry else None


def joint_learning(entry: dict) -> dict:
  """The joint learning coefficients ('accuracy', 'loss') and Fig. 3 slope ('slope'); empty when absent."""
  return entry.get("joint_learning", {})


def cost(entry: dict) -> tuple[int, int, int, float]:
  """(parameters, epochs, selected epoch, training seconds) of a trained model."""
  return entry["parameters"], entry["epochs"], entry["selected_epoch"], entry["train_seconds_total"]


def comparison(entry: dict) -> dict | None:
  """A collaborative model's paired comparisons: 'ensemble', 'best_component' and per rival 'rivals'."""
  return entry.get("comparison")
