"""TensorBoard-readable scalars of a training run, written with tensorboardX (no TensorFlow needed)."""

from __future__ import annotations

from tensorboardX import SummaryWriter

from rcl import files


class ScalarLog:
  """Appends per-epoch scalars under `logdir` (one event file per process; TensorBoard merges them).

  Attributes:
    logdir: directory of the event files.
  """

  def __init__(self, logdir: str):
    self.logdir = logdir
    # With several processes (rcl.train.distributed), process 0 alone logs.
    self._writer = SummaryWriter(logdir) if files.is_writer() else None

  def write(self, epoch: int, logs: dict[str, float]) -> None:
    if self._writer is None:
      return
    for name, value in logs.items():
      self._writer.add_scalar(name.replace("_", "/", 1), float(value), epoch)
    self._writer.flush()

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()
