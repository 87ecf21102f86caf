"""Reliability: killed runs resume to the uninterrupted result, damaged checkpoints and full disks are
survived, and a diverging run stops cleanly (a whole experiment killed and rerun: tests/test_kill.py; bad
input and changed settings: tests/test_bad_input.py)."""

import errno
import json
import logging
import os
import shutil
import signal
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rcl.config import ExperimentConfig
from rcl.experiment import training
from rcl.experiment.identity import Identity
from rcl.train import checkpoint, loop, steps
from rcl.train.fit_config import FitConfig
from rcl.train.loop import fit, init_state
from tests.test_train import small_cnn, synthetic

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=REPO)


# --- killed during a checkpoint write ----------------------------------------------------------------

KILL_DURING_SAVE = """
import json, os, signal, sys
sys.path.insert(0, {repo!r})
from tests.test_train import small_cnn, synthetic
from rcl.train.fit_config import FitConfig
from rcl.train.loop import fit
if os.environ.get("KILL_AT_EPOCH"):
  dumps = json.dumps
  def killing_dumps(obj, *args, **kwargs):  # Orbax writes a checkpoint's JSON item after its arrays
    if isinstance(obj, dict) and obj.get("epoch") == int(os.environ["KILL_AT_EPOCH"]) and "history" in obj:
      os.kill(os.getpid(), signal.SIGKILL)
    return dumps(obj, *args, **kwargs)
  json.dumps = killing_dumps
result = fit(small_cnn(), synthetic(64, 5), synthetic(32, 6), FitConfig(epochs=2, batch_size=16),
             checkpoint_dir=sys.argv[1], identity={{"run": "kill"}})
print(json.dumps({{"history": {{k: v for k, v in result.history.items() if k != "seconds"}},
                  "selected": result.selected_epoch, "resumed_from": result.resumed_from}}))
"""


def test_killed_during_a_checkpoint_write_resumes_from_the_previous_one(tmp_path):
  script = tmp_path / "fit.py"
  script.write_text(KILL_DURING_SAVE.format(repo=REPO))

  def run(directory, kill_at=None):
    env = dict(ENV, KILL_AT_EPOCH=str(kill_at)) if kill_at else ENV
    return subprocess.run([sys.executable, str(script), str(directory)], env=env, capture_output=True, text=True,
                          timeout=300)
  whole = run(tmp_path / "whole")
  assert whole.returncode == 0, whole.stderr[-3000:]
  killed = run(tmp_path / "killed", kill_at=2)
  assert killed.returncode == -signal.SIGKILL
  assert checkpoint.latest_meta(str(tmp_path / "killed"))["epoch"] == 1  # the half-written 2 is not a step
  rerun = run(tmp_path / "killed")
  assert rerun.returncode == 0, rerun.stderr[-3000:]
  expected, got = json.loads(whole.stdout.splitlines()[-1]), json.loads(rerun.stdout.splitlines()[-1])
  assert got.pop("resumed_from") == 1 and expected.pop("resumed_from") == 0
  assert got == expected


# --- damaged checkpoints, divergence, full disks --------------------------------------------------------

@pytest.fixture(scope="module")
def three_epochs(tmp_path_factory):
  """A finished 3-epoch run's checkpoint directory and its result."""
  directory = tmp_path_factory.mktemp("three") / "ckpt"
  result = fit(small_cnn(), synthetic(64, 5), synthetic(32, 6), FitConfig(epochs=3, batch_size=32),
               checkpoint_dir=str(directory), identity={"run": 3})
  return directory, result


def _truncate(path, size=None):
  """Cuts a file to `size` bytes (default: half)."""
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2 if size is None else size)


def _largest_array_file(step):
  files = [os.path.join(r, n) for r, _, names in os.walk(step / "state" / "ocdbt.process_0") for n in names]
  return max(files, key=os.path.getsize)


DAMAGE = {
    "truncated array file": lambda step: _truncate(_largest_array_file(step)),
    "missing state metadata entry": lambda step: os.remove(step / "state" / "_METADATA"),
    "truncated metadata JSON": lambda step: _truncate(step / "meta" / "metadata", 10),
    "empty step directory": lambda step: [shutil.rmtree(step), os.makedirs(step)],
}


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # Orbax drops a failed read's coroutine
def test_damaged_latest_checkpoint_falls_back_to_the_previous_one(three_epochs, tmp_path, caplog, damage):
  original, whole = three_epochs
  directory = tmp_path / "ckpt"
  shutil.copytree(original, directory)
  DAMAGE[damage](directory / "latest" / "3")
  with caplog.at_level(logging.WARNING, logger="rcl"):
    result = fit(small_cnn(), synthetic(64, 5), synthetic(32, 6), FitConfig(epochs=3, batch_size=32),
                 checkpoint_dir=str(directory), identity={"run": 3})
  assert f"{directory / 'latest' / '3'} is unreadable" in caplog.text
  assert result.resumed_from == 2 and result.epochs_trained_now == 1
  assert {k: v for k, v in result.history.items() if k != "seconds"} == \
      {k: v for k, v in whole.history.items() if k != "seconds"}


def test_nonfinite_loss_stops_naming_model_epoch_and_step_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
  train, val = synthetic(64, 5), synthetic(32, 6)
  config = ExperimentConfig(workdir=str(tmp_path))
  fit_config = FitConfig(epochs=2, batch_size=16)
  ckpt = str(tmp_path / "ckpt")
  ident = Identity({"run": 1})
  training.train(config, "A", small_cnn(), train, val, fit_config, ident, checkpoint_dir=ckpt, on_epoch=None)
  good = checkpoint.latest_meta(ckpt)
  real_step = steps.train_step

  def diverging_step(state, batch, key):  # the 2nd step of epoch 3 (0-based step 9) overflows
    new, sums = real_step(state, batch, key)
    return new, dict(sums, loss=sums["loss"] * jnp.where(state.step == 9, jnp.inf, 1.0))
  monkeypatch.setattr(loop.steps, "train_step", diverging_step)
  with pytest.raises(ValueError, match=r"^\[A\] non-finite training loss at epoch 3, step 10 \(batch 2 of 4\); "
                                       r"training stopped and the last good checkpoint \(epoch 2\) is kept"):
    training.train(config, "A", small_cnn(), train, val, FitConfig(epochs=4, batch_size=16), ident,
                   checkpoint_dir=ckpt, on_epoch=None)
  assert checkpoint.latest_meta(ckpt) == good  # nothing of the failed epoch was saved
  like = init_state(small_cnn(), train, fit_config, jax.random.key(0))
  ckpts = checkpoint.RunCheckpoints(ckpt)
  try:
    state, meta = ckpts.restore_latest(like)
    assert meta["epoch"] == 2 and int(state.step) == 8
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(state.params))
  finally:
    ckpts.close()


def _mount_tmpfs(path, size: str) -> bool:
  os.makedirs(path, exist_ok=True)
  return shutil.which("mount") is not None and subprocess.run(
      ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True).returncode == 0


@pytest.mark.parametrize("how", ["tmpfs", "injected"])
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # Orbax drops a failed write's coroutine
def test_full_disk_during_a_checkpoint_keeps_the_previous_one(three_epochs, tmp_path, monkeypatch, how):
  """A disk that fills up while a checkpoint is written: a small tmpfs where the machine allows mounting
  one (as root), else an injected ENOSPC in Orbax's write of the checkpoint's JSON item."""
  _, whole = three_epochs
  disk = tmp_path / "disk"
  if how == "tmpfs":
    if not _mount_tmpfs(disk, "400k"):
      pytest.skip("cannot mount a tmpfs here")
  else:
    dumps = json.dumps

    def full_disk(obj, *args, **kwargs):
      if isinstance(obj, dict) and obj.get("epoch") == 2 and "history" in obj:
        raise OSError(errno.ENOSPC, "No space left on device")
      return dumps(obj, *args, **kwargs)
    monkeypatch.setattr(json, "dumps", full_disk)
  try:
    with pytest.raises(checkpoint.CheckpointWriteError, match=r"could not write the epoch (\d+) checkpoint .*"
                       r"No space left on device.*; the epoch \d+ checkpoint is kept") as failure:
      fit(small_cnn(), synthetic(64, 5), synthetic(32, 6), FitConfig(epochs=3, batch_size=32),
          checkpoint_dir=str(disk / "ckpt"), identity={"run": 3})
    monkeypatch.undo()
    failed = int(failure.value.args[0].split("the epoch ")[1].split()[0])
    assert checkpoint.latest_meta(str(disk / "ckpt"))["epoch"] == failed - 1
    assert not [os.path.join(r, n) for r, dirs, _ in os.walk(disk) for n in dirs if "tmp" in n]  # partial write gone
    shutil.copytree(disk / "ckpt", tmp_path / "freed")  # as if space was freed
  finally:
    if how == "tmpfs":
      subprocess.run(["umount", str(disk)], check=True)
  result = fit(small_cnn(), synthetic(64, 5), synthetic(32, 6), FitConfig(epochs=3, batch_size=32),
               checkpoint_dir=str(tmp_path / "freed"), identity={"run": 3})
  assert result.resumed_from == failed - 1
  assert result.history["val_loss"] == whole.history["val_loss"]


def test_a_best_checkpoint_newer_than_latest_is_dropped_on_resume(tmp_path):
  """With checkpoint_every=2 a kill after epoch 4's 'best' but before its 'latest' leaves 'best' ahead of
  'latest' (epoch 2); the rerun drops it, and its selection and history equal an uninterrupted run's."""
  config = FitConfig(epochs=4, batch_size=32, checkpoint_every=2, selection="last")
  train, val = synthetic(64, 5), synthetic(32, 6)
  whole = fit(small_cnn(), train, val, config, checkpoint_dir=str(tmp_path / "whole"), identity={"run": 4})
  killed = tmp_path / "killed"
  shutil.copytree(tmp_path / "whole", killed)
  shutil.rmtree(killed / "latest" / "4")
  assert sorted(os.listdir(killed / "best")) == ["4"]
  best_after = {}
  result = fit(small_cnn(), train, val, config, checkpoint_dir=str(killed), identity={"run": 4},
               on_epoch=lambda epoch, *_: best_after.setdefault(epoch, sorted(os.listdir(killed / "best"))))
  assert result.resumed_from == 2 and best_after[3] == ["3"]  # the stale epoch-4 'best' was gone
  assert result.selected_epoch == whole.selected_epoch == 4
  assert result.history["val_loss"] == whole.history["val_loss"]
  for a, b in zip(jax.tree.leaves(result.state.params), jax.tree.leaves(whole.state.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
