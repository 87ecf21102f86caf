"""The progress line `rcl classify` and `rcl evaluate` print to standard error after every chunk."""

from __future__ import annotations

import sys
from collections.abc import Callable


def _duration(seconds: float) -> str:
  minutes, seconds = divmod(round(seconds), 60)
  return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def progress(position, prefix: str = "") -> Callable[[int, float], None]:
  """The progress line printed after each chunk: records, records/s and, when the input's size is known,
  an ETA (the total estimated from the records per byte read so far)."""
  def show(done: int, seconds: float) -> None:
    line = f"{prefix}classified {done} records, {done / max(seconds, 1e-9):.0f} records/s"
    fraction = position.fraction()
    if fraction:
      total = position.records / fraction  # estimated from the bytes read so far; exact once all is read
      line += f", ETA {_duration(max(0.0, total - done) * seconds / max(done, 1))}"
    print(line, file=sys.stderr, flush=True)
  return show
