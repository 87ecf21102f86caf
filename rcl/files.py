"""Every file a run or a command writes: whole and atomically (a temporary file beside the target, flushed
to disk, then renamed over it), so a reader or a killed run never sees half a file; and the one rule of who
writes (process 0 of a multi-process run)."""

from __future__ import annotations

import io
import json
import os

import jax
import numpy as np


def is_writer() -> bool:
  """Whether this process writes the run's files (process 0; the only one without distribution)."""
  return jax.process_index() == 0


def write_bytes(path: str, data: bytes) -> None:
  """Writes `data` to `path.tmp`, fsyncs it and renames it over `path`; with several processes, in process 0
  only (`is_writer`)."""
  if not is_writer():
    return
  tmp = path + ".tmp"
  with open(tmp, "wb") as f:
    f.write(data)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def write_text(path: str, text: str) -> None:
  """The same for text (UTF-8)."""
  write_bytes(path, text.encode())


def write_npz(path: str, arrays: dict) -> None:
  """The same for numpy arrays as .npz."""
  buffer = io.BytesIO()
  np.savez(buffer, **arrays)
  write_bytes(path, buffer.getvalue())


def write_json(path: str, obj) -> None:
  """The same for `obj` as indented JSON."""
  write_text(path, json.dumps(obj, indent=1))
