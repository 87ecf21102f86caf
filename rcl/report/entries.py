"""Reading a run's model entries (`rcl.results`) for report.md: the few facts its tables show."""

from __future__ import annotations

from rcl.results import SECTIONS, ModelResult, RunResults


def dataset(results: RunResults) -> str:
  """The data set's name (Test13 and Test88 are compared with the paper's tables)."""
  return results.dataset


def section(results: RunResults, name: str) -> dict[str, ModelResult]:
  """One section of entries ('models', 'ensembles' or 'collaborative') by model name."""
  return results.section(name)


def named(results: RunResults, sections: tuple[str, ...] = SECTIONS) -> list[tuple[str, ModelResult]]:
  """(name, entry) of every model in `sections`, in their order."""
  return results.named(sections)


def method(entry: ModelResult) -> str:
  """How the model is built, e.g. 'CNN (256)' or 'collaborative MLP'."""
  return entry.method


def metrics(entry: ModelResult, split: str = "test") -> dict:
  """The model's metrics on 'test' or 'val' (keys of `rcl.analysis.metrics.METRIC_KEYS`)."""
  return getattr(entry.scores, split)


def accuracy(entry: ModelResult, split: str = "test") -> float:
  """The model's accuracy on 'test' or 'val'."""
  return entry.accuracy(split)


def accuracy_ci(entry: ModelResult) -> dict:
  """The bootstrap interval of test accuracy ('low', 'high')."""
  return entry.scores.test_accuracy_ci


def selected_epoch(entry: ModelResult) -> int | None:
  """The epoch model selection kept; None for a model without training (a plain ensemble)."""
  return entry.training.selected_epoch if entry.training is not None else None


def figure_paths(entry: ModelResult) -> dict:
  """The model's figures by kind ('curves', 'confusion'), relative to the workdir."""
  return entry.scores.figures


def per_class(entry: ModelResult) -> dict:
  """Per class name, the test figures ('f1', 'support', ...)."""
  return entry.scores.test_report["per_class"]


def joint_learning(entry: ModelResult) -> dict:
  """The joint learning coefficients ('accuracy', 'loss') and Fig. 3 slope ('slope'); empty when untrained."""
  return entry.training.joint_learning if entry.training is not None else {}


def cost(entry: ModelResult) -> tuple[int, int, int, float]:
  """(parameters, epochs, selected epoch, training seconds) of a trained model."""
  t = entry.training
  return t.parameters, t.epochs, t.selected_epoch, t.train_seconds_total


def comparison(entry: ModelResult) -> dict | None:
  """A collaborative model's paired comparisons: 'ensemble', 'best_component' and per rival 'rivals'."""
  return entry.comparison
