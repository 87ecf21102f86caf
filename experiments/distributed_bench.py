"""Data-parallel training steps/s: one process with N host devices against N processes with one each.

  python -m experiments.distributed_bench [--processes=2] [--model=A] [--filters=64] [--steps=20]

Runs itself as workers: first one process with --processes host devices, then --processes processes
joined by JAX's distributed runtime on 127.0.0.1 (one host device each, gloo collectives). Every worker
times the same data-parallel train step (`rcl.train.sharding`) on the same Test13 batches of 64; process 0
prints one JSON line per layout and the ratio. On a GPU machine the same comparison holds with one GPU per
process.
"""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import sys

from absl import app, flags

_PROCESSES = flags.DEFINE_integer("processes", 2, "Devices (one process) and processes (one device each).")
_MODEL = flags.DEFINE_string("model", "A", "Moniker to train (A-G).")
_FILTERS = flags.DEFINE_integer("filters", 64, "CNN filters (the paper: 256).")
_STEPS = flags.DEFINE_integer("steps", 20, "Timed steps.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Directory holding nrc/ (default: rcl/data/location.py's rule).")
_WORKER = flags.DEFINE_string("worker", None, "Internal: 'local' or 'PORT:PROCESS_ID'.")


def _work() -> None:
  from rcl.train import distributed, sharding  # noqa: PLC0415
  if _WORKER.value == "local":
    sharding.request_cpu_devices(_PROCESSES.value)
  else:
    port, process_id = _WORKER.value.split(":")
    sharding.request_cpu_devices(1)
    distributed.initialize(True, coordinator=f"127.0.0.1:{port}", num_processes=_PROCESSES.value,
                           process_id=int(process_id), heartbeat_timeout=20, init_timeout=120)
  import jax  # noqa: PLC0415

  from experiments import timing  # noqa: PLC0415
  from rcl.data import location  # noqa: PLC0415
  from rcl.data.batching import batches  # noqa: PLC0415
  from rcl.data.dataset import load_dataset  # noqa: PLC0415
  from rcl.models import monikers  # noqa: PLC0415
  from rcl.train import steps  # noqa: PLC0415
  from rcl.train.state import create_state  # noqa: PLC0415

  files = location.resolve(location.TEST13_FILES, _DATA_DIR.value)
  data = load_dataset(files, seed=0)
  train = data.splits["train"]
  model = monikers.build(monikers.MONIKERS[_MODEL.value], len(data.classes), monikers.Hyper(cnn_filters=_FILTERS.value))
  batch_list = [b for b, _ in itertools.islice(batches(train, 64, seed=0), _STEPS.value + 2)]
  mesh = sharding.data_mesh()
  state = create_state(model, batch_list[0], jax.random.key(0))
  state = sharding.replicate(state, mesh).replace(apply_fn=sharding.sharded_model(model).apply)
  step = jax.jit(sharding.data_parallel(steps.train_step, mesh, extra_args=1))
  loop = timing.Steps(state, [sharding.shard_batch(b, mesh) for b in batch_list], jax.random.key(1))
  # The first step compiles (and counts as compilation), the second is a warm-up; the rest are timed.
  t = timing.compile_then_time(lambda: loop.run(step, 0), lambda _, i: loop.run(step, i + 1), _STEPS.value, warmup=1)
  if jax.process_index() == 0:
    layout = (f"1 process x {len(jax.devices())} devices" if jax.process_count() == 1 else
              f"{jax.process_count()} processes x {len(jax.local_devices())} device")
    print(json.dumps({"model": _MODEL.value, "filters": _FILTERS.value, "layout": layout, "batch": 64,
                      "steps_per_s": 1 / t.median, "compile_s": t.compile_s,
                      "loss_last": float(loop.sums["loss"])}), flush=True)


def _run_workers(args: list[str]) -> list[dict]:
  """Runs the worker processes; returns process 0's JSON lines."""
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  base = [sys.executable, "-m", "experiments.distributed_bench", *args]
  layouts = [[base + ["--worker=local"]],
             [base + [f"--worker={port}:{i}"] for i in range(_PROCESSES.value)]]
  out = []
  for commands in layouts:
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]
    results = [p.communicate(timeout=1800) for p in procs]
    for p, (stdout, stderr) in zip(procs, results):
      if p.returncode != 0:
        raise RuntimeError(f"a worker failed:\n{stderr[-3000:]}")
    out.extend(json.loads(line) for line in results[0][0].splitlines() if line.startswith("{"))
  return out


def main(argv):
  del argv
  if _WORKER.value:
    _work()
    return
  args = [f"--processes={_PROCESSES.value}", f"--model={_MODEL.value}", f"--filters={_FILTERS.value}",
          f"--steps={_STEPS.value}"] + ([f"--data_dir={_DATA_DIR.value}"] if _DATA_DIR.value else [])
  one, many = _run_workers(args)
  for row in (one, many):
    print(json.dumps(row), flush=True)
  print(f"{many['layout']}: {many['steps_per_s']:.2f} steps/s; {one['layout']}: {one['steps_per_s']:.2f} steps/s "
        f"(ratio {many['steps_per_s'] / one['steps_per_s']:.2f})", flush=True)


if __name__ == "__main__":
  app.run(main)
