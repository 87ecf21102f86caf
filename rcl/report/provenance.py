"""Provenance recorded with every result: code revision, package versions, backend and devices."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform

import jax

PACKAGES = ("rcl", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "scikit-learn", "ViennaRNA")


def environment() -> dict:
  """Code and package versions, device and platform: recorded with every result."""
  versions = {}
  for pkg in PACKAGES:
    try:
      versions[pkg] = md.version(pkg)
    except md.PackageNotFoundError:
      versions[pkg] = None
  return {"packages": versions, "python": platform.python_version(), "backend": jax.default_backend(),
          "devices": [str(d) for d in jax.devices()], "git": git_revision()}


def _read(path: str) -> str:
  with open(path) as f:
    return f.read().strip()


def git_revision() -> str | None:
  """The commit of the source tree this package runs from, or None outside a git checkout."""
  head = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), ".git")
  try:
    ref = _read(os.path.join(head, "HEAD"))
    return _read(os.path.join(head, ref[5:])) if ref.startswith("ref: ") else ref
  except OSError:
    return None
