"""Provenance recorded with every result: code revision, package versions, backend and devices."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import subprocess

import jax

from rcl import portable_cpu

PACKAGES = ("rcl", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "scikit-learn", "ViennaRNA")


def environment() -> dict:
  """Code and package versions, device and platform: recorded with every result."""
  versions = {}
  for pkg in PACKAGES:
    try:
      versions[pkg] = md.version(pkg)
    except md.PackageNotFoundError:
      versions[pkg] = None
  cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
  nproc = os.environ.get("NPROC", "")
  return {"packages": versions, "python": platform.python_version(), "backend": jax.default_backend(),
          "devices": [str(d) for d in jax.devices()], "git": git_revision(), "cpu": cpu_name(), "cpus_used": cpus,
          "xla_pool_threads": int(nproc) if nproc.isdigit() else cpus,
          "xla_flags": os.environ.get("XLA_FLAGS", ""), "portable_cpu": portable_cpu.active()}


def cpu_name() -> str:
  """The processor's model name and its widest vector extensions (from /proc/cpuinfo), or the platform's
  name where there is none: numbers computed on a CPU can depend on it (`rcl.portable_cpu`)."""
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      info = f.read()
  except OSError:
    return platform.processor() or platform.machine()
  fields = {k.strip(): v for k, v in (line.split(":", 1) for line in info.splitlines() if ":" in line)}
  model = fields.get("model name", "").strip() or platform.machine()
  cpu_flags = set(fields.get("flags", "").split())
  isa = [name for name, flag in (("AVX-512", "avx512f"), ("AVX2", "avx2"), ("BF16", "avx512_bf16")) if flag in cpu_flags]
  return f"{model} ({', '.join(isa) or 'no AVX2'})"


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
