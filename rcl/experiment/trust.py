"""The calibration and novelty stage: for every model of the run (components, plain ensembles, collaborative
MLPs), a temperature fitted on validation (and top-label bins where validation prefers them), its effect
on NLL, Brier score and ECE, and the novelty scores (`rcl.analysis.novelty`) on decoys and, with
--holdout_families, on records of families no model learnt. The background score learns from decoys of the
training split, drawn apart from the evaluated ones.

Everything chosen here (temperature, bins, score, threshold) is chosen on validation sets: the validation split,
decoys made from it, and the first half of the held-out families. The test split, its decoys and the other
half are reported only.
"""

from __future__ import annotations

import os

import numpy as np

from rcl.analysis import calibration, novelty
from rcl.collab import combine, ensemble
from rcl.collab.features import Features
from rcl.collab.outputs import every_model
from rcl.config import ExperimentConfig
from rcl.data import decoys
from rcl.data.dataset import DataSet, Split
from rcl.experiment.progress import Log
from rcl.files import write_npz
from rcl.report import figures
from rcl.workdir import NOVELTY, Workdir

KNOWN = ("val", "test")


def novel_sets(config: ExperimentConfig, data: DataSet) -> dict[str, dict[str, Split]]:
  """{'val': {set name: split}, 'test': {...}}: decoys of each known split ('shuffled', 'uniform'; seeded
  by the run's seed and the split) and the held-out families' half for that split ('families')."""
  out: dict[str, dict[str, Split]] = {}
  for stream, name in enumerate(KNOWN):
    out[name] = {kind: decoys.decoy_split(data.splits[name], kind, config.seed, config.data.max_len, stream)
                 for kind in decoys.KINDS}
    if name in data.novel and len(data.novel[name]):
      out[name]["families"] = data.novel[name]
  return out


def training_features(name: str, features: dict[str, Features], collaborative: dict) -> np.ndarray:
  """float32[n, d] the deterministic training-split features a model's distance scores compare with (as
  `novelty.Outputs.features` describes them)."""
  members = ensemble.parse_name(name)
  if members is not None:
    return np.concatenate([features[m]["train"]["LD"] for m in members], axis=-1)
  if name in collaborative:
    _, mean, std = collaborative[name]
    return (combine.training_rows(name, features) - mean) / std
  return features[name]["train"]["LD"]


def score_figures(score: str, model: str, known: dict, novel: dict, test_labels: np.ndarray, temperature: float,
                  reference: novelty.Reference, keep: float) -> dict:
  """One novelty score of one model: its threshold (from the known validation records and `keep`), AUROC
  and false-acceptance rate on every validation and test novel set (with their validation means, what
  chooses), the share of known test records called, their accuracy and the accuracy-coverage curve."""
  def scores(outputs: dict[str, novelty.Outputs]) -> np.ndarray:
    return novelty.score(score, outputs[model], temperature, reference)

  val_known, test_known = scores(known["val"]), scores(known["test"])
  limit = novelty.threshold(val_known, keep)
  correct = known["test"][model].logits.argmax(-1) == test_labels
  called = test_known <= limit
  out = {"threshold": limit, "test_known_called": float(called.mean()),
         "test_accuracy_called": float(correct[called].mean()) if called.any() else None,
         "coverage": novelty.coverage_curve(test_known, correct)}
  for name, known_scores in (("val", val_known), ("test", test_known)):
    out[name] = {kind: {"auroc": novelty.auroc(known_scores, s), "false_acceptance": novelty.accepted(s, limit)}
                 for kind, outputs in novel[name].items() for s in [scores(outputs)]}
  for measure in ("auroc", "false_acceptance"):
    out[f"val_mean_{measure}"] = float(np.mean([v[measure] for v in out["val"].values()]))
  return out


def stage(config: ExperimentConfig, data: DataSet, components: dict, collaborative: dict,
          features: dict[str, Features], *, log: Log) -> dict:
  """{'calibration': ..., 'novelty': ...} for every model that reads the sequence alone (decoys have no fold).

  Args:
    components: moniker -> (selected state, bucket lengths), as the boundary-noise stage takes them.
    collaborative: spec -> (selected MLP state, feature mean, feature std).
    features: moniker -> the component's features (`rcl.collab.features.extract`).
  """
  workdir = Workdir(config.workdir)
  if not components or not config.novelty.enabled:
    return {}
  batch, keep = config.eval_batch_size, config.novelty.keep
  known = {name: every_model(data.splits[name], components, collaborative, batch) for name in KNOWN}
  sets = novel_sets(config, data)
  novel = {name: {kind: every_model(split, components, collaborative, batch) for kind, split in kinds.items()}
           for name, kinds in sets.items()}
  labels = {name: data.splits[name].labels for name in KNOWN}
  train_decoys = [every_model(decoys.decoy_split(data.splits["train"], kind, config.seed, config.data.max_len,
                                                  len(KNOWN)), components, collaborative, batch)
                  for kind in decoys.KINDS]
  cal_models, nov_models, reliability, curves = {}, {}, {}, {}
  for model in known["val"]:
    val, test = known["val"][model], known["test"][model]
    calibrator = calibration.fit(val.logits, labels["val"], seed=config.seed)
    temperature = calibrator.temperature  # what the novelty scores read (binning keeps the top class's rank)
    cal_models[model] = {**calibrator.to_dict(), **{
        name: {"before": calibration.measures(known[name][model].logits, labels[name]),
               "after": calibration.measures(known[name][model].logits, labels[name], calibrator)}
        for name in KNOWN}}
    calibrated = calibrator.probabilities(test.logits)
    floor = calibration.ece_floor(calibrated, seed=config.seed)
    cal_models[model]["test"]["calibrated_ece"] = {"mean": floor[0], "p95": floor[1]}
    reliability[model] = {"before": calibration.reliability(calibration.softmax(test.logits), labels["test"]),
                          "after": calibration.reliability(calibrated, labels["test"])}
    chosen_score = config.novelty.score
    reference = novelty.fit_reference(training_features(model, features, collaborative),
                                      data.splits["train"].labels, len(data.classes),
                                      decoys=np.concatenate([d[model].features for d in train_decoys]))
    per_score = {score: score_figures(score, model, known, novel, labels["test"], temperature, reference, keep)
                 for score in novelty.SCORES}
    if chosen_score == "auto":
      chosen_score = min(novelty.SCORES, key=lambda s: (per_score[s]["val_mean_false_acceptance"],
                                                         -per_score[s]["val_mean_auroc"]))
    nov_models[model] = {"chosen": chosen_score, "scores": per_score}
    curves[model] = per_score[chosen_score]["coverage"]
    if chosen_score != "knn":
      reference.bank = None
    if chosen_score != "background":
      reference.background = None
    os.makedirs(workdir.model(model), exist_ok=True)
    write_npz(workdir.model_file(model, NOVELTY), reference.arrays())
    chosen = per_score[chosen_score]
    binned = " and top-label bins" if calibrator.edges else ""
    log(f"[trust] {model}: T {temperature:.3f}{binned}, test ECE {cal_models[model]['test']['before']['ece']:.4f} -> "
        f"{cal_models[model]['test']['after']['ece']:.4f}; novelty by {chosen_score}: test known called "
        f"{chosen['test_known_called']:.3f}, " +
        ", ".join(f"{kind} AUROC {r['auroc']:.3f} FAR {r['false_acceptance']:.3f}" for kind, r in chosen["test"].items()))
  reliability_path, coverage_path = workdir.figure("reliability"), workdir.figure("coverage")
  figures.reliability(workdir.absolute(reliability_path), reliability)
  figures.coverage(workdir.absolute(coverage_path), curves)
  counts = {name: {kind: len(split) for kind, split in kinds.items()} for name, kinds in sets.items()}
  return {"calibration": {"bins": calibration.BINS, "fitted_on": "val", "figure": reliability_path,
                          "models": cal_models},
          "novelty": {"keep": keep, "score_rule": "given" if config.novelty.score != "auto" else
                      "the lowest mean false-acceptance rate over the validation novel sets at its "
                      "threshold (ties: the higher mean validation AUROC)",
                      "sets": counts, "holdout": data.summary.get("holdout"), "figure": coverage_path,
                      "models": nov_models}}
