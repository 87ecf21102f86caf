"""report.md: the paper's tables filled with measured figures, each labelled with how it was obtained."""

from __future__ import annotations

import dataclasses

from rcl.report import paper

_HEAD = "| Moniker | Method | Specificity | Precision | Recall | F1-score | Accuracy | Source |\n|---|---|---|---|---|---|---|---|\n"


def _row(name: str, method: str, metrics: dict | None, source: str) -> str:
  cells = " | ".join("–" if metrics is None or metrics.get(k) is None else f"{metrics[k]:.3f}" for k in paper.METRICS)
  return f"| {name} | {method} | {cells} | {source} |\n"


def table1(results: dict) -> str:
  """Test-set metrics of each trained component, with the paper's Table 1 figure under it."""
  out = _HEAD
  paper_table = paper.TABLE1 if results["dataset"] == "Test13" else paper.TABLE4
  for name, entry in results["models"].items():
    out += _row(name, entry["method"], entry["test"], "measured here, test set")
    figure = paper.paper_figure(paper_table, name)
    if figure is not None:
      out += _row(name, entry["method"], figure, f"*paper, {results['dataset']}*")
  return out


def validation_table(results: dict) -> str:
  out = _HEAD
  for name, entry in results["models"].items():
    out += _row(name, entry["method"], entry["val"], f"measured here, validation set (epoch {entry['selected_epoch']})")
  return out


def report(config, results: dict, summary: dict, command: str) -> str:
  """The whole report.md text."""
  env = results["environment"]
  hyper = dataclasses.asdict(config.hyper)
  lines = [
      f"# rcl report: {results['dataset']}",
      "",
      f"Command: `{command}`" if command else "",
      "",
      "## How these numbers were obtained",
      f"- Data: {summary['protocol']}. Sequences padded or cut to {summary['max_len']} positions "
      f"(8-channel one-hot of the paper, footnote 2; IUPAC ambiguity codes encoded as all zeros).",
      f"- Split sizes: train {summary['train']['records']}, validation {summary['val']['records']}, "
      f"test {summary['test']['records']}; classes {len(summary['train']['class_counts'])}.",
      f"- Training: Adam (lr {config.learning_rate}), categorical cross-entropy, batch {config.batch_size}; "
      f"CNN epochs {config.cnn_epochs}, RNN epochs {config.rnn_epochs}; regularisation level "
      f"lambda = {config.hyper.reg_level} (Gaussian noise sigma = {config.hyper.noise}, dropout "
      f"{config.hyper.dropout:.0%}); hyper-parameters {hyper}.",
      f"- Model selection: {_selection_text(config.selection)}. The test set is used once, after selection.",
      "- Metrics: accuracy; precision, recall, F1 and specificity are macro averages over the classes present "
      "in the split (specificity = TN / (TN + FP) per class from the confusion matrix).",
      f"- Seed {results['seed']}; backend {env['backend']} ({', '.join(env['devices'])}); code {env['git']}; "
      f"packages {env['packages']}.",
      "- Figures marked *paper* are copied from Buet-Golfouse et al. for comparison; they were not measured here.",
      "",
      "## Table 1: standalone models, test set",
      "",
      table1(results),
      "## Validation set (selected epoch)",
      "",
      validation_table(results),
      "## Training cost",
      "",
      "| Model | Parameters | Epochs | Selected epoch | Training seconds |",
      "|---|---|---|---|---|",
  ]
  for name, entry in results["models"].items():
    lines.append(f"| {name} | {entry['parameters']:,} | {entry['epochs']} | {entry['selected_epoch']} | "
                 f"{entry['train_seconds_total']:.0f} |")
  lines.append("")
  return "\n".join(lines)


def _selection_text(rule: str) -> str:
  if rule == "best_val_accuracy":
    return ("the epoch with the highest validation accuracy (ties: lower validation loss, then the earlier "
            "epoch), restored from its Orbax checkpoint")
  return "the model after the last epoch"
