"""`rcl data fetch`: the public data sets downloaded by pinned URL and verified."""

from __future__ import annotations

import sys


def run(args) -> None:
  """Fetches the data sets named into --dest (default: `location.fetch_destination()`)."""
  from rcl.data import fetch, location  # noqa: PLC0415
  dest = args.dest or location.fetch_destination()
  paths = fetch.fetch(args.datasets, dest, progress=lambda line: print(line, file=sys.stderr, flush=True))
  print(f"{len(paths)} files verified in {dest}")
