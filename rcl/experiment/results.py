"""The one writer of an experiment's JSON outputs: written whole, atomically (temporary file, rename)."""

from __future__ import annotations

import json
import os


def write_json(path: str, obj) -> None:
  """Writes `obj` as JSON to a temporary file beside `path`, then renames it over `path`."""
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(obj, f, indent=1)
  os.replace(tmp, path)


def write_text(path: str, text: str) -> None:
  """The same for a text file (report.md)."""
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, path)
