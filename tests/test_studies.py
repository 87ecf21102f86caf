"""The sweep summary (Fig. 3-4) and the feature study (Fig. 5) produce their figures and numbers."""

import json
import os

import numpy as np

from rcl import feature_study, sweep
from rcl.data.dataset import DataSet
from rcl.models.monikers import MONIKERS, Hyper
from rcl.train.loop import FitConfig
from tests.test_train import synthetic


def test_plateau_and_fig3_levels():
  assert sweep.plateau_level([0, 0.5, 1.0, 1.5], [0.1, 0.5, 0.8, 0.805]) == 1.0
  assert sweep.plateau_level([0, 0.5, 1.0], [0.1, None, 0.2]) == 1.0
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


def test_feature_study_on_planted_correlation(tmp_path):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(400, 8))
  y = 0.6 * x + 0.8 * rng.normal(size=(400, 8))
  out = feature_study.run(x, y, ("A", "E"), trials=50, n_rhos=11, seed=0, outdir=str(tmp_path))
  assert os.path.getsize(tmp_path / "fig5.png") > 1000
  assert abs(out["representative_rho"] - 0.6) < 0.05  # the calibration recovers the planted rho
  assert out["average_cca"] > out["representative_rho"]  # estimation noise inflates the raw CCA
  json.dumps(out)
