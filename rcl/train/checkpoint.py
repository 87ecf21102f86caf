"""Orbax checkpoints of a training run: 'latest' (for resuming) and 'best' (the selected model)."""

from __future__ import annotations

import os

import flax.linen as nn
import jax
import orbax.checkpoint as ocp

from rcl.train.state import TrainState, create_state


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
    state, meta = ckpt.restore_best(like)
  finally:
    ckpt.close()
  saved = meta.get("identity", {})
  for name, value in (expect or {}).items():
    if saved.get(name) != value:
      raise ValueError(f"{checkpoint_dir} was trained with a different {name} than expected")
  return state, meta
