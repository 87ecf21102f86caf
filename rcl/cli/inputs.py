"""What `rcl classify` and `rcl evaluate` read: the model, the --input records and their duplicate IDs."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator

from rcl.cli.model_lookup import resolve_model


def prepare(args, top_k: int = 1):
  """Checks the common options and loads the model: (bundle, structure cache, ReadPosition)."""
  from rcl import bundle  # noqa: PLC0415 - JAX loads only for commands that need it
  from rcl.config import default_structure_cache  # noqa: PLC0415
  from rcl.data.fasta import ReadPosition  # noqa: PLC0415
  if top_k < 1 or args.chunk < 1 or args.workers < 1:
    raise ValueError("--top_k, --chunk and --workers must be positive")
  args.model = resolve_model(args.model)
  model = bundle.load(args.model)
  if args.input != "-" and not os.path.isfile(args.input):
    raise FileNotFoundError(f"--input={args.input}: no such file")
  return model, args.structure_cache or default_structure_cache(), ReadPosition()


def records(path: str, require_label: bool, position) -> Iterator:
  """`iter_records` of --input, where an input without any record is refused in the option's terms."""
  from rcl.data.fasta import FastaError, iter_records  # noqa: PLC0415
  try:
    yield from iter_records(path, require_label=require_label, position=position)
  except FastaError as e:
    if e.line == 0 and e.problem.startswith("no FASTA records"):
      raise ValueError(f"--input={path} holds no FASTA records") from None
    raise


class Duplicates:
  """The record IDs met more than once in an input, each once, in the order of their second occurrence."""

  def __init__(self, path: str):
    self.path, self.seen, self.ids = path, set(), {}

  def follow(self, records: Iterable) -> Iterator:
    """Yields `records` unchanged, noting their IDs."""
    for record in records:
      if record.id in self.seen:
        self.ids[record.id] = None
      self.seen.add(record.id)
      yield record

  def warn(self) -> None:
    """Prints `warning: N duplicate record IDs in PATH: ...` (the first five) when there are any."""
    if self.ids:
      n, shown = len(self.ids), ", ".join(list(self.ids)[:5])
      more = f", ... ({n - 5} more)" if n > 5 else ""
      print(f"warning: {n} duplicate record ID{'s' * (n > 1)} in {self.path}: {shown}{more}", file=sys.stderr)
