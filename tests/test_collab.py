"""Collaborative learning: feature specs, standardised combination, extraction checks, multi-seed summary."""

import os

import numpy as np
import pytest

from rcl.analysis.stability import aggregate
from rcl.collab import combine, features
from rcl.data.dataset import DataSet
from rcl.models.cnn import CNN
from rcl.train.loop import FitConfig, fit
from tests.test_train import synthetic


def test_parse_specs():
  assert combine.parse("LD(A)+LD(E)+O(A)") == [("LD", "A"), ("LD", "E"), ("O", "A")]
  assert combine.components(["O(A)+O(B)+O(D)", "LD(A)+LD(E)"]) == ["A", "B", "D", "E"]
  for bad in ("LD(A)+", "XX(A)", "LD(Z)", "LD(A)+LD(A)", "LD(A),LD(E)"):
    with pytest.raises(ValueError):
      combine.parse(bad)


def test_combine_concatenates_in_order_and_standardises_on_train():
  rng = np.random.default_rng(0)
  feats = {m: {s: {"LD": rng.normal(3, 2, (n, 4)).astype(np.float32), "O": rng.random((n, 3)).astype(np.float32)}
               for s, n in (("train", 50), ("val", 10), ("test", 10))} for m in ("A", "E")}
  feats["A"]["train"]["LD"][:, 0] = 0.0  # a dead unit
  labels = {s: np.zeros(n, np.int32) for s, n in (("train", 50), ("val", 10), ("test", 10))}
  tables = combine.combine("LD(A)+O(E)", feats, labels)
  x = tables["train"].features
  assert x.shape == (50, 7) and np.isfinite(x).all()
  np.testing.assert_allclose(x[:, 1:].mean(0), 0, atol=1e-5)
  np.testing.assert_allclose(x[:, 1:].std(0), 1, atol=1e-4)
  raw_val = np.concatenate([feats["A"]["val"]["LD"], feats["E"]["val"]["O"]], 1)
  train_raw = np.concatenate([feats["A"]["train"]["LD"], feats["E"]["train"]["O"]], 1)
  expect = (raw_val[:, 1:] - train_raw[:, 1:].mean(0)) / train_raw[:, 1:].std(0)
  np.testing.assert_allclose(tables["val"].features[:, 1:], expect, rtol=1e-4, atol=1e-5)
  with pytest.raises(ValueError, match="not trained"):
    combine.combine("LD(A)+LD(B)", feats, labels)


def _data():
  splits = {"train": synthetic(96, 1), "val": synthetic(32, 2), "test": synthetic(32, 3)}
  return DataSet(splits, ["a", "c", "g"], {})


def test_extraction_from_checkpoint_and_its_checks(tmp_path):
  data = _data()
  model = CNN(num_classes=3, filters=4, blocks=2, dense=(8, 6))
  identity = {"moniker": "A", "model": repr(model), "classes": data.classes, "split": "s1"}
  with pytest.raises(FileNotFoundError, match="no trained checkpoint.*A"):
    features.extract(model, str(tmp_path / "none"), identity, data)
  result = fit(model, data.splits["train"], data.splits["val"], FitConfig(epochs=2, batch_size=32),
               checkpoint_dir=str(tmp_path / "ck"), identity=identity)
  feats = features.extract(model, str(tmp_path / "ck"), identity, data)
  again = features.extract(model, str(tmp_path / "ck"), identity, data)
  assert feats["train"]["LD"].shape == (96, 6) and feats["test"]["O"].shape == (32, 3)
  np.testing.assert_allclose(feats["val"]["O"].sum(1), 1.0, rtol=1e-5)
  np.testing.assert_array_equal(feats["val"]["LD"], again["val"]["LD"])  # deterministic: no noise
  from rcl.train.predict import predict  # noqa: PLC0415
  np.testing.assert_allclose(feats["val"]["O"], predict(result.state, data.splits["val"])["probs"], rtol=1e-6)
  features.save(str(tmp_path / "f.npz"), feats)
  loaded = features.load(str(tmp_path / "f.npz"))
  np.testing.assert_array_equal(loaded["test"]["LD"], feats["test"]["LD"])
  with pytest.raises(ValueError, match="class vocabulary"):
    features.extract(model, str(tmp_path / "ck"), dict(identity, classes=["a", "b", "c"]), data)
  with pytest.raises(ValueError, match="data split"):
    features.extract(model, str(tmp_path / "ck"), dict(identity, split="other"), data)


def test_aggregate_mean_and_sd():
  def run(acc):
    m = {k: acc for k in ("accuracy", "precision", "recall", "f1", "specificity")}
    return {"models": {"A": {"val": m, "test": m}}, "collaborative": {}}
  out = aggregate([run(0.9), run(0.8), run(0.7)])
  cell = out["models"]["A"]["test"]["accuracy"]
  assert np.isclose(cell["mean"], 0.8) and np.isclose(cell["sd"], np.std([0.9, 0.8, 0.7], ddof=1))
  assert cell["values"] == [0.9, 0.8, 0.7]


def test_collaborative_model_is_retrained_when_its_input_features_change(tmp_path):
  from rcl.experiment import ExperimentConfig, train_collaborative  # noqa: PLC0415
  data = _data()
  rng = np.random.default_rng(0)
  feats = {"A": {s: {"LD": rng.normal(size=(len(data.splits[s]), 6)).astype(np.float32),
                     "O": rng.random((len(data.splits[s]), 3)).astype(np.float32)} for s in ("train", "val", "test")}}
  config = ExperimentConfig(workdir=str(tmp_path), collab_epochs=2, batch_size=32)
  first = train_collaborative(config, data, "LD(A)", feats, log=lambda s: None)
  again = train_collaborative(config, data, "LD(A)", feats, log=lambda s: None)
  assert first["resumed_from_epoch"] == 0 and again["resumed_from_epoch"] == 2  # same inputs: nothing retrained
  assert again["inputs_fingerprint"] == first["inputs_fingerprint"]
  assert again["test"]["accuracy"] == first["test"]["accuracy"]
  # The component was extended and selected another epoch: its features changed, so must the MLP.
  feats["A"]["val"]["LD"] = feats["A"]["val"]["LD"] + 1e-3
  changed = train_collaborative(config, data, "LD(A)", feats, log=lambda s: None)
  assert changed["resumed_from_epoch"] == 0 and changed["inputs_fingerprint"] != first["inputs_fingerprint"]
  kept = sorted(os.listdir(tmp_path / "models" / "collab_LD_A" / "checkpoints"))
  assert kept == sorted([first["inputs_fingerprint"], changed["inputs_fingerprint"]])  # the old MLP is kept
