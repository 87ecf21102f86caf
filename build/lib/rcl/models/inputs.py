"""Model inputs: which channels a model sees ("seq", "sec" or "seq+sec"), expanded from uint8 codes."""

import jax
import jax.numpy as jnp

from rcl.data import encoding

INPUT_KINDS = ("seq", "sec", "seq+sec")


def channels(kind: str) -> int:
  """Number of one-hot channels for an input kind."""
  return {"seq": encoding.SEQUENCE_CHANNELS, "sec": encoding.STRUCTURE_CHANNELS,
          "seq+sec": encoding.SEQUENCE_CHANNELS + encoding.STRUCTURE_CHANNELS}[kind]


def one_hot_sequence(codes: jax.Array) -> jax.Array:
  """uint8[..., length] -> float32[..., length, 8] with the paper's 8-channel code."""
  return jnp.asarray(encoding.SEQUENCE_TABLE)[codes]


def one_hot_structure(codes: jax.Array) -> jax.Array:
  """uint8[..., length] -> float32[..., length, 3] over '(', ')', '.'."""
  return jnp.asarray(encoding.STRUCTURE_TABLE)[codes]


def embed(batch: dict[str, jax.Array], kind: str) -> jax.Array:
  """{'seq': uint8[b, L], 'sec': uint8[b, L]} -> float32[b, L, channels(kind)]."""
  if kind not in INPUT_KINDS:
    raise ValueError(f"input kind must be one of {INPUT_KINDS}, got {kind!r}")
  parts = []
  if kind in ("seq", "seq+sec"):
    parts.append(one_hot_sequence(batch["seq"]))
  if kind in ("sec", "seq+sec"):
    if "sec" not in batch:
      raise ValueError(f"a {kind!r} model needs secondary structures: attach them to the data first")
    parts.append(one_hot_structure(batch["sec"]))
  return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=-1)
