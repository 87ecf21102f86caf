"""Export: a trained model of an experiment workdir written as a self-contained bundle (`rcl.bundle`), with
its networks, calibration, novelty rule, seen digests and provenance."""

from __future__ import annotations

import dataclasses
import json
import os

import flax.serialization
import numpy as np

from rcl import bundle, files
from rcl.analysis import calibration
from rcl.bundle import BundleError
from rcl.collab import combine, ensemble, features
from rcl.config import ExperimentConfig, read
from rcl.data.fetch import sha256
from rcl.experiment import boundary
from rcl.models import monikers
from rcl.results import RunResults
from rcl.train.checkpoint import load_selected
from rcl.workdir import (CHECKPOINTS, CONFIG, DATA_SUMMARY, FEATURES, NOVELTY, RESULTS, SEEN, VOCABULARY,
                         Workdir)


def load_run_config(workdir: str) -> tuple[ExperimentConfig, str]:
  """The configuration an experiment directory was run with and its command line (its config.json)."""
  path = Workdir(workdir).file(CONFIG)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: {workdir} is not an rcl experiment directory")
  with open(path) as f:
    saved = json.load(f)
  command = saved.pop("command", "")
  return read(saved), command


def export(workdir: str, spec: str, out: str, class_names: str | None = None) -> dict:
  """Writes the bundle of model `spec` trained in `workdir` to the new directory `out`; returns its
  bundle.json content. `spec`: a moniker A-G, a collaborative spec such as 'LD(A)+LD(E)', a plain ensemble
  'Ensemble(A+E)', or 'best': the run's best by validation alone (`boundary.robust_choice`).

  `class_names` is a JSON object of class -> family name (as Rfam-novel's rfam.json); without it, an
  rfam.json beside the experiment's data files is read when there is one. The names of the model's classes
  go to meta['class_names'] (a class the file lacks has none), the file to provenance['class_names_from'].
  """
  config, command = load_run_config(workdir)
  layout = Workdir(workdir)
  classes, summary = (_read(layout.file(name)) for name in (VOCABULARY, DATA_SUMMARY))
  classes, results = classes["classes"], RunResults.read(layout.file(RESULTS))
  chosen_by = None
  if spec == "best":
    spec, score, how = boundary.robust_choice(results)
    chosen_by = {"rule": how, "score": score}
  averaged = ensemble.parse_name(spec)
  collaborative = spec not in monikers.MONIKERS and averaged is None
  members = averaged or (combine.components([spec]) if collaborative else [spec])
  section = "ensembles" if averaged else "collaborative" if collaborative else "models"
  entry = results.section(section).get(spec)
  if entry is None:
    raise BundleError(f"{workdir} has no trained model {spec!r} (results.json)")
  if os.path.exists(out):
    raise BundleError(f"{out} exists: name a new directory for the bundle")
  names_from, names = class_names, {}
  if names_from is None:  # an rfam.json beside the data files (paths as the run resolved them)
    data = config.data
    beside = dict.fromkeys(os.path.join(os.path.dirname(p), "rfam.json")
                           for p in data.files + data.train_files + data.val_files)
    names_from = next((p for p in beside if os.path.isfile(p)), None)
  if names_from is not None:
    try:
      with open(names_from, encoding="utf-8") as f:
        table = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
      raise BundleError(f"{names_from} is not JSON ({e}); class names are a JSON object of class -> name") from None
    if not isinstance(table, dict) or not all(isinstance(v, str) and not set(v) & set("\t\r\n")
                                              for v in table.values()):
      raise BundleError(f"{names_from} is not a JSON object of class -> name (one-line strings)")
    names = {c: table[c] for c in classes if c in table}
    if not names and class_names is not None:
      raise BundleError(f"{class_names} names none of the model's {len(classes)} classes "
                        f"({', '.join(classes[:3])}, ...)")
  os.makedirs(os.path.join(out, bundle.NETWORKS))
  networks = {}
  for name in members:
    moniker = monikers.MONIKERS[name]
    model = monikers.build(moniker, len(classes), config.hyper)
    buckets = config.bucket_lengths(moniker.arch)
    state, _ = load_selected(layout.model_file(name, CHECKPOINTS), model,
                             bundle.example(moniker.input_kind, config.data.max_len, buckets),
                             expect={"classes": classes})
    _write_network(out, name, state)
    networks[name] = {"moniker": name, "arch": moniker.arch, "inputs": moniker.input_kind,
                      "buckets": list(buckets) if buckets else None}
  meta = {"format": bundle.FORMAT, "model": spec, "classes": classes, **({"class_names": names} if names else {}),
          "max_len": config.data.max_len,
          "eval_batch_size": config.eval_batch_size, "hyper": dataclasses.asdict(config.hyper),
          "networks": networks,
          "provenance": {"workdir": os.path.basename(os.path.abspath(workdir)), "command": command,
                         "data_fingerprint": summary.get("data_fingerprint"), "protocol": summary.get("protocol"),
                         "train_records": summary["train"]["records"],
                         "train_length_min": summary["train"]["length_min"],
                         "val_accuracy": entry.accuracy("val"), "test_accuracy": entry.accuracy(),
                         "test_macro_f1": entry.scores.test["f1_macro"],
                         "trained_with": results.environment,
                         **({"chosen_by": chosen_by} if chosen_by else {}),
                         **({"boundary_noise": _noise_figures(results.studies, spec)}
                            if "boundary_noise" in results.studies else {}),
                         **({"class_names_from": os.path.basename(names_from)} if names else {})}}
  if averaged:
    meta["ensemble"] = {"members": members}
  _trust(workdir, results.studies, spec, out, meta)
  if collaborative:
    feats = {m: features.load(layout.model_file(m, FEATURES)) for m in members}
    source = features.SAMPLED if entry.about["train_features"] == "sampled" else "train"
    mean, std = combine.standardisation(combine.training_rows(spec, feats, source, entry.about["flank_copies"] > 0))
    mlp = monikers.build_collaborative(len(classes), config.collab.dense, config.hyper, config.collab.input_noise)
    checkpoint_dir = os.path.join(layout.model_file(spec, CHECKPOINTS), entry.about["checkpoint_key"])
    state, _ = load_selected(checkpoint_dir, mlp, {"features": np.zeros((2, len(mean)), np.float32)},
                             expect={"classes": classes})
    _write_network(out, bundle.COLLAB_NETWORK, state)
    files.write_npz(os.path.join(out, bundle.STANDARDISATION_FILE), {"mean": mean, "std": std})
    meta["collaborative"] = {"spec": spec, "dense": list(config.collab.dense), "inputs": int(len(mean))}
  files.write_json(os.path.join(out, bundle.BUNDLE_FILE), meta)
  written = sorted(os.path.relpath(os.path.join(r, n), out) for r, _, ns in os.walk(out) for n in ns)
  files.write_json(os.path.join(out, bundle.MANIFEST_FILE), {f: sha256(os.path.join(out, f)) for f in written})
  return meta


def _trust(workdir: str, studies: dict, spec: str, out: str, meta: dict) -> None:
  """Adds the model's calibration (temperature, top-label bins) and novelty rule (score, threshold, the
  statistics it reads) and the digests of its training and validation sequences to the bundle, where the run
  measured them."""
  if spec in studies.get("calibration", {}).get("models", {}):
    cal = studies["calibration"]["models"][spec]
    calibrator = calibration.Calibrator.from_dict(cal)
    meta["calibration"] = {**calibrator.to_dict(), "fitted_on": "validation split (temperature: NLL; top-label "
                           "bins, where held-out halves of it had a lower Brier score with them: "
                           "their accuracy)",
                           "val": cal["val"], "test": cal["test"]}
    nov = studies["novelty"]["models"][spec]
    chosen = nov["scores"][nov["chosen"]]
    meta["novelty"] = {"score": nov["chosen"], "threshold": chosen["threshold"], "keep": studies["novelty"]["keep"],
                       "chosen_by": studies["novelty"]["score_rule"],
                       "validation": {s: {"auroc": v["val_mean_auroc"], "false_acceptance": v["val_mean_false_acceptance"]}
                                      for s, v in nov["scores"].items()},
                       "test": {"known_called": chosen["test_known_called"],
                                "accuracy_called": chosen["test_accuracy_called"], **chosen["test"]}}
    with open(Workdir(workdir).model_file(spec, NOVELTY), "rb") as f:
      files.write_bytes(os.path.join(out, NOVELTY), f.read())
  seen_path = Workdir(workdir).file(SEEN)
  if os.path.exists(seen_path):
    with open(seen_path, "rb") as f:
      files.write_bytes(os.path.join(out, SEEN), f.read())
    meta["seen"] = {"file": SEEN, "what": "sha256 (first 8 bytes) of every training and validation sequence"}


def _noise_figures(studies: dict, spec: str) -> dict:
  """A model's accuracy and macro-F1 under boundary noise in the run, per split and level."""
  bn = studies["boundary_noise"]
  return {"kind": bn["kind"], "levels": bn["levels"], **bn["models"][spec]}


def _read(path: str) -> dict:
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def _write_network(out: str, name: str, state) -> None:
  """A network's parameters and batch statistics as networks/<name>.msgpack (`flax.serialization`)."""
  files.write_bytes(os.path.join(out, bundle.NETWORKS, f"{name}.msgpack"),
                    flax.serialization.to_bytes(bundle.stored_variables(state)))
