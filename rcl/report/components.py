"""report.md's tables of the trained models: components, collaborative models, ensembles and their costs."""

from __future__ import annotations

from rcl.models import monikers
from rcl.report import entries, paper
from rcl.report.protocol import BOOTSTRAP_LEVEL, BOOTSTRAP_RESAMPLES
from rcl.report.tables import METRIC_LABELS, fmt, head, metric_head, metric_row
from rcl.results import RunResults

# The data sets the paper reports results on, and its table comparing them with the literature.
PAPER_DATASETS = {"Test13": "Table 3", "Test88": "Table 4"}
_MEASURED = "measured here, test set"


def _paper_table(dataset: str, test13_table: dict) -> dict:
  """The paper's table to set beside ours: `test13_table` on Test13, Table 4 on Test88, none elsewhere."""
  return {"Test13": test13_table, "Test88": paper.TABLE4}.get(dataset, {})


def table1(results: RunResults) -> str:
  """Test-set metrics of each trained component, with the paper's Table 1 figure under it."""
  dataset = entries.dataset(results)
  paper_table = _paper_table(dataset, paper.TABLE1)
  out = metric_head("Moniker")
  for name, entry in entries.section(results, "models").items():
    out += metric_row(name, entries.method(entry), entries.metrics(entry), _MEASURED)
    figure = paper.paper_figure(paper_table, name)
    if figure is not None:
      out += metric_row(name, monikers.MONIKERS[name].method, figure, f"*paper, {dataset}*")
  return out


def table2(results: RunResults) -> str:
  """Collaborative models and their plain-ensemble baselines on the test set, with the paper's figures."""
  dataset = entries.dataset(results)
  paper_table = _paper_table(dataset, paper.TABLE2)
  ensembles = entries.section(results, "ensembles")
  out = metric_head("Combined layers")
  shown = set()
  for name, entry in entries.section(results, "collaborative").items():
    out += metric_row(name, entries.method(entry), entries.metrics(entry), _MEASURED)
    figure = paper.paper_figure(paper_table, name)
    if figure is not None:
      out += metric_row(name, entries.method(entry), figure, f"*paper, {dataset}*")
    baseline = (entries.comparison(entry) or {}).get("ensemble")
    if baseline in ensembles and baseline not in shown:
      shown.add(baseline)
      out += metric_row(baseline, entries.method(ensembles[baseline]), entries.metrics(ensembles[baseline]),
                        f"{_MEASURED} (baseline)")
  return out


def comparison_section(results: RunResults) -> list[str]:
  """Is each collaborative model better than its best component and its ensemble? Paired tests."""
  lines = ["## Is collaboration better? Paired comparisons on the test set", "",
           "Per collaborative model and rival (each of its components and its plain ensemble): the accuracy "
           f"difference with a {BOOTSTRAP_LEVEL:.0%} paired bootstrap interval ({BOOTSTRAP_RESAMPLES:,} resamples "
           "of the test sequences), the exact McNemar test (the sequences only one of the two gets right, and the "
           "two-sided binomial p-value). The best component is the one with the highest *validation* accuracy.", "",
           *head(["Collaborative model", "Rival", "Rival accuracy", "Collaborative accuracy",
                  f"Difference [{BOOTSTRAP_LEVEL:.0%} CI]", "Right only collab. / only rival", "McNemar p"])]
  for spec, entry in entries.section(results, "collaborative").items():
    cmp = entries.comparison(entry)
    if cmp is None:
      continue
    for rival, c in cmp["rivals"].items():
      section = "ensembles" if rival == cmp["ensemble"] else "models"
      label = f"{rival} (best component)" if rival == cmp["best_component"] else rival
      d, test = c["accuracy_difference"], c["mcnemar"]
      lines.append(f"| {spec} | {label} | {entries.accuracy(entries.section(results, section)[rival]):.4f} | "
                   f"{entries.accuracy(entry):.4f} | {d['estimate']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}] | "
                   f"{test['a_only']} / {test['b_only']} | {test['p_value']:.3g} |")
  return lines + [""]


def macro_table(results: RunResults) -> str:
  """Every model's test metrics with macro averages (each class counts once)."""
  out = metric_head("Model")
  for name, entry in entries.named(results):
    out += metric_row(name, entries.method(entry), entries.metrics(entry), f"{_MEASURED}, macro", average="macro")
  return out


def literature_table(results: RunResults) -> str:
  """Table 3 (Test13) or Table 4 (Test88) style: the literature as reported by its authors, ours measured."""
  test13 = entries.dataset(results) == "Test13"
  rows = []
  if test13:
    out = "\n".join(head(["Authors", "Method", METRIC_LABELS["f1"], METRIC_LABELS["accuracy"], "Source"])) + "\n"
    for authors, method, f1, acc in paper.TABLE3:
      source = "*paper's own result*" if "paper" in authors else "*reported by its authors (via the paper)*"
      rows.append(f"| {authors} | {method} | {f1:.3f} | {acc:.3f} | {source} |")
  else:
    out = metric_head("Moniker")
    for name in paper.TABLE4:
      row = metric_row(f"{name} (paper)", "", paper.paper_figure(paper.TABLE4, name), "*reported in the paper*")
      rows.append(row.rstrip("\n"))
  for name, entry in entries.named(results, ("models", "collaborative")):
    if test13:
      rows.append(f"| {name} (ours) | {entries.method(entry)} | {entries.metrics(entry)['f1_weighted']:.3f} | "
                  f"{entries.accuracy(entry):.3f} | {_MEASURED} |")
    else:
      rows.append(metric_row(f"{name} (ours)", entries.method(entry), entries.metrics(entry), _MEASURED).rstrip("\n"))
  return out + "\n".join(rows) + "\n"


def validation_table(results: RunResults) -> str:
  """Every model's validation metrics at its selected epoch."""
  out = metric_head("Moniker")
  for name, entry in entries.named(results):
    epoch = entries.selected_epoch(entry)
    where = "no training" if epoch is None else f"epoch {epoch}"
    out += metric_row(name, entries.method(entry), entries.metrics(entry, "val"),
                      f"measured here, validation set ({where})")
  return out


def figures_section(results: RunResults) -> list[str]:
  """Test accuracy with its bootstrap interval, and links to every model's figures."""
  lines = [f"## Every model: test accuracy with {BOOTSTRAP_LEVEL:.0%} bootstrap interval, training curves, "
           "confusion matrix", "",
           *head(["Model", f"Test accuracy [{BOOTSTRAP_LEVEL:.0%} CI]", "Training curves", "Confusion matrix (test)"])]
  for name, entry in entries.named(results):
    ci, figs = entries.accuracy_ci(entry), entries.figure_paths(entry)
    cells = [f"{entries.accuracy(entry):.4f}" + (f" [{ci['low']:.4f}, {ci['high']:.4f}]" if ci else ""),
             f"[curves]({figs['curves']})" if "curves" in figs else "–",
             f"[matrix]({figs['confusion']})" if "confusion" in figs else "–"]
    lines.append(f"| {name} | {' | '.join(cells)} |")
  return lines + [""]


def per_class_section(results: RunResults) -> list[str]:
  """Per-class test F1 of every model (and each class's support); full figures are in results.json."""
  tables = [(name, entries.per_class(entry)) for name, entry in entries.named(results)
            if entries.per_class(entry) is not None]
  if not tables:
    return []
  first = tables[0][1]
  lines = ["## Per class: test F1-score (precision, recall and specificity per class are in results.json)", "",
           *head(["Class", "Support", *(name for name, _ in tables)])]
  for c in first:
    cells = " | ".join(f"{table[c]['f1']:.3f}" for _, table in tables)
    lines.append(f"| {c} | {first[c]['support']} | {cells} |")
  return lines + [""]


def cost_section(config, results: RunResults) -> list[str]:
  """Training cost and the joint learning coefficient (eq. 1) of every trained model."""
  lines = ["## Training cost and joint learning", "",
           "Joint learning coefficient (eq. 1): correlation over epochs after a burn-in of "
           f"{config.analysis.burn_in} epochs between training accuracy (noise and dropout on, as Keras reports "
           "it) and validation accuracy; also on loss. Slope: least-squares slope of validation on training "
           "accuracy (Fig. 3).", "",
           *head(["Model", "Parameters", "Epochs", "Selected epoch", "Training seconds", "Joint coeff. (accuracy)",
                  "Joint coeff. (loss)", "Slope"])]
  for name, entry in entries.named(results, ("models", "collaborative")):
    jl = entries.joint_learning(entry)
    cells = " | ".join(fmt(jl.get(k)) for k in ("accuracy", "loss", "slope"))
    parameters, epochs, selected, seconds = entries.cost(entry)
    lines.append(f"| {name} | {parameters:,} | {epochs} | {selected} | {seconds:.0f} | {cells} |")
  return lines + [""]
