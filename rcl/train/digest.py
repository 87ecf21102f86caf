"""Digests of parameters and outputs: the bits of a model, for comparing runs across machines and layouts."""

from __future__ import annotations

import hashlib

import jax
import numpy as np


def tree_digest(tree) -> str:
  """sha256 (16 hex digits) over every leaf's dtype, shape and bytes, leaves in the tree's order."""
  h = hashlib.sha256()
  for leaf in jax.tree.leaves(tree):
    a = np.ascontiguousarray(jax.device_get(leaf))
    h.update(f"{a.dtype}{a.shape}".encode())
    h.update(a.tobytes())
  return h.hexdigest()[:16]
