"""report.md: the paper's tables filled with measured figures, each labelled with how it was obtained."""

from __future__ import annotations

from rcl.report import components, entries, multiseed, protocol, studies, trust
from rcl.results import RunResults


def _literature(results: RunResults) -> list[str]:
  """The comparison with the literature, in the style of the paper's table for this data set."""
  dataset = entries.dataset(results)
  table = components.PAPER_DATASETS.get(dataset, components.PAPER_DATASETS["Test88"])
  return [f"## Comparison with the literature ({table} style)", "",
          "Figures of other methods come from their publications as quoted by the paper; they were obtained "
          "under their authors' protocols, not re-run here. Ours are measured under the protocol above.", "",
          components.literature_table(results) if dataset in components.PAPER_DATASETS else
          f"(the paper reports no figures for data set {dataset!r})\n"]


def report(config, results: RunResults, summary: dict, command: str) -> str:
  """The whole report.md text of one run, from its configuration, results and data summary."""
  collaborative = bool(entries.section(results, "collaborative"))
  lines = [
      f"# rcl report: {entries.dataset(results)}", "",
      f"Command: `{command}`" if command else "", "",
      *protocol.section(config, results, summary),
      "## Table 1: standalone models, test set (support-weighted averages)", "",
      components.table1(results),
      "## Table 2: collaborative models and their plain ensembles, test set (support-weighted averages)", "",
      components.table2(results) if collaborative else "(no collaborative model in this run)\n",
      *(components.comparison_section(results) if collaborative else []),
      "## Macro averages, test set", "",
      components.macro_table(results),
      *_literature(results),
      "## Validation set (selected epoch)", "",
      components.validation_table(results),
      *components.figures_section(results),
      *components.per_class_section(results),
      *components.cost_section(config, results),
  ]
  done = results.studies
  if "sweep" in done:
    lines += studies.sweep_section(done["sweep"])
  if "feature_analysis" in done:
    lines += studies.feature_section(done["feature_analysis"])
  if "boundary_noise" in done:
    lines += studies.boundary_section(done["boundary_noise"])
  if "calibration" in done:
    lines += trust.calibration_section(done["calibration"]) + trust.novelty_section(done["novelty"])
  return "\n".join(line for line in lines if line is not None)


def stability_report(config, summary: dict, command: str) -> str:
  """The whole report.md text of a multi-seed run (`rcl.report.multiseed`); `config` is the run's."""
  del config  # the summary holds all the report needs
  return multiseed.report(summary, command)
