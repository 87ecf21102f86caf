"""Orbax checkpoints of a training run: 'latest' (for resuming) and 'best' (the selected model)."""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp

from rcl.train.state import TrainState


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
    self.latest = ocp.CheckpointManager(os.path.join(directory, "latest"),
                                        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))
    self.best = ocp.CheckpointManager(os.path.join(directory, "best"),
                                      options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True))

  @staticmethod
  def _save(manager: ocp.CheckpointManager, epoch: int, state: TrainState, meta: dict) -> None:
    if epoch in manager.all_steps():  # a resumed run redoing an epoch whose save already landed
      manager.wait_until_finished()
      manager.delete(epoch)
    manager.save(epoch, args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))

  @staticmethod
  def _restore(manager: ocp.CheckpointManager, like: TrainState) -> tuple[TrainState, dict] | None:
    step = manager.latest_step()
    if step is None:
      return None
    out = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(_abstract(like)),
                                                         meta=ocp.args.JsonRestore()))
    return out["state"], out["meta"]

  def save_latest(self, epoch: int, state: TrainState, meta: dict) -> None:
    self._save(self.latest, epoch, state, meta)

  def save_best(self, epoch: int, state: TrainState, meta: dict) -> None:
    self._save(self.best, epoch, state, meta)

  def restore_latest(self, like: TrainState) -> tuple[TrainState, dict] | None:
    """The newest 'latest' checkpoint shaped like `like`, or None if there is none."""
    return self._restore(self.latest, like)

  def restore_best(self, like: TrainState) -> tuple[TrainState, dict] | None:
    return self._restore(self.best, like)

  def restore_best_raw(self) -> tuple[dict, dict]:
    """The newest 'best' checkpoint as saved (nested dicts of arrays, whatever its layout) and its metadata."""
    step = self.best.latest_step()
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])  # whatever devices it was saved from
    target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
                          self.best.item_metadata(step)["state"])
    out = self.best.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target),
                                                          meta=ocp.args.JsonRestore()))
    return out["state"], out["meta"]

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
  manager = ocp.CheckpointManager(latest, options=ocp.CheckpointManagerOptions(read_only=True))
  try:
    return manager.restore(manager.latest_step(), args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
  finally:
    manager.close()


def restore_selected(checkpoint_dir: str, like: TrainState) -> tuple[TrainState, dict]:
  """The selected ('best') checkpoint of a finished run and its metadata.

  `like` is any fresh state of the same model (`create_state`, whatever its optimiser settings); the
  result is in evaluated form (`TrainState.for_evaluation`: no optimiser state), ready for prediction.

  Raises FileNotFoundError, naming the directory, when the run has no such checkpoint.
  """
  best_dir = os.path.join(os.path.abspath(checkpoint_dir), "best")
  if not os.path.isdir(best_dir) or not any(name.isdigit() for name in os.listdir(best_dir)):
    raise FileNotFoundError(f"no trained checkpoint at {best_dir}: train the model first")
  ckpt = RunCheckpoints(checkpoint_dir)
  try:
    evaluated = like.for_evaluation()
    try:
      return ckpt.restore_best(evaluated)
    except ValueError:  # an older layout (before 2026-11-25: the whole training state): take the model's parts
      raw, meta = ckpt.restore_best_raw()
      return evaluated.replace(params=raw["params"], batch_stats=raw.get("batch_stats") or {}, step=raw["step"]), meta
  finally:
    ckpt.close()
