"""Provenance recorded with every result: code revision, package versions, backend and devices."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import subprocess

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


def git_revision() -> str | None:
  """The commit of the source tree this package runs from ('+dirty' if it has uncommitted changes),
  or None outside a git checkout."""
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  try:
    rev = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    if rev.returncode != 0:
      return None
    dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=10).stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return None
  return rev.stdout.strip() + ("+dirty" if dirty else "")
