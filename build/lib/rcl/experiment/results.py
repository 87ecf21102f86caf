"""The one writer of an experiment's JSON and text outputs: written whole and atomically (a temporary
file beside the target, flushed to disk, then renamed over it), so a reader or a killed run never sees
half a file."""

from __future__ import annotations

import json
import os


def write_text(path: str, text: str) -> None:
  """Writes `text` to `path.tmp`, fsyncs it and renames it over `path`."""
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def write_json(path: str, obj) -> None:
  """The same for `obj` as indented JSON."""
  write_text(path, json.dumps(obj, indent=1))
