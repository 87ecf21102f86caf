"""report.md: the paper's tables filled with measured figures, each labelled with how it was obtained."""

from __future__ import annotations

import dataclasses

from rcl.models import monikers, noise
from rcl.report import paper, trust

_COLUMNS = "| Specificity | Precision | Recall | F1-score | Accuracy |"
_HEAD = f"| Moniker | Method {_COLUMNS} Source |\n|---|---|---|---|---|---|---|---|\n"
_SECTIONS = ("models", "ensembles", "collaborative")


def _row(name: str, method: str, metrics: dict | None, source: str, average: str = "weighted") -> str:
  """A table row of the paper's five metrics; precision, recall, F1 and specificity in `average` form."""
  keys = [k if k == "accuracy" else f"{k}_{average}" for k in paper.METRICS]
  cells = " | ".join("–" if metrics is None or metrics.get(k) is None else f"{metrics[k]:.3f}" for k in keys)
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
  """Collaborative models and their plain-ensemble baselines on the test set, with the paper's figures."""
  out = _HEAD.replace("| Moniker | Method |", "| Combined layers | Method |")
  paper_table = {"Test13": paper.TABLE2, "Test88": paper.TABLE4}.get(results["dataset"], {})
  shown = set()
  for name, entry in results["collaborative"].items():
    out += _row(name, entry["method"], entry["test"], "measured here, test set")
    figure = paper.paper_figure(paper_table, name)
    if figure is not None:
      out += _row(name, entry["method"], figure, f"*paper, {results['dataset']}*")
    baseline = entry.get("comparison", {}).get("ensemble")
    if baseline in results.get("ensembles", {}) and baseline not in shown:
      shown.add(baseline)
      out += _row(baseline, results["ensembles"][baseline]["method"], results["ensembles"][baseline]["test"],
                  "measured here, test set (baseline)")
  return out


def comparison_section(results: dict) -> list[str]:
  """Is each collaborative model better than its best component and its ensemble? Paired tests."""
  lines = ["## Is collaboration better? Paired comparisons on the test set", "",
           "Per collaborative model and rival (each of its components and its plain ensemble): the accuracy "
           "difference with a 95% paired bootstrap interval (2,000 resamples of the test sequences), the "
           "exact McNemar test (the sequences only one of the two gets right, and the two-sided binomial "
           "p-value). The best component is the one with the highest *validation* accuracy.", "",
           "| Collaborative model | Rival | Rival accuracy | Collaborative accuracy | Difference [95% CI] | "
           "Right only collab. / only rival | McNemar p |", "|---|---|---|---|---|---|---|"]
  for spec, entry in results["collaborative"].items():
    cmp = entry.get("comparison")
    if cmp is None:
      continue
    for rival, c in cmp["rivals"].items():
      section = "ensembles" if rival == cmp["ensemble"] else "models"
      label = f"{rival} (best component)" if rival == cmp["best_component"] else rival
      d = c["accuracy_difference"]
      lines.append(f"| {spec} | {label} | {results[section][rival]['test']['accuracy']:.4f} | "
                   f"{entry['test']['accuracy']:.4f} | {d['estimate']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}] | "
                   f"{c['mcnemar']['a_only']} / {c['mcnemar']['b_only']} | {c['mcnemar']['p_value']:.3g} |")
  return lines + [""]


def macro_table(results: dict) -> str:
  """Every model's test metrics with macro averages (each class counts once)."""
  out = _HEAD.replace("| Moniker |", "| Model |")
  for section in _SECTIONS:
    for name, entry in results.get(section, {}).items():
      out += _row(name, entry["method"], entry["test"], "measured here, test set, macro", average="macro")
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
    for name in paper.TABLE4:
      row = _row(f"{name} (paper)", "", paper.paper_figure(paper.TABLE4, name), "*reported in the paper*")
      rows.append(row.rstrip("\n"))
  for section in ("models", "collaborative"):
    for name, entry in results.get(section, {}).items():
      if results["dataset"] == "Test13":
        rows.append(f"| {name} (ours) | {entry['method']} | {entry['test']['f1_weighted']:.3f} | "
                    f"{entry['test']['accuracy']:.3f} | measured here, test set |")
      else:
        rows.append(_row(f"{name} (ours)", entry["method"], entry["test"], "measured here, test set").rstrip("\n"))
  return out + "\n".join(rows) + "\n"


def validation_table(results: dict) -> str:
  out = _HEAD
  for section in _SECTIONS:
    for name, entry in results.get(section, {}).items():
      where = f"epoch {entry['selected_epoch']}" if "selected_epoch" in entry else "no training"
      out += _row(name, entry["method"], entry["val"], f"measured here, validation set ({where})")
  return out


def figures_section(results: dict) -> list[str]:
  """Test accuracy with its bootstrap interval, and links to every model's figures."""
  lines = ["## Every model: test accuracy with 95% bootstrap interval, training curves, confusion matrix", "",
           "| Model | Test accuracy [95% CI] | Training curves | Confusion matrix (test) |", "|---|---|---|---|"]
  for section in _SECTIONS:
    for name, entry in results.get(section, {}).items():
      ci, figs = entry.get("test_accuracy_ci"), entry.get("figures", {})
      cells = [f"{entry['test']['accuracy']:.4f}" + (f" [{ci['low']:.4f}, {ci['high']:.4f}]" if ci else ""),
               f"[curves]({figs['curves']})" if "curves" in figs else "–",
               f"[matrix]({figs['confusion']})" if "confusion" in figs else "–"]
      lines.append(f"| {name} | {' | '.join(cells)} |")
  return lines + [""]


def per_class_section(results: dict) -> list[str]:
  """Per-class test F1 of every model (and each class's support); full figures are in results.json."""
  entries = [(name, entry) for section in _SECTIONS for name, entry in results.get(section, {}).items()
             if "test_report" in entry]
  if not entries:
    return []
  classes = list(entries[0][1]["test_report"]["per_class"])
  lines = ["## Per class: test F1-score (precision, recall and specificity per class are in results.json)", "",
           "| Class | Support | " + " | ".join(name for name, _ in entries) + " |",
           "|---|---|" + "---|" * len(entries)]
  for c in classes:
    support = entries[0][1]["test_report"]["per_class"][c]["support"]
    cells = " | ".join(f"{e['test_report']['per_class'][c]['f1']:.3f}" for _, e in entries)
    lines.append(f"| {c} | {support} | {cells} |")
  return lines + [""]


def _data_lines(summary: dict) -> list[str]:
  lines = [f"- Data: {summary['protocol']}. Sequences padded or cut to {summary['max_len']} positions "
           f"(8-channel one-hot of the paper, footnote 2; IUPAC ambiguity codes encoded as all zeros).",
           f"- Split sizes: train {summary['train']['records']}, validation {summary['val']['records']}, "
           f"test {summary['test']['records']}; classes {len(summary['train']['class_counts'])}."]
  if "test_records_in_train" in summary:
    lines.append(f"- The given test set is evaluated record for record, as published: "
                 f"{summary['test_records_in_train']} of its records have a sequence that also occurs in the "
                 f"training data, and {summary['test_duplicate_records']} repeat a sequence within it (none removed).")
  return lines


def _collab_text(config) -> str:
  settings = config.collab
  if not settings.specs:
    return None
  source = (f"{settings.draws} training-mode passes of each component over the training split (noise, dropout "
            "and batch statistics as in training), one pass per epoch" if settings.train_features == "sampled" else
            "the components' deterministic features of their own training split (the paper's way)")
  return (f"- Collaborative MLPs (hidden {list(settings.dense)}, lambda {config.hyper.reg_level}, input noise "
          f"sigma {settings.input_noise}, {settings.epochs} epochs, selection: {_selection_text(settings.selection)}) "
          f"learn from {source}; validation and test features are deterministic. Each has a plain-ensemble "
          "baseline row: the mean of its components' softmax outputs, no training.")


def report(config, results: dict, summary: dict, command: str) -> str:
  """The whole report.md text."""
  lines = [
      f"# rcl report: {results['dataset']}", "",
      f"Command: `{command}`" if command else "", "",
      *_how_obtained(config, results, summary),
      "## Table 1: standalone models, test set (support-weighted averages)", "",
      table1(results),
      "## Table 2: collaborative models and their plain ensembles, test set (support-weighted averages)", "",
      table2(results) if results.get("collaborative") else "(no collaborative model in this run)\n",
      *(comparison_section(results) if results.get("collaborative") else []),
      "## Macro averages, test set", "",
      macro_table(results),
      f"## Comparison with the literature ({'Table 3' if results['dataset'] == 'Test13' else 'Table 4'} style)", "",
      "Figures of other methods come from their publications as quoted by the paper; they were obtained "
      "under their authors' protocols, not re-run here. Ours are measured under the protocol above.", "",
      literature_table(results) if results["dataset"] in ("Test13", "Test88") else
      f"(the paper reports no figures for data set {results['dataset']!r})\n",
      "## Validation set (selected epoch)", "",
      validation_table(results),
      *figures_section(results),
      *per_class_section(results),
      *cost_section(config, results),
  ]
  if "sweep" in results:
    lines += sweep_section(results["sweep"])
  if "feature_analysis" in results:
    lines += feature_section(results["feature_analysis"])
  if "boundary_noise" in results:
    lines += boundary_section(results["boundary_noise"])
  if "calibration" in results:
    lines += trust.calibration_section(results["calibration"]) + trust.novelty_section(results["novelty"])
  return "\n".join(line for line in lines if line is not None)


def boundary_section(bn: dict) -> list[str]:
  """Accuracy and macro-F1 of every model against boundary noise, test and validation splits."""
  levels = bn["levels"]
  header = "| Model | " + " | ".join(f"{v:g}%" for v in levels) + " |"
  rule = "|---|" + "---|" * len(levels)
  lines = ["## Boundary noise: flanked records (Noviello et al. 2020)", "",
           f"Every validation and test record gets random flanks totalling the given share of its length, half "
           f"on each side, made of {'its own dinucleotides' if bn['kind'] == 'dinucleotide' else 'uniform random nucleotides'}"
           f" (one seeded draw per level and split, seed {bn['seed']}); models are those selected on clean "
           "validation data. The validation rows are what choices may use; the test rows are reported only.", ""]
  for split, metric, label in (("test", "accuracy", "Test accuracy"), ("test", "f1_macro", "Test macro F1"),
                               ("val", "accuracy", "Validation accuracy")):
    lines += [f"{label}:", "", header, rule]
    for name, curve in bn["models"].items():
      lines.append(f"| {name} | " + " | ".join(f"{v:.4f}" for v in curve[split][metric]) + " |")
    lines.append("")
  return lines + [f"![Boundary noise]({bn['figure']})", ""]


def _how_obtained(config, results: dict, summary: dict) -> list[str]:
  env = results["environment"]
  evidence = paper.recall_accuracy_evidence()
  return [
      "## How these numbers were obtained",
      *_data_lines(summary),
      f"- Training: Adam (lr {config.fit.learning_rate}), categorical cross-entropy, batch {config.fit.batch_size}; "
      f"CNN epochs {config.cnn.epochs}, RNN epochs {config.rnn.epochs}; regularisation level "
      f"lambda = {config.hyper.reg_level} (Gaussian noise sigma = {config.hyper.noise}, dropout "
      f"{config.hyper.dropout:.0%}); hyper-parameters {dataclasses.asdict(config.hyper)}.",
      _collab_text(config),
      f"- Model selection: {_selection_text(config.fit.selection)}. The test set is used once, after selection.",
      "- Metrics: accuracy; precision, recall, F1 and specificity (TN / (TN + FP) per class, from the confusion "
      "matrix) averaged over classes weighted by their number of test sequences in the tables set beside the "
      "paper, because the paper's are: its recall equals its accuracy in "
      f"{evidence['equal']} of its {evidence['rows']} rows and differs by at most 0.001 in the others, which "
      "only the support-weighted average guarantees. Macro averages (every class counts once) are in their "
      "own table below. Intervals are 95% percentile bootstrap intervals over the test sequences.",
      f"- Seed {results['seed']}; backend {env['backend']} ({', '.join(env['devices'])}); code {env['git']}; "
      f"packages {env['packages']}.",
      "- Figures marked *paper* are copied from Buet-Golfouse et al. for comparison; they were not measured here.",
      ""]


def cost_section(config, results: dict) -> list[str]:
  """Training cost and the joint learning coefficient (eq. 1) of every trained model."""
  lines = ["## Training cost and joint learning", "",
           "Joint learning coefficient (eq. 1): correlation over epochs after a burn-in of "
           f"{config.analysis.burn_in} epochs between training accuracy (noise and dropout on, as Keras reports "
           "it) and validation accuracy; also on loss. Slope: least-squares slope of validation on training "
           "accuracy (Fig. 3).", "",
           "| Model | Parameters | Epochs | Selected epoch | Training seconds | Joint coeff. (accuracy) | "
           "Joint coeff. (loss) | Slope |", "|---|---|---|---|---|---|---|---|"]
  for name, entry in {**results["models"], **results.get("collaborative", {})}.items():
    jl = entry.get("joint_learning", {})
    cells = " | ".join("–" if jl.get(k) is None else f"{jl[k]:.3f}" for k in ("accuracy", "loss", "slope"))
    lines.append(f"| {name} | {entry['parameters']:,} | {entry['epochs']} | {entry['selected_epoch']} | "
                 f"{entry['train_seconds_total']:.0f} | {cells} |")
  return lines + [""]


def _fmt(value, spec=".3f") -> str:
  return "–" if value is None else format(value, spec)


def sweep_section(sw: dict) -> list[str]:
  """The regularisation sweep: per-level table and Fig. 3-4."""
  lines = [f"## Robustness by design: regularisation sweep of {sw['moniker']} (Fig. 3–4)", "",
           f"One population of {len(sw['levels'])} models trained together (vmapped step, same batches), "
           f"{sw['epochs']} epochs, burn-in {sw['burn_in']} epochs; {noise.RULE}. "
           f"Validation accuracy peaks at λ = {sw['peak_val_accuracy_level']:g} ({sw['peak_val_accuracy']:.3f}); "
           f"the joint learning coefficient stops rising (no later gain above 0.01) at λ = "
           f"{_fmt(sw['coefficient_plateau_level'], 'g')}. The paper (Model A, 500 epochs): peak at λ = 0.8, "
           "plateau at λ = 1.2.", "",
           "| λ | noise σ | dropout | joint coeff. (accuracy) | joint coeff. (loss) | slope (Fig. 3) "
           "| best val accuracy |",
           "|---|---|---|---|---|---|---|"]
  for r in sw["rows"]:
    lines.append(f"| {r['level']:g} | {r['noise']:g} | {r['dropout']:.0%} | {_fmt(r['joint_accuracy'])} | "
                 f"{_fmt(r['joint_loss'])} | {_fmt(r['slope'])} | {r['best_val_accuracy']:.3f} |")
  lines += ["", "![Fig. 4](sweep/fig4.png)", "", f"Fig. 3 panels: {', '.join(sw['fig3_levels'])}.", "",
            "![Fig. 3](sweep/fig3.png)", ""]
  return lines


def feature_section(fa: dict) -> list[str]:
  """CCA / PCA of two components' LD features and the Monte Carlo calibration (Fig. 5), both statistics."""
  x, y = fa["pair"]
  mc = fa["monte_carlo"]
  maps = fa["paper_095_maps_to"]
  return [f"## Are the CNN and RNN learning the same features? LD({x}) vs LD({y}) (Sec. 4, Fig. 5)", "",
          f"- Validation set, {fa['rows']} sequences; feature widths {fa['widths']} "
          f"(effective, without dead units: {fa['effective_widths']}).",
          f"- Average canonical correlation: {fa['average_cca']:.3f} (paper: 0.95); representative uniform "
          f"correlation ρ from the Monte Carlo calibration of that statistic: {fa['representative_rho']:.3f}.",
          f"- Largest canonical correlation (what a one-component CCA reports): {fa['first_cca']:.3f}; "
          f"representative ρ under the calibration of that statistic: {fa['first_representative_rho']:.3f}.",
          f"- Calibration: N = {mc['trials']} trials per ρ on a {len(mc['rho'])}-point grid at n = {mc['n']}, "
          f"p = {mc['p']}, q = {mc['q']}; {fa['seconds']:.0f} s for both statistics.",
          f"- Which statistic reproduces the paper's \"95% CCA ↔ ρ ≈ 85%\"? At these shapes an observed 0.95 "
          f"maps to ρ = {maps['average']:.3f} under the average and ρ = {maps['largest']:.3f} under the largest "
          f"canonical correlation: the **{fa['paper_reproduced_by']}** canonical correlation comes closer to 0.85. "
          "The paper's caption says \"average\"; both panels are drawn.",
          f"- Correlation of the first principal components: {fa['first_pc_correlation']:.3f} (paper: 0.64); "
          f"explained variance of each first component: {fa['first_pc_explained_variance'][0]:.3f}, "
          f"{fa['first_pc_explained_variance'][1]:.3f}.", "",
          "![Fig. 5](fig5.png)", ""]


def _selection_text(rule: str) -> str:
  return {"best_val_accuracy": "the epoch with the highest validation accuracy (ties: lower validation loss, then "
                               "the earlier epoch), restored from its Orbax checkpoint",
          "best_val_loss": "the epoch with the lowest validation loss (ties: higher validation accuracy, then the "
                           "earlier epoch), restored from its Orbax checkpoint",
          "last": "the model after the last epoch"}[rule]


def stability_report(config, summary: dict, command: str) -> str:
  """report.md of a multi-seed run: mean +- sd of every metric per model, and per-seed paired tests."""
  lines = [f"# rcl multi-seed report: {summary['dataset']}", "",
           f"Command: `{command}`" if command else "", "",
           f"Seeds {summary['seeds']}: each seed re-draws the split, the initialisation, the batch order and the "
           f"noise, and trains every component and collaborative model again. Entries are mean ± sample "
           f"standard deviation over seeds; precision, recall, F1 and specificity are support-weighted as in the "
           f"paper (macro averages below); per-seed reports are in seed_<k>/report.md.",
           f"Protocol (seed {summary['seeds'][0]}): {summary['protocol']}.", ""]
  for split, average in (("test", "weighted"), ("test", "macro"), ("val", "weighted")):
    keys = [k if k == "accuracy" else f"{k}_{average}" for k in paper.METRICS]
    lines += [f"## {'Test' if split == 'test' else 'Validation'} set, {average} averages", "",
              "| Model | Specificity | Precision | Recall | F1-score | Accuracy |", "|---|---|---|---|---|---|"]
    for section in _SECTIONS:
      for name, entry in summary["stability"].get(section, {}).items():
        cells = " | ".join(f"{entry[split][k]['mean']:.3f} ± {entry[split][k]['sd']:.3f}" for k in keys)
        lines.append(f"| {name} | {cells} |")
    lines.append("")
  if summary.get("comparisons"):
    lines += ["## Per seed: collaborative model against its best component and its plain ensemble (test set)", "",
              "Best component: highest validation accuracy in that seed. Difference: collaborative minus rival "
              "accuracy [95% paired bootstrap interval]; McNemar: sequences right only for the collaborative "
              "model / only for the rival, exact two-sided p-value.", "",
              "| Seed | Collaborative model | Its accuracy [95% CI] | Best component | Its accuracy | Difference | "
              "McNemar | Ensemble accuracy | Difference | McNemar |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in summary["comparisons"]:
      cells = [str(row["seed"]), row["collaborative"], _ci(row["accuracy"], row["accuracy_ci"])]
      for rival in ("best_component", "ensemble"):
        r = row[rival]
        cells += ([r["name"]] if rival == "best_component" else []) + [
            f"{r['accuracy']:.4f}", _ci(r["difference"]["estimate"], r["difference"], "+.4f"),
            f"{r['mcnemar']['a_only']} / {r['mcnemar']['b_only']}, p {r['mcnemar']['p_value']:.3g}"]
      lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
  return "\n".join(lines)


def _ci(value: float, ci: dict, spec: str = ".4f") -> str:
  return f"{value:{spec}} [{ci['low']:{spec}}, {ci['high']:{spec}}]"
