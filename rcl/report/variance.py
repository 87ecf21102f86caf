"""report.md of a variance study: per model, the spread of test accuracy that each seed source causes."""

from __future__ import annotations

from rcl.analysis.variance import TOTAL
from rcl.report.tables import head

_WHAT = {"split": "the 80:10:10 split (and so the test set)", "init": "the components' initial parameters",
         "order": "the components' batch order", "noise": "the components' noise, dropout and training flanks",
         "collab": "the collaborative MLPs (initialisation, order, noise, feature draws)",
         TOTAL: "every source at once (the total spread)"}


def _uncertainty(summary: dict) -> str:
  """How far a sample sd of n normal draws may lie from the true one: the 90% chi-square interval's factors."""
  from scipy.stats import chi2  # noqa: PLC0415 (scipy comes with scikit-learn)
  n = min(summary["trials"].values())
  low, high = (((n - 1) / chi2.ppf(q, n - 1)) ** 0.5 for q in (0.95, 0.05))
  return f"from {n} trials the true sd lies, with 90% confidence, between {low:.2f}x and {high:.2f}x the one shown"


def _table(summary: dict, field: str, fmt: str) -> list[str]:
  sources = summary["sources"]
  lines = head(["Model", *[f"{s} ({summary['trials'][s]})" for s in sources]])
  for quantity in summary["quantities"]:
    cells = [format(summary["sd"][quantity][s][field], fmt) if s in summary["sd"][quantity] else "–" for s in sources]
    lines.append(f"| {quantity} | " + " | ".join(cells) + " |")
  return lines


def report(out: dict, command: str) -> str:
  """The whole report.md text of a variance study (`rcl.experiment.variance.run`)."""
  summary, seed = out["variance"], out["seed"]
  varied = [s for s in summary["sources"] if s != TOTAL]
  lines = [f"# rcl variance study: {out['dataset']}", "", f"Command: `{command}`" if command else "", "",
           f"Each trial runs the whole pipeline. Trial t of a source sets that source's seed to {seed} + t "
           f"and holds the others at {seed}; trial 0 of every source is one shared run (all seeds {seed}). The "
           f"'{TOTAL}' trials set every source to {seed} + t together. Sources: " + "; ".join(f"{s}: {_WHAT[s]}" for s in [*varied, TOTAL]) + ". "
           "The evaluations' own draws (flanked and decoy copies, bootstrap intervals, CCA trials) stay at the "
           "base seed. A collaborative model's gain is its test accuracy minus that of its best component "
           "(by validation accuracy) in the same trial. Trial runs: variance/ (their own results.json and "
           "report.md).", "",
           "## Standard deviation of test accuracy by seed source", "",
           "Sample standard deviation (ddof 1) over each source's trials (their number in brackets). With few "
           f"trials an sd is itself uncertain: {_uncertainty(summary)}.", "",
           *_table(summary, "sd", ".4f"), "", f"![variance by source]({summary['figure']})", "",
           "## Mean test accuracy over each source's trials", "", *_table(summary, "mean", ".4f"), ""]
  return "\n".join(lines)
