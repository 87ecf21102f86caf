"""report.md: the paper's tables filled with measured figures, each labelled with how it was obtained."""

from __future__ import annotations

import dataclasses

from rcl.models import monikers
from rcl.report import paper

_HEAD = "| Moniker | Method | Specificity | Precision | Recall | F1-score | Accuracy | Source |\n|---|---|---|---|---|---|---|---|\n"


def _row(name: str, method: str, metrics: dict | None, source: str) -> str:
  cells = " | ".join("–" if metrics is None or metrics.get(k) is None else f"{metrics[k]:.3f}" for k in paper.METRICS)
  return f"| {name} | {method} | {cells} | {source} |\n"


def table1(results: dict) -> str:
  """Test-set metrics of each trained component, with the paper's Table 1 figure under it."""
  out = _HEAD
  paper_table = {"Test13": paper.TABLE1, "Test88": paper.TABLE4}.get(results["dataset"], {})
  for name, entry in results["models"].items():
    out += _row(name, entry["method"], entry["test"], "measured here, test set")
    figure = paper.paper_figure(paper_table, name)
    if figure is not None:
      out += _row(name, monikers.MONIKERS[name].method, figure, f"*paper, {results['dataset']}*")
  return out


def table2(results: dict) -> str:
  """Collaborative models on the test set, with the paper's Table 2 (Test13) or Table 4 (Test88) figure."""
  out = _HEAD.replace("| Moniker | Method |", "| Combined layers | Method |")
  paper_table = {"Test13": paper.TABLE2, "Test88": paper.TABLE4}.get(results["dataset"], {})
  for name, entry in results["collaborative"].items():
    out += _row(name, entry["method"], entry["test"], "measured here, test set")
    figure = paper.paper_figure(paper_table, name)
    if figure is not None:
      out += _row(name, entry["method"], figure, f"*paper, {results['dataset']}*")
  return out


def literature_table(results: dict) -> str:
  """Table 3 (Test13) or Table 4 (Test88) style: the literature as reported by its authors, ours measured."""
  rows = []
  if results["dataset"] == "Test13":
    out = "| Authors | Method | F1-score | Accuracy | Source |\n|---|---|---|---|---|\n"
    for authors, method, f1, acc in paper.TABLE3:
      source = "*paper's own result*" if "paper" in authors else "*reported by its authors (via the paper)*"
      rows.append(f"| {authors} | {method} | {f1:.3f} | {acc:.3f} | {source} |")
  else:
    out = _HEAD
    for name, row in paper.TABLE4.items():
      rows.append(_row(f"{name} (paper)", "", dict(zip(paper.METRICS, row)), "*reported in the paper*").rstrip("\n"))
  for section in ("models", "collaborative"):
    for name, entry in results.get(section, {}).items():
      if results["dataset"] == "Test13":
        rows.append(f"| {name} (ours) | {entry['method']} | {entry['test']['f1']:.3f} | "
                    f"{entry['test']['accuracy']:.3f} | measured here, test set |")
      else:
        rows.append(_row(f"{name} (ours)", entry["method"], entry["test"], "measured here, test set").rstrip("\n"))
  return out + "\n".join(rows) + "\n"


def validation_table(results: dict) -> str:
  out = _HEAD
  for section in ("models", "collaborative"):
    for name, entry in results.get(section, {}).items():
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
      "## Table 2: collaborative models, test set",
      "",
      table2(results) if results.get("collaborative") else "(no collaborative model in this run)\n",
      f"## Comparison with the literature ({'Table 3' if results['dataset'] == 'Test13' else 'Table 4'} style)",
      "",
      "Figures of other methods come from their publications as quoted by the paper; they were obtained "
      "under their authors' protocols, not re-run here. Ours are measured under the protocol above.",
      "",
      literature_table(results) if results["dataset"] in ("Test13", "Test88") else
      f"(the paper reports no figures for data set {results['dataset']!r})\n",
      "## Validation set (selected epoch)",
      "",
      validation_table(results),
      "## Training cost and joint learning",
      "",
      "Joint learning coefficient (eq. 1): correlation over epochs after a burn-in of "
      f"{config.burn_in} epochs between training accuracy (noise and dropout on, as Keras reports it) and "
      "validation accuracy; also on loss. Slope: least-squares slope of validation on training accuracy (Fig. 3).",
      "",
      "| Model | Parameters | Epochs | Selected epoch | Training seconds | Joint coeff. (accuracy) | Joint coeff. (loss) | Slope |",
      "|---|---|---|---|---|---|---|---|",
  ]
  for name, entry in {**results["models"], **results.get("collaborative", {})}.items():
    jl = entry.get("joint_learning", {})
    cells = " | ".join("–" if jl.get(k) is None else f"{jl[k]:.3f}" for k in ("accuracy", "loss", "slope"))
    lines.append(f"| {name} | {entry['parameters']:,} | {entry['epochs']} | {entry['selected_epoch']} | "
                 f"{entry['train_seconds_total']:.0f} | {cells} |")
  lines.append("")
  if "sweep" in results:
    lines += sweep_section(results["sweep"])
  if "feature_analysis" in results:
    lines += feature_section(results["feature_analysis"])
  return "\n".join(lines)


def _fmt(value, spec=".3f") -> str:
  return "–" if value is None else format(value, spec)


def sweep_section(sw: dict) -> list[str]:
  """The regularisation sweep: per-level table and Fig. 3-4."""
  lines = [f"## Robustness by design: regularisation sweep of {sw['moniker']} (Fig. 3–4)", "",
           f"One population of {len(sw['levels'])} models trained together (vmapped step, same batches), "
           f"{sw['epochs']} epochs, burn-in {sw['burn_in']} epochs; σ = λ, dropout = λ × 50%. "
           f"Validation accuracy peaks at λ = {sw['peak_val_accuracy_level']:g} ({sw['peak_val_accuracy']:.3f}); "
           f"the joint learning coefficient stops rising (no later gain above 0.01) at λ = "
           f"{_fmt(sw['coefficient_plateau_level'], 'g')}. The paper (Model A, 500 epochs): peak at λ = 0.8, "
           "plateau at λ = 1.2.", "",
           "| λ | noise σ | dropout | joint coeff. (accuracy) | joint coeff. (loss) | slope (Fig. 3) | best val accuracy |",
           "|---|---|---|---|---|---|---|"]
  for r in sw["rows"]:
    lines.append(f"| {r['level']:g} | {r['noise']:g} | {r['dropout']:.0%} | {_fmt(r['joint_accuracy'])} | "
                 f"{_fmt(r['joint_loss'])} | {_fmt(r['slope'])} | {r['best_val_accuracy']:.3f} |")
  lines += ["", "![Fig. 4](sweep/fig4.png)", "", f"Fig. 3 panels: {', '.join(sw['fig3_levels'])}.", "",
            "![Fig. 3](sweep/fig3.png)", ""]
  return lines


def feature_section(fa: dict) -> list[str]:
  """CCA / PCA of two components' LD features and the Monte Carlo calibration (Fig. 5)."""
  x, y = fa["pair"]
  mc = fa["monte_carlo"]
  return [f"## Are the CNN and RNN learning the same features? LD({x}) vs LD({y}) (Sec. 4, Fig. 5)", "",
          f"- Validation set, {fa['rows']} sequences; feature widths {fa['widths']} "
          f"(effective, without dead units: {fa['effective_widths']}).",
          f"- Average canonical correlation: {fa['average_cca']:.3f} (paper: 0.95).",
          f"- Representative uniform correlation ρ from the Monte Carlo calibration: {fa['representative_rho']:.3f} "
          f"(paper: about 0.85); N = {mc['trials']} trials per ρ on a {len(mc['rho'])}-point grid at n = {mc['n']}, "
          f"p = {mc['p']}, q = {mc['q']}; {fa['seconds']:.0f} s for this and the next calibration.",
          f"- Largest canonical correlation (what a one-component CCA reports): {fa['first_cca']:.3f}, "
          f"representative ρ {fa['first_representative_rho']:.3f} under the same calibration of that statistic. "
          "The paper does not say which statistic its 95% → 85% used; both are given.",
          f"- Correlation of the first principal components: {fa['first_pc_correlation']:.3f} (paper: 0.64); "
          f"explained variance of each first component: {fa['first_pc_explained_variance'][0]:.3f}, "
          f"{fa['first_pc_explained_variance'][1]:.3f}.", "",
          "![Fig. 5](fig5.png)", ""]


def _selection_text(rule: str) -> str:
  if rule == "best_val_accuracy":
    return ("the epoch with the highest validation accuracy (ties: lower validation loss, then the earlier "
            "epoch), restored from its Orbax checkpoint")
  return "the model after the last epoch"


def stability_report(config, summary: dict, command: str) -> str:
  """report.md of a multi-seed run: mean +- sd of every metric per model, test and validation."""
  lines = [f"# rcl multi-seed report: {summary['dataset']}", "",
           f"Command: `{command}`" if command else "", "",
           f"Seeds {summary['seeds']}: each seed re-draws the split, the initialisation, the batch order and the "
           f"noise, and trains every component and collaborative model again. Entries are mean ± sample "
           f"standard deviation over seeds; per-seed reports are in seed_<k>/report.md.",
           f"Protocol (seed {summary['seeds'][0]}): {summary['protocol']}.", ""]
  for split in ("test", "val"):
    lines += [f"## {'Test' if split == 'test' else 'Validation'} set", "",
              "| Model | Specificity | Precision | Recall | F1-score | Accuracy |", "|---|---|---|---|---|---|"]
    for section in ("models", "collaborative"):
      for name, entry in summary["stability"][section].items():
        cells = " | ".join(f"{entry[split][k]['mean']:.3f} ± {entry[split][k]['sd']:.3f}" for k in paper.METRICS)
        lines.append(f"| {name} | {cells} |")
    lines.append("")
  return "\n".join(lines)
