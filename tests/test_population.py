"""The regularisation population (one vmapped step, or members one after another) equals training each
level alone."""

import functools

import numpy as np
import pytest

from rcl.models.cnn import CNN
from rcl.train import population
from rcl.train.fit_config import FitConfig
from rcl.train.loop import fit
from rcl.train.population import fit_population, member
from tests.test_train import synthetic


@pytest.mark.parametrize("backend", ["cpu", "gpu"])  # members one by one; one vmapped step (accelerators)
def test_population_matches_sequential(backend, monkeypatch):
  monkeypatch.setattr(population, "one_by_one", functools.partial(population.one_by_one, backend=backend))
  train, val = synthetic(96, 11, length=32), synthetic(40, 12, length=32)
  model = CNN(num_classes=3, filters=4, blocks=2, dense=(8, 6))
  config = FitConfig(epochs=2, batch_size=32, seed=3, selection="last")
  levels = [0.0, 0.6, 1.4]
  pop = fit_population(model, levels, train, val, config)
  for i, level in enumerate(levels):
    alone = fit(model.clone(noise=level, dropout=0.5 * level), train, val, config)
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
      np.testing.assert_allclose(pop.histories[i][key], alone.history[key], rtol=1e-4, atol=1e-5,
                                 err_msg=f"{level} {key}")
    got = member(pop.state, i)
    for a, b in zip(__import__("jax").tree.leaves(got.params), __import__("jax").tree.leaves(alone.state.params)):
      np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-5)
  # The levels really differ: more noise, different training trajectory.
  assert pop.histories[0]["train_loss"] != pop.histories[2]["train_loss"]
