"""report.md of a multi-seed run: every metric's mean and spread over seeds, and per-seed paired tests."""

from __future__ import annotations

from rcl.report.protocol import BOOTSTRAP_LEVEL
from rcl.report.tables import head, metric_keys, metric_labels, with_ci
from rcl.results import SECTIONS


def _metric_tables(stability: dict) -> list[str]:
  """Mean ± sd of the paper's metrics per model: test (weighted, macro) and validation (weighted)."""
  lines = []
  for split, average in (("test", "weighted"), ("test", "macro"), ("val", "weighted")):
    lines += [f"## {'Test' if split == 'test' else 'Validation'} set, {average} averages", "",
              *head(["Model", *metric_labels()])]
    for section in SECTIONS:
      for name, entry in stability.get(section, {}).items():
        cells = " | ".join(f"{entry[split][k]['mean']:.3f} ± {entry[split][k]['sd']:.3f}" for k in metric_keys(average))
        lines.append(f"| {name} | {cells} |")
    lines.append("")
  return lines


def _comparison_table(comparisons: list[dict]) -> list[str]:
  """Per seed, each collaborative model against its best component and its plain ensemble."""
  lines = ["## Per seed: collaborative model against its best component and its plain ensemble (test set)", "",
           "Best component: highest validation accuracy in that seed. Difference: collaborative minus rival "
           f"accuracy [{BOOTSTRAP_LEVEL:.0%} paired bootstrap interval]; McNemar: sequences right only for the "
           "collaborative model / only for the rival, exact two-sided p-value.", "",
           *head(["Seed", "Collaborative model", f"Its accuracy [{BOOTSTRAP_LEVEL:.0%} CI]", "Best component",
                  "Its accuracy", "Difference", "McNemar", "Ensemble accuracy", "Difference", "McNemar"])]
  for row in comparisons:
    cells = [str(row["seed"]), row["collaborative"], with_ci(row["accuracy"], row["accuracy_ci"])]
    for rival in ("best_component", "ensemble"):
      r = row[rival]
      cells += ([r["name"]] if rival == "best_component" else []) + [
          f"{r['accuracy']:.4f}", with_ci(r["difference"]["estimate"], r["difference"], "+.4f"),
          f"{r['mcnemar']['a_only']} / {r['mcnemar']['b_only']}, p {r['mcnemar']['p_value']:.3g}"]
    lines.append("| " + " | ".join(cells) + " |")
  return lines + [""]


def report(summary: dict, command: str) -> str:
  """The whole report.md text of a multi-seed run, from its summary (`rcl.experiment.pipeline.summarize_seeds`)."""
  lines = [f"# rcl multi-seed report: {summary['dataset']}", "",
           f"Command: `{command}`" if command else "", "",
           f"Seeds {summary['seeds']}: each seed re-draws the split, the initialisation, the batch order and the "
           f"noise, and trains every component and collaborative model again. Entries are mean ± sample "
           f"standard deviation over seeds; precision, recall, F1 and specificity are support-weighted as in the "
           f"paper (macro averages below); per-seed reports are in seed_<k>/report.md.",
           f"Protocol (seed {summary['seeds'][0]}): {summary['protocol']}.", "",
           *_metric_tables(summary["stability"])]
  if summary.get("comparisons"):
    lines += _comparison_table(summary["comparisons"])
  return "\n".join(lines)
