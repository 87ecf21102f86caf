"""Reliability: killed runs resume to the uninterrupted result, damaged checkpoints and full disks are
survived, and a diverging run stops cleanly (bad input and changed settings: tests/test_bad_input.py)."""

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
from rcl.train import checkpoint, loop, steps
from rcl.train.loop import FitConfig, fit, init_state
from tests.test_end_to_end import _subset
from tests.test_train import small_cnn, synthetic

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=REPO)


def _metrics(results: dict) -> dict:
  return {(section, name): (entry["val"], entry["test"], entry.get("selected_epoch"))
          for section in ("models", "ensembles", "collaborative") for name, entry in results[section].items()}


# --- killed at any moment -------------------------------------------------------------------------------

KILL_POINTS = [("[A] epoch 1/2", "during A's training"),
               ("[E] epoch 2/2", "during E's selection and feature extraction"),
               ("collaborative MLP on", "during the collaborative MLP and the report")]


def _run_until(args, marker):
  """Runs experiments.run and SIGKILLs it as soon as `marker` appears in its output; returns the exit code
  (-9 when killed) and the output."""
  lines = []
  with subprocess.Popen([sys.executable, "-m", "experiments.run", *args], cwd=REPO, env=ENV, text=True,
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
    for line in proc.stdout:
      lines.append(line)
      if marker and marker in line:
        proc.send_signal(signal.SIGKILL)
        break
    lines.append(proc.stdout.read())
    proc.wait(timeout=600)
  return proc.returncode, "".join(lines)


def test_killed_runs_rerun_to_the_uninterrupted_result(real_data, tmp_path):
  """A, E and LD(A)+LD(E) on real nRC records, SIGKILLed at three points in a row (each rerun is killed at
  the next point), then rerun to the end: every metric equals an uninterrupted run's."""
  fasta, _ = _subset(real_data, tmp_path, per_class=6)
  common = [f"--data_dir={tmp_path}", f"--files={fasta.name}", "--models=A,E", "--cnn_filters=4", "--cnn_dense=8,8",
            "--rnn_hidden=4", "--rnn_attention=8", "--rnn_dense=8,8,8", "--max_len=300", "--rnn_buckets=300",
            "--cnn_epochs=2", "--rnn_epochs=2", "--batch_size=16", "--collab=LD(A)+LD(E)", "--collab_epochs=2"]
  rc, out = _run_until(common + [f"--workdir={tmp_path / 'whole'}"], None)
  assert rc == 0, out[-3000:]
  killed_args = common + [f"--workdir={tmp_path / 'killed'}"]
  killed = []
  for marker, when in KILL_POINTS:
    rc, out = _run_until(killed_args, marker)
    assert rc in (0, -signal.SIGKILL), out[-3000:]
    if rc == -signal.SIGKILL:
      killed.append(when)
  assert len(killed) >= 2, killed  # the last point may be passed before the kill lands
  rc, out = _run_until(killed_args, None)
  assert rc == 0, out[-3000:]
  assert "[A] epoch" not in out and "[E] epoch" not in out  # the components resumed to their last epoch
  whole = json.loads((tmp_path / "whole" / "results.json").read_text())
  again = json.loads((tmp_path / "killed" / "results.json").read_text())
  assert _metrics(again) == _metrics(whole)
  assert (tmp_path / "killed" / "report.md").read_text().count("|") > 20
  for name in ("A", "E"):
    a, b = (np.load(tmp_path / w / "models" / name / "features.npz") for w in ("whole", "killed"))
    assert np.array_equal(a["test/LD"], b["test/LD"])


KILL_DURING_SAVE = """
import json, os, signal, sys
sys.path.insert(0, {repo!r})
from tests.test_train import small_cnn, synthetic
from rcl.train.loop import FitConfig, fit
if os.environ.get("KILL_AT_EPOCH"):
  dumps = json.dumps
  def killing_dumps(obj, *args, **kwargs):  # Orbax writes a checkpoint's JSON item after its arrays
    if isinstance(obj, dict) and obj.get("epoch") == int(os.environ["KILL_AT_EPOCH"]) and "history" in obj:
      os.kill(os.getpid(), signal.SIGKILL)
    return dumps(obj, *args, **kwargs)
  json.dumps = killing_dumps
result = fit(small_cnn(), synthetic(64, 5), synthetic(32, 6), FitConfig(epochs=3, batch_size=16),
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
  training.train(config, "A", small_cnn(), train, val, fit_config, {"run": 1}, checkpoint_dir=ckpt, on_epoch=None)
  good = checkpoint.latest_meta(ckpt)
  real_step = steps.train_step

  def diverging_step(state, batch, key):  # the 2nd step of epoch 3 (0-based step 9) overflows
    new, sums = real_step(state, batch, key)
    return new, dict(sums, loss=sums["loss"] * jnp.where(state.step == 9, jnp.inf, 1.0))
  monkeypatch.setattr(loop.steps, "train_step", diverging_step)
  with pytest.raises(ValueError, match=r"^\[A\] non-finite training loss at epoch 3, step 10 \(batch 2 of 4\); "
                                       r"training stopped and the last good checkpoint \(epoch 2\) is kept"):
    training.train(config, "A", small_cnn(), train, val, FitConfig(epochs=4, batch_size=16), {"run": 1},
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
