"""The sweep summary (Fig. 3-4) and the feature study (Fig. 5) produce their figures and numbers."""

import json
import os

import numpy as np

from rcl.analysis import joint
from rcl.data.dataset import DataSet
from rcl.experiment import feature_study, sweep
from rcl.models.monikers import MONIKERS, Hyper
from rcl.train.fit_config import FitConfig
from tests.test_train import synthetic


def test_plateau_and_fig3_levels():
  assert joint.plateau_level([0, 0.5, 1.0, 1.5], [0.1, 0.5, 0.8, 0.805]) == 1.0
  assert joint.plateau_level([0, 0.5, 1.0], [0.1, None, 0.2]) == 1.0
  assert sweep.pick_fig3_levels([0.0, 0.6, 1.2, 1.8]) == [0.0, 1.2, 1.8]


def test_run_sweep_writes_figures(tmp_path):
  data = DataSet({"train": synthetic(64, 1, 32), "val": synthetic(32, 2, 32), "test": synthetic(32, 3, 32)},
                 ["a", "c", "g"], {})
  hyper = Hyper(cnn_filters=4, cnn_blocks=2, cnn_dense=(8, 6))
  out = sweep.run_sweep(data, MONIKERS["B"], hyper, [0.0, 1.0, 1.8], FitConfig(epochs=4, batch_size=32),
                        str(tmp_path), burn_in=0)
  assert os.path.getsize(tmp_path / "fig3.png") > 1000 and os.path.getsize(tmp_path / "fig4.png") > 1000
  assert [r["level"] for r in out["rows"]] == [0.0, 1.0, 1.8] and len(out["rows"][0]["history"]["val_accuracy"]) == 4
  assert out["peak_val_accuracy"] == max(r["best_val_accuracy"] for r in out["rows"])
  json.dumps(out)  # JSON-able for results.json


def test_sweep_trains_the_rnn_population_too(tmp_path):
  data = DataSet({"train": synthetic(64, 1, 32), "val": synthetic(32, 2, 32), "test": synthetic(32, 3, 32)},
                 ["a", "c", "g"], {})
  hyper = Hyper(rnn_hidden=4, rnn_attention=4, rnn_dense=(8, 8, 4))
  config = FitConfig(epochs=3, batch_size=32, bucket_lengths=(16, 32))
  out = sweep.run_sweep(data, MONIKERS["E"], hyper, [0.0, 1.0], config, str(tmp_path), burn_in=0)
  first, second = (r["history"] for r in out["rows"])
  assert len(first["train_loss"]) == 3 and first["train_loss"] != second["train_loss"]  # members differ by level
  assert all(np.isfinite(r["best_val_accuracy"]) for r in out["rows"])


def test_feature_study_on_planted_correlation(tmp_path):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(400, 8))
  y = 0.6 * x + 0.8 * rng.normal(size=(400, 8))
  out = feature_study.run(x, y, ("A", "E"), trials=50, n_rhos=11, seed=0, outdir=str(tmp_path))
  assert os.path.getsize(tmp_path / "fig5.png") > 1000
  assert abs(out["representative_rho"] - 0.6) < 0.05  # the calibration recovers the planted rho
  assert out["average_cca"] > out["representative_rho"]  # estimation noise inflates the raw CCA
  maps = out["paper_095_maps_to"]
  assert maps["average"] > maps["largest"]  # the largest correlation is the more inflated statistic
  assert out["paper_reproduced_by"] == min(maps, key=lambda k: abs(maps[k] - 0.85))
  json.dumps(out)
