"""Collaborative learning: feature specs, standardised combination, extraction checks, multi-seed summary."""

import dataclasses
import os

import numpy as np
import pytest

from rcl.analysis.metrics import METRIC_KEYS
from rcl.analysis.stability import aggregate
from rcl.collab import combine, features
from rcl.data.batching import batches
from rcl.data.dataset import DataSet
from rcl.models.cnn import CNN
from rcl.results import ModelResult, RunResults, Scores
from rcl.train.checkpoint import load_selected
from rcl.train.fit_config import FitConfig
from rcl.train.loop import fit
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


def test_extraction_of_the_selected_model_and_its_loading_checks(tmp_path):
  data = _data()
  model = CNN(num_classes=3, filters=4, blocks=2, dense=(8, 6))
  identity = {"moniker": "A", "model": repr(model), "classes": data.classes, "split": "s1"}
  example = next(batches(data.splits["train"], 2))[0]
  with pytest.raises(FileNotFoundError, match="no trained checkpoint"):
    load_selected(str(tmp_path / "none"), model, example)
  result = fit(model, data.splits["train"], data.splits["val"], FitConfig(epochs=2, batch_size=32),
               checkpoint_dir=str(tmp_path / "ck"), identity=identity)
  feats = features.extract(result.state, data)
  loaded, meta = load_selected(str(tmp_path / "ck"), model, example, expect={"classes": data.classes})
  again = features.extract(loaded, data)  # a reader outside training gets the same features
  assert meta["identity"] == identity
  assert feats["train"]["LD"].shape == (96, 6) and feats["test"]["O"].shape == (32, 3)
  np.testing.assert_allclose(feats["val"]["O"].sum(1), 1.0, rtol=1e-5)
  np.testing.assert_array_equal(feats["val"]["LD"], again["val"]["LD"])
  features.save(str(tmp_path / "f.npz"), feats)
  loaded_feats = features.load(str(tmp_path / "f.npz"))
  np.testing.assert_array_equal(loaded_feats["test"]["LD"], feats["test"]["LD"])
  sampled = features.extract(result.state, data, draws=3, train_batch_size=32, seed=1)
  draws = sampled[features.SAMPLED]
  assert draws["LD"].shape == (3, 96, 6) and draws["O"].shape == (3, 96, 3)
  np.testing.assert_array_equal(sampled["train"]["LD"], feats["train"]["LD"])  # deterministic splits unchanged
  assert not np.allclose(draws["LD"][0], draws["LD"][1])  # every pass draws its own noise and dropout
  assert not np.allclose(draws["LD"][0], feats["train"]["LD"])
  again = features.extract(result.state, data, draws=3, train_batch_size=32, seed=1)
  np.testing.assert_array_equal(again[features.SAMPLED]["O"], draws["O"])  # seeded: reproducible
  labels = {s: data.splits[s].labels for s in ("train", "val", "test")}
  tables = combine.combine("LD(A)+O(A)", {"A": sampled}, labels, train_from=features.SAMPLED)
  assert tables["train"].features.shape == (3, 96, 9) and tables["val"].features.shape == (32, 9)
  raw = np.concatenate([draws["LD"], draws["O"]], -1).reshape(288, 9)  # standardised over every draw
  std = np.where(raw.std(0) > 1e-6, raw.std(0), 1.0)
  expect = ((raw - raw.mean(0)) / std).reshape(3, 96, 9)
  for epoch in range(5):  # epoch e trains on draw e % 3
    np.testing.assert_allclose(tables["train"].columns(epoch)["features"], expect[epoch % 3], rtol=1e-4, atol=1e-4)
  np.testing.assert_array_equal(tables["train"].columns(4)["label"], labels["train"])
  with pytest.raises(ValueError, match="different classes"):
    load_selected(str(tmp_path / "ck"), model, example, expect={"classes": ["a", "b", "c"]})


def test_aggregate_mean_and_sd():
  def run(acc):
    m = {k: acc for k in METRIC_KEYS}
    return RunResults("Test13", 0, {}, {}, models={"A": ModelResult("CNN", Scores(m, m, {}, {}, {}))})
  out = aggregate([run(0.9), run(0.8), run(0.7)])
  cell = out["models"]["A"]["test"]["accuracy"]
  assert np.isclose(cell["mean"], 0.8) and np.isclose(cell["sd"], np.std([0.9, 0.8, 0.7], ddof=1))
  assert cell["values"] == [0.9, 0.8, 0.7]


def test_collaborative_model_is_retrained_when_its_input_features_change(tmp_path):
  from rcl.config import CollabConfig, ExperimentConfig  # noqa: PLC0415
  from rcl.experiment.collaborative import train_collaborative  # noqa: PLC0415
  data = _data()
  rng = np.random.default_rng(0)
  feats = {"A": {s: {"LD": rng.normal(size=(len(data.splits[s]), 6)).astype(np.float32),
                     "O": rng.random((len(data.splits[s]), 3)).astype(np.float32)} for s in ("train", "val", "test")}}
  config = ExperimentConfig(workdir=str(tmp_path),
                            collab=CollabConfig(fit=FitConfig(epochs=2, batch_size=32), train_features="in_sample"))
  first, _, _ = train_collaborative(config, data, "LD(A)", feats, log=lambda s: None)
  again, _, _ = train_collaborative(config, data, "LD(A)", feats, log=lambda s: None)
  assert first.training.resumed_from_epoch == 0 and again.training.resumed_from_epoch == 2  # same inputs: nothing retrained
  assert again.about["inputs_fingerprint"] == first.about["inputs_fingerprint"]
  assert again.accuracy() == first.accuracy()
  # The component was extended and selected another epoch: its features changed, so must the MLP.
  feats["A"]["val"]["LD"] = feats["A"]["val"]["LD"] + 1e-3
  changed, _, _ = train_collaborative(config, data, "LD(A)", feats, log=lambda s: None)
  assert changed.training.resumed_from_epoch == 0 and changed.about["inputs_fingerprint"] != first.about["inputs_fingerprint"]
  kept = sorted(os.listdir(tmp_path / "models" / "collab_LD_A" / "checkpoints"))
  assert kept == sorted([first.about["checkpoint_key"], changed.about["checkpoint_key"]])  # the old MLP is kept
  # Other MLP settings on the same features: a fresh MLP as well, not a refusal to resume.
  other = dataclasses.replace(config, collab=dataclasses.replace(config.collab, input_noise=0.5))
  noisy, _, _ = train_collaborative(other, data, "LD(A)", feats, log=lambda s: None)
  assert noisy.training.resumed_from_epoch == 0 and noisy.about["inputs_fingerprint"] == changed.about["inputs_fingerprint"]
  assert noisy.about["checkpoint_key"] not in kept
