"""Data parallelism through JAX sharding: batches split over a 1-D 'data' mesh, state replicated.

Each device runs the whole step on its shard of the batch (`jax.shard_map`), and the steps sum their
gradients and metrics over the 'data' axis, so a data-parallel step equals a one-device step on the
whole batch (BatchNorm statistics are averaged over the axis too, and noise and dropout are drawn per
global row). On a CPU the same code spreads
work over cores: `XLA_FLAGS=--xla_force_host_platform_device_count=N` makes N host devices. With several
processes (`rcl.train.distributed`) the mesh spans every process's devices.
"""

import functools
import os
from collections.abc import Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "data"


def data_mesh(devices: list | None = None) -> Mesh:
  """A 1-D mesh named 'data' over `devices` (default: every device of every process, ordered by process,
  so that each process's devices hold a contiguous block of a batch's rows)."""
  if devices is None:
    devices = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
  return Mesh(np.asarray(devices), (AXIS,))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
  n = mesh.devices.size
  if batch_size % n:
    raise ValueError(f"batch size {batch_size} must be a multiple of the {n} devices it is split over")


def shard_batch(batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  """Places each array's leading (batch) axis across the mesh's 'data' axis. With several processes each
  one passes only its own block of rows (`process_rows`) to its devices; the others are never copied."""
  sharding = NamedSharding(mesh, PartitionSpec(AXIS))
  if jax.process_count() == 1:
    return {k: jax.device_put(v, sharding) for k, v in batch.items()}
  rows = process_rows(len(next(iter(batch.values()))), mesh)
  return {k: jax.make_array_from_process_local_data(sharding, v[rows], v.shape) for k, v in batch.items()}


def process_rows(n: int, mesh: Mesh) -> slice:
  """This process's rows of an n-row global batch split over the mesh's devices (process-ordered)."""
  owners = [d.process_index for d in mesh.devices.flat]
  mine = [i for i, p in enumerate(owners) if p == jax.process_index()]
  per_device = n // len(owners)
  return slice(mine[0] * per_device, (mine[-1] + 1) * per_device)


def replicate(tree, mesh: Mesh):
  """Places a pytree (the train state) whole on every device of the mesh (with several processes, from the
  identical host copy each one holds)."""
  if jax.process_count() > 1:
    tree = jax.device_get(tree)
  return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def sharded_model(model):
  """The model as data-parallel steps must apply it: a module with a `batch_axis` attribute averages its
  batch statistics over the 'data' axis, i.e. over the whole batch, not one shard, and draws its noise and
  dropout by row of the whole batch."""
  return model.clone(batch_axis=AXIS) if hasattr(model, "batch_axis") else model


@functools.lru_cache(maxsize=None)  # one wrapper per step and mesh: jit caches by the function's identity
def data_parallel(step: Callable, mesh: Mesh, *, extra_args: int = 0, sharded_out: bool = False) -> Callable:
  """Wraps `step(state, batch, *extra, axis_name=...)` to run per device on batch shards.

  Args:
    step: a step of `rcl.train.steps` that takes `axis_name`.
    mesh: the 'data' mesh.
    extra_args: number of replicated arguments after the batch (the train step's key: 1).
    sharded_out: outputs are per-example (split over 'data') rather than replicated sums.

  Returns:
    A function of the same arguments (state replicated, batch sharded over 'data'), to jit.
  """
  out = PartitionSpec(AXIS) if sharded_out else PartitionSpec()
  # check_vma=False: the RNN's scan starts from a replicated zero carry that turns per-device.
  return jax.shard_map(functools.partial(step, axis_name=AXIS), mesh=mesh,
                       in_specs=(PartitionSpec(), PartitionSpec(AXIS)) + (PartitionSpec(),) * extra_args,
                       out_specs=out, check_vma=False)


def request_cpu_devices(n: int) -> None:
  """Asks XLA for `n` host (CPU) devices, so that a data-parallel run on a CPU uses `n` cores.

  XLA runs every host device's program on one thread pool, whose size is the CPU count (or NPROC). With as
  many devices as threads, a device waiting in an all-reduce can hold the thread that the other device's
  work is queued on, and XLA aborts the stalled run after 40 s (seen on 2 cores whenever another process
  was busy). So for `n` > 1 the pool is raised to at least `2n` threads (NPROC, which the portable CPU mode
  sets to 4 for any device count so that 1 device, 2 devices and 2 processes split work alike).

  Must run before JAX first touches a backend; it has no effect on GPU or TPU devices.
  """
  flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if "xla_force_host_platform_device_count" not in f]
  os.environ["XLA_FLAGS"] = " ".join(flags + [f"--xla_force_host_platform_device_count={n}"])
  nproc = os.environ.get("NPROC", "")
  pool = int(nproc) if nproc.isdigit() else len(os.sched_getaffinity(0))
  if n > 1 and pool < 2 * n:
    os.environ["NPROC"] = str(2 * n)
