"""Data parallelism through JAX sharding: batches split over a 1-D 'data' mesh, state replicated."""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def data_mesh(devices: list | None = None) -> Mesh:
  """A 1-D mesh named 'data' over `devices` (default: all local devices)."""
  return Mesh(np.asarray(devices if devices is not None else jax.devices()), ("data",))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
  n = mesh.devices.size
  if batch_size % n:
    raise ValueError(f"batch size {batch_size} must be a multiple of the {n} devices it is split over")


def shard_batch(batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  """Places each array's leading (batch) axis across the mesh's 'data' axis."""
  sharding = NamedSharding(mesh, PartitionSpec("data"))
  return {k: jax.device_put(v, sharding) for k, v in batch.items()}


def replicate(tree, mesh: Mesh):
  """Places a pytree (the train state) whole on every device of the mesh."""
  return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))
