"""Self-contained model bundles: a trained component or collaborative model, as exported from an experiment
workdir (`rcl.experiment.export`), loaded anywhere without it, and applied to new sequences.

A bundle directory holds bundle.json (format version, classes, max_len, every network's configuration and
buckets, the collaborative model's spec, the calibration (temperature, top-label bins) and novelty rule,
provenance),
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
from rcl.collab import combine, outputs as model_outputs
from rcl.data import batching
from rcl.data.dataset import Split
from rcl.data.encoding import encode_sequences
from rcl.data.fetch import sha256
from rcl.data.structure import attach_structures
from rcl.models import cnn, monikers
from rcl.train.predict import predict
from rcl.train.state import TrainState, create_state
from rcl.workdir import NOVELTY, SEEN

FORMAT = 4  # 2: CNNs may have a pooled head (hyper.cnn_head) and length buckets; 3: calibration, novelty, seen;
# 4: the calibration may carry top-label bins (older rcl would print tempered probabilities without them)
BUNDLE_FILE, MANIFEST_FILE, STANDARDISATION_FILE = "bundle.json", "manifest.json", "standardisation.npz"
COLLAB_NETWORK, NETWORKS = "collaborative", "networks"  # networks/<name>.msgpack; the MLP's name
SHAPES = ("fast", "training", "padded")  # the input shapes a bundle's networks may read (`Bundle.buckets`)


class BundleError(ValueError):
  """A bundle that cannot be used: missing, tampered with, or of a newer format."""


def example(kind: str, max_len: int, buckets: Sequence[int] | None) -> dict:
  """A two-sequence batch shaped like real input, to shape a network's variables."""
  enc = encode_sequences(["ACGU", "ACGU"], max_len)
  split = Split(["a", "b"], ["ACGU", "ACGU"], enc.codes, enc.lengths, np.zeros(2, np.int32))
  if kind != "seq":
    attach_structures(split, ["....", "...."], max_len)
  return next(batching.batches(split, 2, bucket_lengths=buckets))[0]


def stored_variables(state: TrainState) -> dict:
  """What a bundle stores of a network's state: its parameters and BatchNorm / running statistics."""
  return {"params": state.params, "batch_stats": state.batch_stats}


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
  def calibrator(self) -> calibration.Calibrator:
    """The calibration fitted on validation (temperature 1, no bins, for a bundle without one)."""
    return calibration.Calibrator.from_dict(self.meta.get("calibration", {}))

  @property
  def temperature(self) -> float:
    """The calibration temperature fitted on validation (1.0 for a bundle without one)."""
    return self.calibrator.temperature

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
    """(float32[n, classes] calibrated probabilities (the bundle's temperature, and top-label bins where it has
    them), float32[n] novelty scores or None)."""
    probs = self.calibrator.probabilities(outputs.logits).astype(np.float32)
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
    states[name] = _restore(directory, name, model, example(net["inputs"], meta["max_len"], net["buckets"]))
  mean = std = None
  if "collaborative" in meta:
    with np.load(os.path.join(directory, STANDARDISATION_FILE), allow_pickle=False) as f:
      mean, std = f["mean"], f["std"]
    mlp = monikers.build_collaborative(len(meta["classes"]), meta["collaborative"]["dense"], hyper)
    states[COLLAB_NETWORK] = _restore(directory, COLLAB_NETWORK, mlp,
                                      {"features": np.zeros((2, meta["collaborative"]["inputs"]), np.float32)})
  reference = seen_digests = None
  if os.path.exists(os.path.join(directory, NOVELTY)):
    with np.load(os.path.join(directory, NOVELTY), allow_pickle=False) as f:
      reference = novelty.Reference.from_arrays(f)
  if os.path.exists(os.path.join(directory, SEEN)):
    with np.load(os.path.join(directory, SEEN), allow_pickle=False) as f:
      seen_digests = f["digests"]
  return Bundle(directory, meta, states, mean, std, reference, seen_digests)


def _restore(directory: str, name: str, model, example: dict) -> TrainState:
  """A network's evaluation state with the bundle's parameters. The state is shaped abstractly
  (`jax.eval_shape`: nothing is initialised or compiled), which keeps loading a bundle cheap."""
  template = jax.eval_shape(lambda: create_state(model, example, jax.random.key(0)).for_evaluation())
  path = os.path.join(directory, NETWORKS, f"{name}.msgpack")
  with open(path, "rb") as f:
    variables = flax.serialization.from_bytes(stored_variables(template), f.read())
  mismatched = [jax.tree_util.keystr(k) for k, (want, got) in jax.tree_util.tree_leaves_with_path(
      jax.tree.map(lambda a, b: (a, b), stored_variables(template), variables), is_leaf=lambda x: isinstance(x, tuple))
      if want.shape != np.shape(got) or want.dtype != np.asarray(got).dtype]
  if mismatched:
    raise BundleError(f"{path} does not match the network {directory}/{BUNDLE_FILE} describes "
                      f"(parameters {', '.join(mismatched[:3])} differ in shape or type)")
  variables = jax.tree.map(jnp.asarray, variables)
  return template.replace(step=jnp.zeros(template.step.shape, template.step.dtype), params=variables["params"],
                          batch_stats=variables["batch_stats"])
