"""XLA's CPU backend held to what every x86-64 CPU of the last decade does, with a fixed number of threads,
so that a run's numbers do not depend on the processor it runs on.

XLA compiles for the CPU it finds, and the libraries it calls choose their kernels from the CPU too:
- its own generated loops use the host's widest vectors (`--xla_cpu_max_isa=AVX2` caps them);
- its elementwise functions (exp, tanh, ...) and YNNPACK, which runs most dots, convolutions and
  reductions, take CPU-specific fast paths unless `--xla_cpu_enable_platform_dependent_math=false`
  (YNNPACK then computes in its "consistent arithmetic" mode);
- the dots YNNPACK leaves to Eigen run oneDNN's sgemm, generated at run time for the host's instruction
  set: `ONEDNN_MAX_CPU_ISA=AVX2` caps it;
- Eigen and XLA's thunk executor split work by the number of threads in XLA's pool, which is the number
  of CPUs the process may use unless NPROC says otherwise: the mode sets NPROC to `POOL` and pins the
  process to `THREADS` CPUs (what oneDNN sees; `rcl.train.sharding.request_cpu_devices` may raise NPROC).
`--xla_cpu_enable_fast_math=false` (XLA's default) is set too, so that a user's XLA_FLAGS cannot turn
reassociation on unnoticed. A flag or variable the user already set is left as set. Where an accelerator
plugin is installed, the run's numbers are the accelerator's (`--xla_gpu_deterministic_ops`), and the
threads are left alone. BUILD.md, "Reproducible on any x86-64 CPU", says what was checked where.
"""

from __future__ import annotations

import importlib.util
import os
import platform

FLAGS = ("--xla_cpu_max_isa=AVX2", "--xla_cpu_enable_platform_dependent_math=false",
         "--xla_cpu_enable_fast_math=false")
THREADS = 2  # the CI machines' cores; a machine with fewer reproduces only machines with as few
POOL = 2 * THREADS  # XLA's pool: twice the host devices of a 2-core data-parallel run (see request_cpu_devices)
ENVIRONMENT = {"ONEDNN_MAX_CPU_ISA": "AVX2", "NPROC": str(POOL)}
_ACCELERATOR_PLUGINS = ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm60_plugin", "jax_rocm7_plugin", "libtpu")


def applies() -> bool:
  """Whether this machine is x86-64 (the instruction-set caps name x86 extensions)."""
  return platform.machine().lower() in ("x86_64", "amd64")


def accelerator_installed() -> bool:
  """Whether a JAX accelerator plugin (CUDA, ROCm, TPU) is installed: the run's numbers are then the device's."""
  return any(importlib.util.find_spec(name) is not None for name in _ACCELERATOR_PLUGINS)


def request() -> int | None:
  """Sets the mode up: `FLAGS` added to XLA_FLAGS and `ENVIRONMENT` to the environment, each unless the user
  set it, and the process pinned to its first `THREADS` allowed CPUs (not beside an accelerator plugin).
  Must run before JAX starts a backend (and before oneDNN's first call). Does nothing off x86-64. Returns the
  number of CPUs the process may use afterwards (None off x86-64)."""
  if not applies():
    return None
  current = os.environ.get("XLA_FLAGS", "").split()
  named = {f.split("=")[0] for f in current}
  os.environ["XLA_FLAGS"] = " ".join(current + [f for f in FLAGS if f.split("=")[0] not in named])
  for name, value in ENVIRONMENT.items():
    os.environ.setdefault(name, value)
  allowed = sorted(os.sched_getaffinity(0))
  if len(allowed) > THREADS and not accelerator_installed():
    os.sched_setaffinity(0, allowed[:THREADS])
  return len(os.sched_getaffinity(0))


def costs_little(cpu_devices: int) -> bool:
  """Whether the mode is nearly free here, so that `experiments.run` takes it unless told: an x86-64 CPU without
  an accelerator plugin, whose process may use exactly `THREADS` CPUs (pinning takes none away), running as
  2 or more host devices (whose pool request_cpu_devices raises to `POOL` threads or more anyway). Measured
  (BUILD.md, "Reproducible on any x86-64 CPU"): data parallel over 2 host devices on 2 cores, -5% to +5%;
  one host device, 11-13% slower on an AVX-512 CPU; a machine with more CPUs would lose all but `THREADS`."""
  return (applies() and not accelerator_installed() and len(os.sched_getaffinity(0)) == THREADS
          and cpu_devices >= 2)


def active() -> bool:
  """Whether the environment holds the whole mode (`FLAGS` and `ENVIRONMENT` as set here)."""
  return (applies() and set(FLAGS) <= set(os.environ.get("XLA_FLAGS", "").split())
          and all(os.environ.get(k) == v for k, v in ENVIRONMENT.items()))
