"""report.md's "How these numbers were obtained": data, training, selection, metrics and intervals."""

from __future__ import annotations

import dataclasses
import inspect

from rcl.analysis import significance
from rcl.data import encoding
from rcl.report import paper
from rcl.results import RunResults


def setting(function, name: str):
  """The default of `function`'s parameter `name`: the setting the experiment runs it with."""
  return inspect.signature(function).parameters[name].default


BOOTSTRAP_LEVEL = setting(significance.bootstrap_accuracy, "level")
BOOTSTRAP_RESAMPLES = setting(significance.bootstrap_accuracy, "resamples")

_SELECTION = {
    "best_val_accuracy": "the epoch with the highest validation accuracy (ties: lower validation loss, then the "
                         "earlier epoch), restored from its Orbax checkpoint",
    "best_val_loss": "the epoch with the lowest validation loss (ties: higher validation accuracy, then the earlier "
                     "epoch), restored from its Orbax checkpoint",
    "last": "the model after the last epoch"}


def selection_text(rule: str) -> str:
  """A model selection rule (`rcl.train.loop.SELECTION_RULES`) in words."""
  return _SELECTION[rule]


def data_lines(summary: dict) -> list[str]:
  """The data bullets, from the run's data summary."""
  lines = [f"- Data: {summary['protocol']}. Sequences padded or cut to {summary['max_len']} positions "
           f"({encoding.SEQUENCE_CHANNELS}-channel one-hot of the paper, footnote 2; IUPAC ambiguity codes encoded "
           "as all zeros).",
           f"- Split sizes: train {summary['train']['records']}, validation {summary['val']['records']}, "
           f"test {summary['test']['records']}; classes {len(summary['train']['class_counts'])}."]
  if "test_records_in_train" in summary:
    lines.append(f"- The given test set is evaluated record for record, as published: "
                 f"{summary['test_records_in_train']} of its records have a sequence that also occurs in the "
                 f"training data, and {summary['test_duplicate_records']} repeat a sequence within it (none removed).")
  return lines


def collab_text(config) -> str | None:
  """The collaborative MLPs' bullet, or None when the run has none."""
  settings = config.collab
  if not settings.specs:
    return None
  source = (f"{settings.draws} training-mode passes of each component over the training split (noise, dropout "
            "and batch statistics as in training), one pass per epoch" if settings.train_features == "sampled" else
            "the components' deterministic features of their own training split (the paper's way)")
  return (f"- Collaborative MLPs (hidden {list(settings.dense)}, lambda {config.hyper.reg_level}, input noise "
          f"sigma {settings.input_noise}, {settings.fit.epochs} epochs, selection: "
          f"{selection_text(settings.fit.selection)}) "
          f"learn from {source}; validation and test features are deterministic. Each has a plain-ensemble "
          "baseline row: the mean of its components' softmax outputs, no training.")


def section(config, results: RunResults, summary: dict) -> list[str]:
  """The whole "How these numbers were obtained" section (a None line: a bullet that does not apply)."""
  env = results.environment
  evidence = paper.recall_accuracy_evidence()
  return [
      "## How these numbers were obtained",
      *data_lines(summary),
      f"- Training: Adam (lr {config.cnn.learning_rate}), categorical cross-entropy, batch {config.cnn.batch_size}; "
      f"CNN epochs {config.cnn.epochs}, RNN epochs {config.rnn.epochs}; regularisation level "
      f"lambda = {config.hyper.reg_level} (Gaussian noise sigma = {config.hyper.noise}, dropout "
      f"{config.hyper.dropout:.0%}); hyper-parameters {dataclasses.asdict(config.hyper)}.",
      collab_text(config),
      f"- Model selection: {selection_text(config.cnn.selection)}. The test set is used once, after selection.",
      "- Metrics: accuracy; precision, recall, F1 and specificity (TN / (TN + FP) per class, from the confusion "
      "matrix) averaged over classes weighted by their number of test sequences in the tables set beside the "
      "paper, because the paper's are: its recall equals its accuracy in "
      f"{evidence['equal']} of its {evidence['rows']} rows and differs by at most 0.001 in the others, which "
      "only the support-weighted average guarantees. Macro averages (every class counts once) are in their "
      f"own table below. Intervals are {BOOTSTRAP_LEVEL:.0%} percentile bootstrap intervals over the test sequences.",
      f"- Seed {results.seed}; backend {env['backend']} ({', '.join(env['devices'])}); code {env['git']}; "
      f"packages {env['packages']}.",
      "- Figures marked *paper* are copied from Buet-Golfouse et al. for comparison; they were not measured here.",
      ""]
