"""Multi-process (multi-host) runs through JAX's own distributed runtime.

Every process runs the same program (multi-controller JAX). `initialize` starts `jax.distributed` before
any backend exists: with `--distributed`, or by itself when a cluster launcher's environment says the job
has several processes (SLURM, Open MPI, a Cloud TPU pod slice), in which case JAX reads the coordinator,
the process count and this process's index from that environment. Afterwards `jax.devices()` lists every
process's devices, so `rcl.train.sharding.data_mesh` spans them all and the data-parallel step is the
one-process step; each process places only its own rows of every global batch (`sharding.shard_batch`).
On CPUs the cross-process collectives run over gloo.

Files: Orbax writes checkpoints collectively (every process calls save; the primary one writes
replicated arrays); everything else (results.json, report.md, figures, features, logs) is written by
process 0 alone (`rcl.files.is_writer`). The distributed service checks heartbeats: when a process dies, the
others stop with an error instead of waiting for it (within `heartbeat_timeout` seconds, sooner when a
collective notices the closed connection).

Independent work (rcl.experiment.spread) uses the runtime's coordination service alone: its key-value store
carries each process's results to the others (`gather`), with no collective and no accelerator involved.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import jax

# Cluster launchers whose environment tells JAX the job's processes (jax._src.clusters): the variable
# holding the process count.
# (SLURM_STEP_NUM_TASKS, not SLURM_NTASKS: only processes that srun started as one step belong together; a
# batch script's own single process sees SLURM_NTASKS of the whole allocation.)
_LAUNCHERS = {"SLURM": "SLURM_STEP_NUM_TASKS", "Open MPI": "OMPI_COMM_WORLD_SIZE",
              "Cloud TPU pod": "TPU_WORKER_HOSTNAMES"}


# Every variable that makes a process join a multi-process job: a single-process child is started without them.
PROCESS_VARIABLES = (*_LAUNCHERS.values(), "JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")


def detected_launcher() -> str | None:
  """The cluster launcher whose environment describes several processes, if any."""
  for name, variable in _LAUNCHERS.items():
    value = os.environ.get(variable, "")
    count = len(value.split(",")) if name == "Cloud TPU pod" else int(value) if value.isdigit() else 0
    if count > 1:
      return name
  return None


def initialize(enabled: bool = False, *, coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, heartbeat_timeout: int = 100, init_timeout: int = 300) -> bool:
  """Starts JAX's distributed runtime when asked to or when a launcher's environment calls for it; True
  if it did. Must run before anything touches a JAX backend.

  Args:
    enabled: --distributed.
    coordinator: host:port of process 0's coordination service (default: $JAX_COORDINATOR_ADDRESS, else the
      launcher's).
    num_processes, process_id: default $JAX_NUM_PROCESSES / $JAX_PROCESS_ID, else the launcher's.
    heartbeat_timeout: seconds without a heartbeat after which a process counts as dead and the others stop.
    init_timeout: seconds to wait for every process to join.
  """
  launcher = detected_launcher()
  if not enabled and launcher is None:
    return False
  env = os.environ
  num_processes = num_processes or (int(env["JAX_NUM_PROCESSES"]) if env.get("JAX_NUM_PROCESSES") else None)
  process_id = process_id if process_id is not None else (
      int(env["JAX_PROCESS_ID"]) if env.get("JAX_PROCESS_ID") else None)
  if launcher is None and (num_processes is None or process_id is None or
                           not (coordinator or env.get("JAX_COORDINATOR_ADDRESS"))):
    raise ValueError("--distributed outside a cluster launcher needs --coordinator_address, --num_processes and "
                     "--process_id (or $JAX_COORDINATOR_ADDRESS, $JAX_NUM_PROCESSES, $JAX_PROCESS_ID)")
  if num_processes is not None and process_id is not None and not 0 <= process_id < num_processes:
    raise ValueError(f"--process_id={process_id} is not below --num_processes={num_processes} (indices 0 to "
                     f"{num_processes - 1})")
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes, process_id=process_id,
                             heartbeat_timeout_seconds=heartbeat_timeout, initialization_timeout=init_timeout)
  return True


def _store():
  """The coordination service's client (its key-value store), as Orbax's multi-host code reaches it."""
  from jax._src import distributed as jax_distributed  # noqa: PLC0415  (no public handle to the store)
  if jax_distributed.global_state.client is None:
    raise RuntimeError("the distributed runtime is not running")
  return jax_distributed.global_state.client


def publish(key: str, text: str) -> None:
  """Puts `text` under `key` in the coordination service's key-value store."""
  _store().key_value_set(key, text)


def wait_for(key: str, *, poll_s: float = 60, on_wait: Callable[[float], None] | None = None) -> str:
  """The text under `key`, waiting as long as it takes for a process to publish it (calling on_wait(seconds
  waited) every `poll_s` seconds). A process that dies meanwhile stops the others through the runtime's
  heartbeats rather than leaving them waiting."""
  start = time.monotonic()
  while True:
    try:
      return _store().blocking_key_value_get(key, int(poll_s * 1000))
    except jax.errors.JaxRuntimeError as e:
      if "DEADLINE_EXCEEDED" not in str(e):
        raise
      if on_wait is not None:
        on_wait(time.monotonic() - start)


def gather(name: str, text: str, *, poll_s: float = 60,
           on_wait: Callable[[int, float], None] | None = None) -> list[str]:
  """Every process's `text` under `name`, in process order, at every process. Processes may arrive hours
  apart (independent work): on_wait(process waited for, seconds waited) is called every `poll_s` seconds."""
  publish(f"rcl/{name}/{jax.process_index()}", text)
  return [wait_for(f"rcl/{name}/{i}", poll_s=poll_s, on_wait=None if on_wait is None else
                   lambda seconds, i=i: on_wait(i, seconds)) for i in range(jax.process_count())]
