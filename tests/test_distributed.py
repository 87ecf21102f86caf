"""Two processes with JAX's distributed runtime on this machine (one host device each, coordinator on
127.0.0.1) against one process with two host devices; and a killed process."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.test_end_to_end import _subset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--models=A,E", "--cnn_filters=4", "--cnn_dense=8,8", "--rnn_hidden=4", "--rnn_attention=8",
        "--rnn_dense=8,8,8", "--max_len=160", "--rnn_buckets=80,160", "--batch_size=16", "--data_parallel"]


def _port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _launch(args, process_id, port, heartbeat=10):
  return subprocess.Popen(
      [sys.executable, "-m", "experiments.run", *args, "--cpu_devices=1", "--distributed",
       f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2", f"--process_id={process_id}",
       f"--heartbeat_timeout={heartbeat}", "--join_timeout=60"],
      cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _metrics(workdir):
  results = json.loads((workdir / "results.json").read_text())
  return {name: {split: entry[split] for split in ("val", "test")} for name, entry in results["models"].items()}


def _probs(workdir, name):
  with np.load(workdir / "models" / name / "predictions.npz") as z:
    return z["val"], z["test"]


@pytest.mark.slow
def test_one_device_two_devices_and_two_processes_train_the_same_models(real_data, tmp_path):
  """Noise and dropout on (the profile's lambda 1): noise and dropout are drawn by row of the whole batch, so
  two processes equal one process with two devices exactly (same reductions), and one device equals both
  up to the order of its sums."""
  fasta, _ = _subset(real_data, tmp_path, per_class=6)
  common = [f"--data_dir={tmp_path}", f"--files={fasta.name}", *TINY, "--cnn_epochs=2", "--rnn_epochs=1"]
  for name, devices in (("one", ["--cpu_devices=1", "--nodata_parallel"]), ("devices", ["--cpu_devices=2"])):
    run = subprocess.run([sys.executable, "-m", "experiments.run", *common, f"--workdir={tmp_path / name}",
                          *devices], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
  port = _port()
  procs = [_launch(common + [f"--workdir={tmp_path / 'two'}"], i, port) for i in range(2)]
  outs = [p.communicate(timeout=300)[0] for p in procs]
  assert [p.returncode for p in procs] == [0, 0], outs[0][-3000:] + outs[1][-3000:]
  assert "[A] epoch 2/2" in outs[0] and "[A] epoch" not in outs[1]  # process 0 alone reports
  assert _metrics(tmp_path / "two") == _metrics(tmp_path / "devices")
  for name in ("A", "E"):
    one, devices, two = (_probs(tmp_path / w, name) for w in ("one", "devices", "two"))
    for a, b, c in zip(one, devices, two):
      np.testing.assert_array_equal(b, c)
      np.testing.assert_allclose(a, b, atol=2e-4)


def _kill_process_1_in_training(args):
  """Launches two processes, SIGKILLs process 1 once process 0 reports A's second epoch; returns the
  processes and what process 0 printed afterwards (a hang, or an orphan holding its pipe, fails here)."""
  port = _port()
  procs = [_launch(args, i, port, heartbeat=5) for i in range(2)]
  try:
    seen = ""
    deadline = time.monotonic() + 120
    while "[A] epoch 2/" not in seen and time.monotonic() < deadline:
      line = procs[0].stdout.readline()
      if not line:
        break
      seen += line
    assert "[A] epoch 2/" in seen, seen[-3000:]
    procs[1].send_signal(signal.SIGKILL)
    return procs, procs[0].communicate(timeout=60)[0]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.wait()
      p.stdout.close()


@pytest.mark.slow
def test_a_killed_process_stops_the_other_with_an_error(real_data, tmp_path):
  fasta, _ = _subset(real_data, tmp_path, per_class=6)
  args = [f"--data_dir={tmp_path}", f"--files={fasta.name}", *TINY, "--cnn_epochs=200", "--rnn_epochs=1",
          f"--workdir={tmp_path / 'w'}"]
  procs, rest = _kill_process_1_in_training(args)
  assert procs[0].returncode == 1 and "[A] epoch 200/200" not in rest
  assert ("error: process 0 of 2: a collective operation failed" in rest
          and "Another process of this run has probably stopped" in rest), rest[-3000:]
  assert "Traceback" not in rest and "Check failure" not in rest, rest[-3000:]


def _spread(args, tmp_path, name, spread=("--spread",), one_devices=1):
  """The same run as one process (`one_devices` devices) and spread over two processes (one device each)."""
  one = subprocess.run([sys.executable, "-m", "experiments.run", *args, f"--workdir={tmp_path / name / 'one'}",
                        f"--cpu_devices={one_devices}"], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert one.returncode == 0, one.stdout[-2000:] + one.stderr[-3000:]
  port = _port()
  procs = [_launch(args + [f"--workdir={tmp_path / name / 'two'}", *spread], i, port) for i in range(2)]
  outs = [p.communicate(timeout=300)[0] for p in procs]
  assert [p.returncode for p in procs] == [0, 0], outs[0][-3000:] + outs[1][-3000:]
  return [json.loads((tmp_path / name / w / "results.json").read_text()) for w in ("one", "two")], outs


SPREAD = ["--models=A", "--cnn_filters=4", "--cnn_dense=8,8", "--max_len=160", "--batch_size=16", "--collab=",
          "--cca_trials=0"]


@pytest.mark.slow
def test_spread_seeds_equal_one_process(real_data, tmp_path):
  """--seeds dealt to two processes (seed 0 to process 0, seed 1 to process 1): the gathered report equals a
  one-process --seeds run's."""
  fasta, _ = _subset(real_data, tmp_path, per_class=6)
  (one, two), outs = _spread([f"--data_dir={tmp_path}", f"--files={fasta.name}", *SPREAD, "--cnn_epochs=2",
                              "--seeds=0,1"], tmp_path, "seeds")
  assert "[process 0] === group 0: seed 0 ===" in outs[0] and "[process 1] === group 1: seed 1 ===" in outs[1]
  assert "seed 1 ===" not in outs[0]
  assert two["seeds"] == [0, 1] and two["stability"] == one["stability"]
  assert two["comparisons"] == one["comparisons"]


@pytest.mark.slow
def test_spread_sweep_levels_equal_one_process(real_data, tmp_path):
  """The sweep's levels dealt to two processes (0 and 1.2 to process 0, which also trains A; 0.6 to process
  1): the merged sweep equals the one-process sweep, level by level."""
  fasta, _ = _subset(real_data, tmp_path, per_class=6)
  (one, two), outs = _spread([f"--data_dir={tmp_path}", f"--files={fasta.name}", *SPREAD, "--cnn_epochs=1",
                              "--sweep_model=A", "--sweep_levels=0,0.6,1.2", "--sweep_epochs=2"], tmp_path, "sweep")
  assert "sweep levels [0.6]" in outs[1] and "[A] epoch" not in outs[1]
  assert two["models"]["A"]["test"] == one["models"]["A"]["test"]
  curves = lambda sweep: [{k: v for k, v in r["history"].items() if k != "seconds"} for r in sweep["rows"]]  # noqa: E731
  assert two["sweep"]["levels"] == one["sweep"]["levels"] == [0.0, 0.6, 1.2]
  assert curves(two["sweep"]) == curves(one["sweep"])
  for key in ("peak_val_accuracy_level", "coefficient_plateau_level", "fig3_levels"):
    assert two["sweep"][key] == one["sweep"][key]
  assert (tmp_path / "sweep" / "two" / "sweep" / "fig4.png").exists()
  assert "## " in (tmp_path / "sweep" / "two" / "report.md").read_text()


@pytest.mark.slow
def test_spread_over_a_group_of_two_processes_is_data_parallel_within_it(real_data, tmp_path):
  """--spread_group=2 with two processes: one group, whose two processes train each seed together as a
  distributed job of their own, data parallel: the same numbers as one process with two devices."""
  fasta, _ = _subset(real_data, tmp_path, per_class=6)
  (one, two), outs = _spread([f"--data_dir={tmp_path}", f"--files={fasta.name}", *SPREAD, "--cnn_epochs=2",
                              "--seeds=0,1", "--data_parallel"], tmp_path, "group",
                             spread=("--spread", "--spread_group=2"), one_devices=2)
  for out in outs:
    assert "=== group 0: seed 0 ===" in out and "=== group 0: seed 1 ===" in out
  assert "[A] epoch 2/2" in outs[0] and "[A] epoch" not in outs[1]  # the group's process 0 reports
  assert two["stability"] == one["stability"]


@pytest.mark.slow
def test_a_killed_process_of_a_spread_job_stops_every_share(real_data, tmp_path):
  """Killing one process of a --spread job (during its share) ends the other process and both shares'
  child runs within seconds, each child saying so, rather than leaving orphans training or a process waiting."""
  fasta, _ = _subset(real_data, tmp_path, per_class=6)
  args = [f"--data_dir={tmp_path}", f"--files={fasta.name}", *SPREAD, "--cnn_epochs=2000", "--seeds=0,1",
          f"--workdir={tmp_path / 'w'}", "--spread"]
  procs, rest = _kill_process_1_in_training(args)
  assert procs[0].returncode != 0 and "[A] epoch 2000/2000" not in rest
  assert "this share stops too" in rest, rest[-3000:]
  time.sleep(5)  # process 1's child notices its parent's death within seconds
  assert not _running_with(str(tmp_path / "w"))


def _running_with(text):
  """Pids of the processes whose command line contains `text`."""
  pids = []
  for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
      with open(f"/proc/{pid}/cmdline", "rb") as f:
        if text.encode() in f.read():
          pids.append(int(pid))
    except OSError:
      continue
  return pids


def test_host_devices_get_a_thread_pool_of_twice_their_number(monkeypatch):
  """With as many pool threads as host devices, XLA can stall a data-parallel step in its all-reduce; the pool
  is raised to 2n threads for n > 1 devices, and a larger pool (or one device) is left as it is."""
  from rcl.train.sharding import request_cpu_devices  # noqa: PLC0415
  monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
  cases = [(2, None, "4"), (3, "4", "6"), (2, "16", "16"), (1, None, None), (2, "many", "4")]
  for n, before, after in cases:
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=7 --xla_cpu_max_isa=AVX2")
    if before is None:
      monkeypatch.delenv("NPROC", raising=False)
    else:
      monkeypatch.setenv("NPROC", before)
    request_cpu_devices(n)
    assert os.environ.get("NPROC") == after, (n, before)
    assert os.environ["XLA_FLAGS"] == f"--xla_cpu_max_isa=AVX2 --xla_force_host_platform_device_count={n}"
