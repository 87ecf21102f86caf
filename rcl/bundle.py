"""Self-contained model bundles: a trained component or collaborative model exported from an experiment
workdir, loaded anywhere without it, and applied to new sequences.

A bundle directory holds bundle.json (format version, classes, max_len, every network's configuration and
buckets, the collaborative model's spec, the calibration temperature and novelty rule, provenance),
networks/<name>.msgpack (parameters and BatchNorm / running statistics, `flax.serialization`; never pickle),
standardisation.npz for a collaborative model (the training features' mean and std), novelty.npz (what the
novelty score compares with), seen.npz (digests of the training and validation sequences; all .npz loaded
without pickle) and manifest.json (the sha256 of every other file, checked on load).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from rcl.analysis import calibration, novelty
from rcl.collab import combine, ensemble, features, outputs as model_outputs
from rcl.config import ExperimentConfig, from_dict
from rcl.data import batching, seen
from rcl.data.dataset import Split
from rcl.data.encoding import encode_sequences
from rcl.data.fetch import sha256
from rcl.data.structure import attach_structures
from rcl.experiment import boundary
from rcl.files import write_bytes, write_npz
from rcl.experiment.evaluation import model_dir
from rcl.models import cnn, monikers
from rcl.models.mlp import CollabMLP
from rcl.train.checkpoint import load_selected
from rcl.train.predict import predict
from rcl.train.state import TrainState, create_state

FORMAT = 3  # 2: CNNs may have a pooled head (hyper.cnn_head) and length buckets; 3: calibration, novelty, seen
BUNDLE_FILE, MANIFEST_FILE, STANDARDISATION_FILE = "bundle.json", "manifest.json", "standardisation.npz"
COLLAB_NETWORK = "collaborative"
SHAPES = ("fast", "training", "padded")  # the input shapes a bundle's networks may read (`Bundle.buckets`)


class BundleError(ValueError):
  """A bundle that cannot be used: missing, tampered with, or of a newer format."""


def _example(kind: str, max_len: int, buckets: Sequence[int] | None) -> dict:
  """A two-sequence batch shaped like real input, to shape a network's variables."""
  enc = encode_sequences(["ACGU", "ACGU"], max_len)
  split = Split(["a", "b"], ["ACGU", "ACGU"], enc.codes, enc.lengths, np.zeros(2, np.int32))
  if kind != "seq":
    attach_structures(split, ["....", "...."], max_len)
  batch = next(batching.batches(split, 2, bucket_lengths=buckets))
  batch.pop("index")
  return batch


def _variables(state: TrainState) -> dict:
  return {"params": state.params, "batch_stats": state.batch_stats}


def load_run_config(workdir: str) -> tuple[ExperimentConfig, str]:
  """The configuration an experiment directory was run with and its command line (its config.json)."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: {workdir} is not an rcl experiment directory")
  with open(path) as f:
    saved = json.load(f)
  command = saved.pop("command", "")
  return from_dict(ExperimentConfig, saved), command


def export(workdir: str, spec: str, out: str, class_names: str | None = None) -> dict:
  """Writes the bundle of model `spec` trained in `workdir` to the new directory `out`; returns its
  bundle.json content. `spec`: a moniker A-G, a collaborative spec such as 'LD(A)+LD(E)', a plain ensemble
  'Ensemble(A+E)', or 'best': the run's best by validation alone (`boundary.robust_choice`).

  `class_names` is a JSON object of class -> family name (as Rfam-novel's rfam.json); without it, an
  rfam.json beside the experiment's data files is read when there is one. The names of the model's classes
  go to meta['class_names'] (a class the file lacks has none), the file to provenance['class_names_from'].
  """
  config, command = load_run_config(workdir)
  with open(os.path.join(workdir, "vocabulary.json")) as f:
    classes = json.load(f)["classes"]
  with open(os.path.join(workdir, "results.json")) as f:
    results = json.load(f)
  with open(os.path.join(workdir, "data_summary.json")) as f:
    summary = json.load(f)
  chosen_by = None
  if spec == "best":
    spec, score, how = boundary.robust_choice(results)
    chosen_by = {"rule": how, "score": score}
  averaged = ensemble.parse_name(spec)
  collaborative = spec not in monikers.MONIKERS and averaged is None
  members = averaged or (combine.components([spec]) if collaborative else [spec])
  section = "ensembles" if averaged else "collaborative" if collaborative else "models"
  entry = results[section].get(spec)
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
  os.makedirs(os.path.join(out, "networks"))
  networks = {}
  for name in members:
    moniker = monikers.MONIKERS[name]
    model = monikers.build(moniker, len(classes), config.hyper)
    buckets = config.bucket_lengths(moniker.arch)
    state, _ = load_selected(os.path.join(model_dir(workdir, name), "checkpoints"), model,
                             _example(moniker.input_kind, config.data.max_len, buckets), expect={"classes": classes})
    write_bytes(os.path.join(out, "networks", f"{name}.msgpack"), flax.serialization.to_bytes(_variables(state)))
    networks[name] = {"moniker": name, "arch": moniker.arch, "inputs": moniker.input_kind,
                      "buckets": list(buckets) if buckets else None}
  meta = {"format": FORMAT, "model": spec, "classes": classes, **({"class_names": names} if names else {}),
          "max_len": config.data.max_len,
          "eval_batch_size": config.fit.eval_batch_size, "hyper": dataclasses.asdict(config.hyper),
          "networks": networks,
          "provenance": {"workdir": os.path.basename(os.path.abspath(workdir)), "command": command,
                         "data_fingerprint": summary.get("data_fingerprint"), "protocol": summary.get("protocol"),
                         "train_records": summary["train"]["records"],
                         "train_length_min": summary["train"]["length_min"],
                         "val_accuracy": entry["val"]["accuracy"], "test_accuracy": entry["test"]["accuracy"],
                         "test_macro_f1": entry["test"].get("f1_macro"),
                         "trained_with": results.get("environment"),
                         **({"chosen_by": chosen_by} if chosen_by else {}),
                         **({"boundary_noise": _noise_figures(results, spec)} if "boundary_noise" in results else {}),
                         **({"class_names_from": os.path.basename(names_from)} if names else {})}}
  if averaged:
    meta["ensemble"] = {"members": members}
  _trust(workdir, results, spec, out, meta)
  if collaborative:
    feats = {m: features.load(os.path.join(model_dir(workdir, m), "features.npz")) for m in members}
    source = features.SAMPLED if entry.get("train_features") == "sampled" else "train"
    mean, std = combine.standardisation(combine.training_rows(spec, feats, source, entry.get("flank_copies", 0) > 0))
    mlp = CollabMLP(num_classes=len(classes), dense=tuple(config.collab.dense), noise=config.hyper.noise,
                    dropout=config.hyper.dropout, input_noise=config.collab.input_noise)
    checkpoint_dir = os.path.join(model_dir(workdir, spec), "checkpoints", entry["checkpoint_key"])
    state, _ = load_selected(checkpoint_dir, mlp, {"features": np.zeros((2, len(mean)), np.float32)},
                             expect={"classes": classes})
    write_bytes(os.path.join(out, "networks", f"{COLLAB_NETWORK}.msgpack"),
                flax.serialization.to_bytes(_variables(state)))
    write_npz(os.path.join(out, STANDARDISATION_FILE), {"mean": mean, "std": std})
    meta["collaborative"] = {"spec": spec, "dense": list(config.collab.dense), "inputs": int(len(mean))}
  write_bytes(os.path.join(out, BUNDLE_FILE), json.dumps(meta, indent=1).encode())
  files = sorted(os.path.relpath(os.path.join(r, n), out) for r, _, ns in os.walk(out) for n in ns)
  manifest = {f: sha256(os.path.join(out, f)) for f in files}
  write_bytes(os.path.join(out, MANIFEST_FILE), json.dumps(manifest, indent=1).encode())
  return meta


def _trust(workdir: str, results: dict, spec: str, out: str, meta: dict) -> None:
  """Adds the model's temperature and novelty rule (score, threshold, the statistics it reads) and the digests
  of its training and validation sequences to the bundle, where the run measured them."""
  if spec in results.get("calibration", {}).get("models", {}):
    cal = results["calibration"]["models"][spec]
    meta["calibration"] = {"temperature": cal["temperature"], "fitted_on": "validation split (NLL)",
                           "val": cal["val"], "test": cal["test"]}
    nov = results["novelty"]["models"][spec]
    chosen = nov["scores"][nov["chosen"]]
    meta["novelty"] = {"score": nov["chosen"], "threshold": chosen["threshold"], "keep": results["novelty"]["keep"],
                       "chosen_by": results["novelty"]["score_rule"],
                       "validation": {s: {"auroc": v["val_mean_auroc"], "false_acceptance": v["val_mean_false_acceptance"]}
                                      for s, v in nov["scores"].items()},
                       "test": {"known_called": chosen["test_known_called"],
                                "accuracy_called": chosen["test_accuracy_called"], **chosen["test"]}}
    with open(os.path.join(model_dir(workdir, spec), novelty.FILE), "rb") as f:
      write_bytes(os.path.join(out, novelty.FILE), f.read())
  seen_path = os.path.join(workdir, seen.FILE)
  if os.path.exists(seen_path):
    with open(seen_path, "rb") as f:
      write_bytes(os.path.join(out, seen.FILE), f.read())
    meta["seen"] = {"file": seen.FILE, "what": "sha256 (first 8 bytes) of every training and validation sequence"}


def _noise_figures(results: dict, spec: str) -> dict:
  """A model's accuracy and macro-F1 under boundary noise in the run, per split and level."""
  bn = results["boundary_noise"]
  return {"kind": bn["kind"], "levels": bn["levels"], **bn["models"][spec]}


@dataclasses.dataclass
class Bundle:
  """A loaded bundle: its description and a ready state per network."""
  directory: str
  meta: dict
  states: dict[str, TrainState]
  mean: np.ndarray | None = None
  std: np.ndarray | None = None
  reference: novelty.Reference | None = None
  seen: np.ndarray | None = None  # uint64 digests of the training and validation sequences (`rcl.data.seen`)

  @property
  def temperature(self) -> float:
    """The calibration temperature fitted on validation (1.0 for a bundle without one)."""
    return self.meta.get("calibration", {}).get("temperature", 1.0)

  @property
  def novelty_rule(self) -> tuple[str, float] | None:
    """(novelty score, threshold): a record whose score exceeds the threshold is 'unclassified'; None for a
    bundle without a rule."""
    rule = self.meta.get("novelty")
    return None if rule is None else (rule["score"], rule["threshold"])

  @property
  def classes(self) -> list[str]:
    return self.meta["classes"]

  @property
  def needs_structure(self) -> bool:
    return any(n["inputs"] != "seq" for n in self.meta["networks"].values())

  def buckets(self, name: str, shapes: str = "fast") -> tuple[Sequence[int] | None, Sequence[int] | None]:
    """(padded lengths, capacities) network `name` reads batches in.

    Args:
      shapes: "fast": an RNN's (or a pooled-head CNN's) training buckets, a Flatten-head CNN's exact
        inference windows (`rcl.models.cnn.windows`); "training": the shapes training evaluated in (buckets,
        a Flatten-head CNN at full width); "padded": every network at full width.
    """
    if shapes not in SHAPES:
      raise ValueError(f"shapes={shapes!r}: choose one of {', '.join(SHAPES)}")
    net = self.meta["networks"][name]
    if shapes == "padded":
      return None, None
    if net["arch"] != "cnn" or net["buckets"]:  # a pooled CNN head reads length buckets as the RNN does
      return net["buckets"], None
    if shapes == "training":
      return None, None
    return cnn.windows(self.meta["max_len"], self.meta["hyper"]["cnn_kernel"], self.meta["hyper"]["cnn_blocks"])

  def _networks(self, split: Split, shapes: str) -> dict[str, dict[str, np.ndarray]]:
    """Every component network's predictions (`rcl.train.predict.predict`) on `split`."""
    outputs = {}
    for name, state in self.states.items():
      if name != COLLAB_NETWORK:
        lengths, capacities = self.buckets(name, shapes)
        outputs[name] = predict(state, split, self.meta["eval_batch_size"], bucket_lengths=lengths,
                                capacities=capacities)
    return outputs

  def outputs(self, split: Split, shapes: str = "fast") -> novelty.Outputs:
    """The model's uncalibrated `novelty.Outputs` (logits, energy, features) on an encoded split, its networks
    reading the given `shapes` (`buckets`)."""
    networks = self._networks(split, shapes)
    if "ensemble" in self.meta:
      return model_outputs.ensemble([networks[m] for m in self.meta["ensemble"]["members"]])
    if COLLAB_NETWORK not in self.states:
      return model_outputs.component(networks[self.meta["model"]])
    return model_outputs.collaborative(combine.predict_collaborative(
        self.meta["collaborative"]["spec"], networks, self.states[COLLAB_NETWORK], self.mean, self.std,
        self.meta["eval_batch_size"]))

  def calibrated(self, outputs: novelty.Outputs) -> tuple[np.ndarray, np.ndarray | None]:
    """(float32[n, classes] probabilities at the bundle's temperature, float32[n] novelty scores or None)."""
    probs = calibration.softmax(outputs.logits, self.temperature).astype(np.float32)
    rule = self.novelty_rule
    scores = None if rule is None else novelty.score(rule[0], outputs, self.temperature, self.reference)
    return probs, scores

  def predict(self, split: Split, shapes: str = "fast") -> np.ndarray:
    """float32[n, classes] uncalibrated probabilities (as training evaluated them) for an encoded split
    (with `sec` attached when the bundle's networks read structure), in split order.

    `shapes` (`buckets`): "fast" reads each sequence through the narrowest shape that holds it (the same
    function; float sums are ordered differently, so results agree to rounding); "training" reproduces the
    training workdir's predictions bit for bit.
    """
    batch = self.meta["eval_batch_size"]
    outputs = self._networks(split, shapes)
    if "ensemble" in self.meta:
      return np.mean([outputs[m]["probs"] for m in self.meta["ensemble"]["members"]], axis=0).astype(np.float32)
    if COLLAB_NETWORK not in self.states:
      return outputs[self.meta["model"]]["probs"]
    return combine.predict_collaborative(self.meta["collaborative"]["spec"], outputs, self.states[COLLAB_NETWORK],
                                         self.mean, self.std, batch)["probs"]


def load(directory: str) -> Bundle:
  """Loads a bundle, checking its format version and every file's sha256 against its manifest."""
  manifest_path = os.path.join(directory, MANIFEST_FILE)
  if not os.path.isfile(manifest_path):
    raise BundleError(f"{directory} is not an rcl model bundle (no {MANIFEST_FILE})")
  with open(manifest_path) as f:
    manifest = json.load(f)
  for name, digest in manifest.items():
    path = os.path.join(directory, name)
    if not os.path.isfile(path) or sha256(path) != digest:
      raise BundleError(f"{path} is missing or altered (sha256 differs from {MANIFEST_FILE}): the bundle was "
                        f"tampered with or damaged; export it again")
  if BUNDLE_FILE not in manifest:
    raise BundleError(f"{directory}: {BUNDLE_FILE} is not covered by the manifest")
  with open(os.path.join(directory, BUNDLE_FILE)) as f:
    meta = json.load(f)
  if not isinstance(meta.get("format"), int) or meta["format"] > FORMAT:
    raise BundleError(f"{directory} has bundle format {meta.get('format')}; this rcl reads formats up to {FORMAT}: "
                      f"upgrade rcl")
  hyper = monikers.Hyper(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["hyper"].items()})
  states = {}
  for name, net in meta["networks"].items():
    model = monikers.build(monikers.MONIKERS[name], len(meta["classes"]), hyper, length=meta["max_len"])
    states[name] = _restore(directory, name, model, _example(net["inputs"], meta["max_len"], net["buckets"]))
  mean = std = None
  if "collaborative" in meta:
    with np.load(os.path.join(directory, STANDARDISATION_FILE), allow_pickle=False) as f:
      mean, std = f["mean"], f["std"]
    mlp = CollabMLP(num_classes=len(meta["classes"]), dense=tuple(meta["collaborative"]["dense"]),
                    noise=hyper.noise, dropout=hyper.dropout)
    states[COLLAB_NETWORK] = _restore(directory, COLLAB_NETWORK, mlp,
                                      {"features": np.zeros((2, meta["collaborative"]["inputs"]), np.float32)})
  reference = seen_digests = None
  if os.path.exists(os.path.join(directory, novelty.FILE)):
    with np.load(os.path.join(directory, novelty.FILE), allow_pickle=False) as f:
      reference = novelty.Reference.from_arrays(f)
  if os.path.exists(os.path.join(directory, seen.FILE)):
    with np.load(os.path.join(directory, seen.FILE), allow_pickle=False) as f:
      seen_digests = f["digests"]
  return Bundle(directory, meta, states, mean, std, reference, seen_digests)


def _restore(directory: str, name: str, model, example: dict) -> TrainState:
  """A network's evaluation state with the bundle's parameters. The state is shaped abstractly
  (`jax.eval_shape`: nothing is initialised or compiled), which makes loading take ~1 s instead of ~10."""
  template = jax.eval_shape(lambda: create_state(model, example, jax.random.key(0)).for_evaluation())
  path = os.path.join(directory, "networks", f"{name}.msgpack")
  with open(path, "rb") as f:
    variables = flax.serialization.from_bytes(_variables(template), f.read())
  mismatched = [jax.tree_util.keystr(k) for k, (want, got) in jax.tree_util.tree_leaves_with_path(
      jax.tree.map(lambda a, b: (a, b), _variables(template), variables), is_leaf=lambda x: isinstance(x, tuple))
      if want.shape != np.shape(got) or want.dtype != np.asarray(got).dtype]
  if mismatched:
    raise BundleError(f"{path} does not match the network {directory}/{BUNDLE_FILE} describes "
                      f"(parameters {', '.join(mismatched[:3])} differ in shape or type)")
  variables = jax.tree.map(jnp.asarray, variables)
  return template.replace(step=jnp.zeros(template.step.shape, template.step.dtype), params=variables["params"],
                          batch_stats=variables["batch_stats"])
