"""Orbax checkpoints of a training run: 'latest' (for resuming) and 'best' (the selected model).

Orbax writes each checkpoint into a temporary directory and renames it when complete, so a run killed
mid-write leaves no step that looks finished. A step damaged later (a truncated file, a missing entry)
is skipped, with a warning naming it, in favour of the previous one.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import time

import flax.linen as nn
import jax
import orbax.checkpoint as ocp

from rcl.train.state import TrainState, create_state


class CheckpointWriteError(OSError):
  """A checkpoint could not be written (e.g. the disk is full); the previous ones are intact."""


def _abstract(state: TrainState):
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, state)


class RunCheckpoints:
  """Two Orbax CheckpointManagers under `directory`: latest/ (last few epochs) and best/ (one).

  Each checkpoint holds the TrainState (params, optimiser state, step, BatchNorm statistics) and a
  JSON 'meta' item (epoch, history, selection, and the run's identity for safety checks).
  """

  def __init__(self, directory: str | os.PathLike, keep: int = 2):
    directory = os.path.abspath(os.fspath(directory))
    self.directory = directory
    # Synchronous saves: a failed write (a full disk) raises at the epoch that made it, and a kill never
    # races a background write; temporary directories of killed writes are removed on opening.
    options = dict(create=True, enable_async_checkpointing=False, cleanup_tmp_directories=True)
    self.latest = ocp.CheckpointManager(os.path.join(directory, "latest"),
                                        options=ocp.CheckpointManagerOptions(max_to_keep=keep, **options))
    self.best = ocp.CheckpointManager(os.path.join(directory, "best"),
                                      options=ocp.CheckpointManagerOptions(max_to_keep=1, **options))

  @staticmethod
  def _save(manager: ocp.CheckpointManager, epoch: int, state: TrainState, meta: dict) -> None:
    if epoch in manager.all_steps():  # a resumed run redoing an epoch whose save already landed
      manager.wait_until_finished()
      manager.delete(epoch)
    try:
      meta = dict(meta, processes=jax.process_count())  # a resume checks it (loop.resume)
      manager.save(epoch, args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))
    except Exception as e:  # noqa: BLE001 - a full disk surfaces as OSError or as a TensorStore ValueError
      _remove_partial(os.fspath(manager.directory), epoch)
      kept = [s for s in manager.all_steps() if s != epoch]
      full = getattr(e, "errno", None) == errno.ENOSPC or "No space left on device" in str(e)
      cause = "No space left on device" if full else _first_line(e, 300)
      raise CheckpointWriteError(
          f"could not write the epoch {epoch} checkpoint in {manager.directory} ({cause}); "
          + (f"the epoch {max(kept)} checkpoint is kept, and a rerun resumes from it" if kept else
             "no earlier checkpoint exists")) from e

  @staticmethod
  def _restore(manager: ocp.CheckpointManager, like: TrainState) -> tuple[TrainState, dict] | None:
    args = ocp.args.Composite(state=ocp.args.StandardRestore(_abstract(like)), meta=ocp.args.JsonRestore())
    out = _newest_readable(manager, args)
    return None if out is None else (out["state"], out["meta"])

  def save_latest(self, epoch: int, state: TrainState, meta: dict) -> None:
    self._save(self.latest, epoch, state, meta)

  def save_best(self, epoch: int, state: TrainState, meta: dict) -> None:
    self._save(self.best, epoch, state, meta)

  def restore_latest(self, like: TrainState) -> tuple[TrainState, dict] | None:
    """The newest 'latest' checkpoint shaped like `like`, or None if there is none."""
    return self._restore(self.latest, like)

  def restore_best(self, like: TrainState) -> tuple[TrainState, dict] | None:
    return self._restore(self.best, like)

  def drop_best_after(self, epoch: int) -> None:
    """Deletes 'best' checkpoints newer than `epoch`: left by a killed run beyond the epoch it resumes
    from (with checkpoint_every > 1), they would otherwise shadow the model the rerun selects."""
    for step in self.best.all_steps():
      if step > epoch:
        self.best.delete(step)

  def close(self) -> None:
    for manager in (self.latest, self.best):
      manager.wait_until_finished()
      manager.close()


def latest_meta(checkpoint_dir: str) -> dict | None:
  """The metadata (epoch, history, identity, ...) of a run's newest 'latest' checkpoint, read without
  changing anything on disk, or None when there is none."""
  latest = os.path.join(os.path.abspath(checkpoint_dir), "latest")
  if not os.path.isdir(latest) or not any(name.isdigit() for name in os.listdir(latest)):
    return None
  manager = ocp.CheckpointManager(latest, options=ocp.CheckpointManagerOptions(read_only=True, create=False,
                                                                              save_interval_steps=0))
  try:
    out = _newest_readable(manager, ocp.args.Composite(meta=ocp.args.JsonRestore()))
    return None if out is None else out["meta"]
  finally:
    manager.close()


def _remove_partial(directory: str, step: int, patience: float = 10.0, settle: float = 1.0) -> None:
  """Removes the temporary directory of a failed write of `step`, which would hold the space. Orbax's
  writer threads may still be creating files in it for a moment after the failure surfaced (longer on a busy
  machine), so it returns only once none has reappeared for `settle` seconds, or after `patience`."""
  deadline = time.monotonic() + patience
  quiet_since = time.monotonic()
  while time.monotonic() < deadline:
    partial = [n for n in os.listdir(directory) if n.startswith(f"{step}.orbax-checkpoint-tmp")]
    for name in partial:
      shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
    if partial:
      quiet_since = time.monotonic()
    elif time.monotonic() - quiet_since >= settle:
      return
    time.sleep(0.1)


def _newest_readable(manager: ocp.CheckpointManager, args: ocp.args.Composite):
  """The newest step of `manager` that restores under `args`, or None; unreadable newer steps are
  skipped with a warning naming them."""
  for step in sorted(manager.all_steps(), reverse=True):
    try:
      out = manager.restore(step, args=args)
      if "meta" in out and not isinstance(out["meta"], dict):
        raise ValueError("its metadata is not a JSON object")
      return out
    except Exception as e:  # noqa: BLE001 - Orbax, TensorStore and JSON errors alike mean 'damaged'
      logging.getLogger(__name__).warning(
          "checkpoint %s is unreadable (%s: %s); falling back to the previous one",
          os.path.join(os.fspath(manager.directory), str(step)), type(e).__name__, _first_line(e, 200))
  return None


def _first_line(error: Exception, width: int) -> str:
  return (str(error).splitlines() or [""])[0][:width]


def differences(saved: dict, wanted: dict) -> str:
  """The identity entries in which a checkpoint (`saved`) differs from a run (`wanted`), readable:
  "fit: FitConfig(batch_size=32) in the checkpoint, FitConfig() now; ..." (long values are cut to
  the part around the first difference)."""
  parts = []
  for name in sorted(set(saved) | set(wanted)):
    old, new = saved.get(name), wanted.get(name)
    if old != new:
      old_s, new_s = _around_difference(_flat(old), _flat(new))
      parts.append(f"{name}: {old_s} in the checkpoint, {new_s} now")
  return "; ".join(parts)


def _flat(value) -> str:
  """A value on one line: strings as they are (a model's repr has newlines), others as repr."""
  return " ".join((value if isinstance(value, str) else repr(value)).split())


def _around_difference(a: str, b: str, width: int = 60) -> tuple[str, str]:
  if len(a) <= width and len(b) <= width:
    return a, b
  start = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
  lo = max(0, start - 20)

  def cut(s):
    return ("..." if lo else "") + s[lo:lo + width] + ("..." if lo + width < len(s) else "")
  return cut(a), cut(b)


def load_selected(checkpoint_dir: str, model: nn.Module, example: dict,
                  expect: dict | None = None) -> tuple[TrainState, dict]:
  """The selected ('best') model of a finished run, for readers outside training, and its metadata.

  Args:
    checkpoint_dir: the run's checkpoint directory (holding best/).
    model: the Linen module it trained (same configuration).
    example: one batch of inputs, to shape the state.
    expect: identity entries the run must have been trained with (e.g. {'classes': [...]}).

  Returns:
    The state in evaluated form (`TrainState.for_evaluation`: no optimiser state), ready for
    prediction, and the checkpoint's metadata.

  Raises:
    FileNotFoundError naming the directory when the run has no such checkpoint; ValueError naming the
    entry when the run's identity differs from `expect`.
  """
  best_dir = os.path.join(os.path.abspath(checkpoint_dir), "best")
  if not os.path.isdir(best_dir) or not any(name.isdigit() for name in os.listdir(best_dir)):
    raise FileNotFoundError(f"no trained checkpoint at {best_dir}: train the model first")
  like = create_state(model, example, jax.random.key(0)).for_evaluation()
  ckpt = RunCheckpoints(checkpoint_dir)
  try:
    restored = ckpt.restore_best(like)
  finally:
    ckpt.close()
  if restored is None:
    raise FileNotFoundError(f"the trained checkpoint at {best_dir} is unreadable: train the model again")
  state, meta = restored
  saved = meta.get("identity", {})
  for name, value in (expect or {}).items():
    if saved.get(name) != value:
      raise ValueError(f"{checkpoint_dir} was trained with a different {name} than expected")
  return state, meta
