"""report.md's calibration and novelty sections (`rcl.experiment.trust`'s results)."""

from __future__ import annotations

from rcl.analysis.calibration import TOP_BINS
from rcl.report.tables import fmt, head

_SET_NAMES = {"shuffled": "dinucleotide-shuffled decoys", "uniform": "uniform random decoys",
              "families": "held-out families"}


def calibration_section(cal: dict) -> list[str]:
  """NLL, Brier score and ECE of every model before and after its calibration, on test and validation, and the
  test ECE's noise floor."""
  lines = ["## Calibration: temperature scaling, then top-label binning", "",
           f"One temperature per model, fitted on the validation split by NLL (golden-section search on log T); "
           f"then, where held-out halves of the validation split had a lower Brier score with them, {TOP_BINS} "
           "equal-mass bins of the tempered top-class probability, each set to its validation accuracy "
           "(non-decreasing). "
           f"ECE over {cal['bins']} equal-width confidence bins; 'calibrated' is the test ECE a perfectly calibrated "
           "model with the same top-class probabilities would measure on this many records (mean and 95th "
           "percentile of draws where each call is right with its probability): the estimator's noise floor. "
           "Validation is where both were fitted; test is reported only.", "",
           *head(["Model", "T", "bins", "test NLL", "test Brier", "test ECE", "calibrated", "val ECE"])]
  for name, m in cal["models"].items():
    b, a = m["test"]["before"], m["test"]["after"]
    bins = len(m["top_bins"]["values"]) if "top_bins" in m else "–"
    floor = m["test"].get("calibrated_ece")
    floor = f"{floor['mean']:.4f} ({floor['p95']:.4f})" if floor else "–"
    lines.append(f"| {name} | {m['temperature']:.3f} | {bins} | {b['nll']:.4f} → {a['nll']:.4f} | "
                 f"{b['brier']:.4f} → {a['brier']:.4f} | {b['ece']:.4f} → {a['ece']:.4f} | {floor} | "
                 f"{m['val']['before']['ece']:.4f} → {m['val']['after']['ece']:.4f} |")
  return lines + ["", f"![Reliability diagrams, test split]({cal['figure']})", ""]


def novelty_section(nov: dict) -> list[str]:
  """Per model: the chosen novelty score, its threshold's effect on known and novel test records, and every
  score's validation AUROC (what chose it)."""
  test_sets = list(nov["sets"]["test"])
  describe = "; ".join(f"{_SET_NAMES.get(k, k)}: {nov['sets']['val'][k]} validation / {nov['sets']['test'][k]} "
                       f"test records" for k in test_sets)
  lines = ["## Novelty: sequences outside the model's classes", "",
           f"Novel sets: {describe}. "
           + (f"Held-out families: {len(nov['holdout']['val']['families'])} choose, "
              f"{len(nov['holdout']['test']['families'])} test ({nov['holdout']['fraction']:.0%} of "
              f"{nov['holdout']['families']} families removed from every split before training). "
              if nov.get("holdout") else "")
           + f"Score per model: {nov['score_rule']}. Threshold: the score below which {nov['keep']:.0%} of the "
           "known-class validation records lie; above it a record is 'unclassified'. Test figures are reported "
           "only.", "",
           *head(["Model", "score", "test known called", "accuracy of called",
                  *(f"{_SET_NAMES.get(k, k)}: AUROC / false acceptance" for k in test_sets)])]
  for name, m in nov["models"].items():
    s = m["scores"][m["chosen"]]
    lines.append(f"| {name} | {m['chosen']} | {s['test_known_called']:.4f} | {fmt(s['test_accuracy_called'], '.4f')} | "
                 + " | ".join(f"{s['test'][k]['auroc']:.3f} / {s['test'][k]['false_acceptance']:.3f}"
                              for k in test_sets) + " |")
  scores = list(next(iter(nov["models"].values()))["scores"])
  lines += ["", "Every score on the validation novel sets (what chose): mean AUROC / mean false acceptance at its "
                "threshold:", "", *head(["Model", *scores])]
  for name, m in nov["models"].items():
    lines.append(f"| {name} | " + " | ".join(f"{m['scores'][s]['val_mean_auroc']:.3f} / "
                                             f"{m['scores'][s]['val_mean_false_acceptance']:.3f}" for s in scores)
                 + " |")
  return lines + ["", f"![Accuracy against coverage, test split]({nov['figure']})", ""]
