"""TensorBoard-readable scalars of a training run, written with tensorboardX (no TensorFlow needed)."""

from __future__ import annotations

from tensorboardX import SummaryWriter


class ScalarLog:
  """Appends per-epoch scalars under `logdir` (one event file per process; TensorBoard merges them).

  Attributes:
    logdir: directory of the event files.
  """

  def __init__(self, logdir: str):
    self.logdir = logdir
    self._writer = SummaryWriter(logdir)

  def write(self, epoch: int, logs: dict[str, float]) -> None:
    for name, value in logs.items():
      self._writer.add_scalar(name.replace("_", "/", 1), float(value), epoch)
    self._writer.flush()

  def close(self) -> None:
    self._writer.close()
