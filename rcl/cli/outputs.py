"""The command's output paths: checked before any work, removed when a run fails before writing a record."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable


def check_output(path: str) -> None:
  """Refuses, before any work, an --output file that cannot be written."""
  if os.path.isdir(path):
    raise ValueError(f"--output={path}: is a directory, not a file")
  parent = os.path.dirname(path) or "."
  if not os.path.exists(parent):
    raise ValueError(f"--output={path}: directory {parent} does not exist")
  if not os.path.isdir(parent):
    raise ValueError(f"--output={path}: {parent} is not a directory")
  writable = os.access(path, os.W_OK) if os.path.exists(path) else os.access(parent, os.W_OK | os.X_OK)
  if not writable:
    raise ValueError(f"--output={path}: permission denied")


def check_out_dir(path: str, force: bool) -> list[str]:
  """Refuses, before any work, an --out that is not a directory, a directory that already holds files (unless
  `force`) or one that cannot be written. Returns the directories the run will create, innermost first."""
  if os.path.exists(path):
    if not os.path.isdir(path):
      raise ValueError(f"--out={path}: is a {'file' if os.path.isfile(path) else 'special file'}, not a directory")
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
      raise ValueError(f"--out={path}: permission denied")
    if os.listdir(path) and not force:
      raise ValueError(f"--out={path} exists and is not empty: name a new directory or add --force")
    return []
  made, above = [], os.path.normpath(path)
  while not os.path.exists(above):
    made.append(above)
    above = os.path.dirname(above) or "."
  if not os.path.isdir(above):
    raise ValueError(f"--out={path}: {above} is not a directory")
  if not os.access(above, os.W_OK | os.X_OK):
    raise ValueError(f"--out={path}: permission denied")
  return made


def _holds_no_record(path: str, header_lines: int) -> bool:
  """Whether the output file `path` holds its header lines at most."""
  with open(path) as f:
    return all(i < header_lines for i, _ in enumerate(f))


@contextlib.contextmanager
def output_file(path: str, header_lines: int, made: Iterable[str] = ()):
  """`path` opened for writing; when the block fails before a record reached it, the file is removed, and
  then the directories `made` by this run (innermost first) while they are empty."""
  f = open(path, "w")
  try:
    yield f
  except BaseException:
    f.close()
    if _holds_no_record(path, header_lines):
      os.remove(path)
      for directory in made:
        try:
          os.rmdir(directory)
        except OSError:
          break
    raise
  finally:
    f.close()
