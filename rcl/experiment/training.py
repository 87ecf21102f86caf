"""Training one model of an experiment: its directory, TensorBoard scalars, history and training record."""

from __future__ import annotations

import os
import time

import jax

from rcl import files
from rcl.analysis import joint
from rcl.config import ExperimentConfig
from rcl.experiment.identity import Identity
from rcl.experiment.progress import EpochLog
from rcl.report.scalars import ScalarLog
from rcl.results import Training
from rcl.train import sharding
from rcl.train.epochs import NonFiniteLoss
from rcl.train.fit_config import FitConfig
from rcl.train.loop import FitResult, fit
from rcl.workdir import HISTORY, TENSORBOARD, Workdir


def train(config: ExperimentConfig, name: str, model, train_split, val_split, fit_config: FitConfig,
          ident: Identity, *, checkpoint_dir: str, on_epoch: EpochLog | None) -> tuple[FitResult, Training]:
  """Fits `model` (resuming from `checkpoint_dir` when its checkpoint is this run's, `ident`), writes its
  history.json and TensorBoard scalars, and returns the fit and its training record (size, epochs,
  selection, cost, eq. 1)."""
  workdir = Workdir(config.workdir)
  os.makedirs(workdir.model(name), exist_ok=True)
  mesh = sharding.data_mesh() if config.data_parallel else None
  t0 = time.perf_counter()
  scalars = ScalarLog(workdir.model_file(name, TENSORBOARD))

  def epoch_done(epoch: int, epochs: int, logs: dict) -> None:
    scalars.write(epoch, logs)
    if on_epoch is not None:
      on_epoch(name, epoch, epochs, logs)

  try:
    result = fit(model, train_split, val_split, fit_config, checkpoint_dir=checkpoint_dir, identity=ident.current,
                 mesh=mesh, on_epoch=epoch_done)
  except NonFiniteLoss as e:
    raise ValueError(f"[{name}] {e}") from None
  finally:
    scalars.close()
  files.write_json(workdir.model_file(name, HISTORY), result.history)
  record = Training(parameters=int(sum(x.size for x in jax.tree.leaves(result.state.params))),
                    epochs=len(result.history["val_accuracy"]), selected_epoch=result.selected_epoch,
                    selection=result.selection, resumed_from_epoch=result.resumed_from,
                    train_seconds_total=float(sum(result.history["seconds"])),
                    wall_seconds=time.perf_counter() - t0,
                    joint_learning=joint.coefficients(result.history, config.analysis.burn_in))
  return result, record
