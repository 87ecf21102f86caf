"""Every shipped flagfile parses with the entry point's flags and says what its comments promise."""

import glob
import os

import pytest
from absl import flags

from experiments import run  # noqa: F401  (defines the flags)
from rcl.collab import combine
from rcl.models import monikers
from rcl.report import paper

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGFILES = sorted(glob.glob(os.path.join(REPO, "experiments", "*.flags")))


def _parse(name, monkeypatch):
  monkeypatch.chdir(REPO)  # nested --flagfile paths are relative to the repository root
  values = flags.FLAGS
  values.unparse_flags()
  values(["run", f"--flagfile=experiments/{name}"])
  return values


def test_flagfiles_exist():
  names = {os.path.basename(p) for p in FLAGFILES}
  assert {"test13.flags", "test13_small.flags", "test88.flags", "test88_small.flags"} <= names


@pytest.mark.parametrize("path", FLAGFILES, ids=os.path.basename)
def test_flagfile_parses_to_known_models(path, monkeypatch):
  values = _parse(os.path.basename(path), monkeypatch)
  assert set(values.models) <= set(monikers.MONIKERS)
  for spec in values.collab:
    assert {m for _, m in combine.parse(spec)} <= set(values.models), spec
  assert values.rnn_hidden == 128  # the width every profile trains (BUILD.md, "RNN width")


def test_paper_scale_test13(monkeypatch):
  values = _parse("test13.flags", monkeypatch)
  assert sorted(values.models) == list("ABCDEFG")
  assert sorted(values.collab) == sorted(paper.TABLE2)
  assert (values.cnn_epochs, values.rnn_epochs, values.reg_level, values.max_len) == (500, 220, 1.0, 1000)
  assert values.batch_size == 32  # Keras' default
  assert values.cca_trials == 1000 and values.sweep_model == "A"
  assert values.cnn_ema_decay == values.rnn_ema_decay == 0.0  # the paper's raw parameters


def test_small_profile_trains_raw_parameters(monkeypatch):
  values = _parse("test13_small.flags", monkeypatch)
  assert values.cnn_ema_decay == values.rnn_ema_decay == 0.0  # averaging lags the running statistics


def test_seeds_profile_inherits_small_profile(monkeypatch):
  small = _parse("test13_small.flags", monkeypatch)
  small = (list(small.files), small.cnn_filters, small.rnn_hidden, small.workdir)
  seeds = _parse("test13_seeds_small.flags", monkeypatch)
  assert list(seeds.seeds) == ["0", "1", "2"]
  assert (list(seeds.files), seeds.cnn_filters, seeds.rnn_hidden) == small[:3]
  assert seeds.workdir != small[3]


def test_variance_profile_varies_every_source(monkeypatch):
  from rcl.config.seeds import SOURCES  # noqa: PLC0415
  values = _parse("test13_variance_small.flags", monkeypatch)
  assert list(values.vary) == list(SOURCES) and values.trials == 4 and values.seed == 0
  assert values.cca_trials == 0 and list(values.boundary_noise) == []  # the study measures training only


def test_one_family_overrides_a_shared_flag(monkeypatch):
  from experiments import config_flags  # noqa: PLC0415
  from rcl.config import ExperimentConfig  # noqa: PLC0415
  values = _parse("test13_robust_small.flags", monkeypatch)
  config = config_flags.build(ExperimentConfig(), values)
  assert config.cnn.augment_flanks == config.rnn.augment_flanks == 0.75  # the shared flag sets both
  values(["run", "--rnn_augment_flanks=0.25"])
  config = config_flags.build(ExperimentConfig(), values)
  assert (config.cnn.augment_flanks, config.rnn.augment_flanks, config.collab.fit.augment_flanks) == (0.75, 0.25, 0.0)
  values(["run", "--cnn_augment_flanks=0", "--augment_flanks=0.5"])
  config = config_flags.build(ExperimentConfig(), values)
  assert (config.cnn.augment_flanks, config.rnn.augment_flanks) == (0.0, 0.25)
