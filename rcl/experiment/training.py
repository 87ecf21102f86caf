"""Training one model of an experiment: its directory, TensorBoard scalars, history and results entry."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import jax

from rcl import files
from rcl.analysis import joint
from rcl.config import ExperimentConfig
from rcl.experiment import evaluation
from rcl.report.scalars import ScalarLog
from rcl.train import sharding
from rcl.train.loop import FitConfig, FitResult, NonFiniteLoss, fit

EpochLog = Callable[[str, int, int, dict], None]


def train(config: ExperimentConfig, name: str, model, train_split, val_split, fit_config: FitConfig,
          identity: dict, *, checkpoint_dir: str, on_epoch: EpochLog | None) -> tuple[FitResult, dict]:
  """Fits `model` (resuming from `checkpoint_dir`), writes its history.json and TensorBoard scalars, and
  returns the fit and the training part of its results entry (size, epochs, selection, cost, eq. 1)."""
  directory = evaluation.model_dir(config.workdir, name)
  os.makedirs(directory, exist_ok=True)
  mesh = sharding.data_mesh() if config.data_parallel else None
  t0 = time.perf_counter()
  scalars = ScalarLog(os.path.join(directory, "tensorboard"))

  def epoch_done(epoch: int, epochs: int, logs: dict) -> None:
    scalars.write(epoch, logs)
    if on_epoch is not None:
      on_epoch(name, epoch, epochs, logs)

  try:
    result = fit(model, train_split, val_split, fit_config, checkpoint_dir=checkpoint_dir, identity=identity,
                 mesh=mesh, on_epoch=epoch_done)
  except NonFiniteLoss as e:
    raise ValueError(f"[{name}] {e}") from None
  finally:
    scalars.close()
  files.write_json(os.path.join(directory, "history.json"), result.history)
  entry = {"parameters": int(sum(x.size for x in jax.tree.leaves(result.state.params))),
           "epochs": len(result.history["val_accuracy"]), "selected_epoch": result.selected_epoch,
           "selection": result.selection, "resumed_from_epoch": result.resumed_from,
           "train_seconds_total": float(sum(result.history["seconds"])),
           "wall_seconds": time.perf_counter() - t0,
           "joint_learning": joint.coefficients(result.history, config.analysis.burn_in)}
  return result, entry
