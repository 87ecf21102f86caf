"""RunningNorm: identity before training, unit scale after, and no dependence on the rest of the batch."""

import jax
import numpy as np

from rcl.models.running_norm import RunningNorm


def _step(norm, variables, x):
  y, state = norm.apply(variables, x, update=True, mutable=["batch_stats"])
  return y, {"batch_stats": state["batch_stats"]}


def test_identity_before_training_then_standardised_by_the_stream():
  norm = RunningNorm(momentum=0.9)
  rng = np.random.default_rng(0)
  x = rng.normal(0.25, 0.05, (64, 6)).astype(np.float32)
  variables = norm.init(jax.random.key(0), x, update=False)
  np.testing.assert_allclose(norm.apply(variables, x, update=False), x, rtol=1e-4)  # untrained: identity
  y, variables = _step(norm, variables, x)
  np.testing.assert_allclose(y.mean(0), 0.0, atol=1e-4)  # bias-corrected: the first batch's own moments
  np.testing.assert_allclose(y.std(0), 1.0, rtol=5e-3)
  # Batches alternating between two groups (means -3 and +3, unit spread), like length buckets: the
  # estimates are of the whole stream, whose variance (about 10) includes the spread between groups.
  for i in range(200):
    _, variables = _step(norm, variables, rng.normal(3.0 * (-1) ** i, 1.0, (32, 6)).astype(np.float32))
  stream = np.concatenate([rng.normal(mu, 1.0, (500, 6)) for mu in (-3.0, 3.0)]).astype(np.float32)
  y = np.asarray(norm.apply(variables, stream, update=False))
  assert abs(float(y.mean())) < 0.2 and abs(float(y.std()) - 1.0) < 0.1


def test_output_of_a_row_does_not_depend_on_its_batch():
  norm = RunningNorm()
  rng = np.random.default_rng(1)
  x = rng.normal(size=(8, 4)).astype(np.float32)
  variables = norm.init(jax.random.key(0), x, update=False)
  _, variables = _step(norm, variables, x)
  alone = norm.apply(variables, x[:1], update=False)
  among = norm.apply(variables, np.concatenate([x[:1], 100 + x[1:]]), update=False)
  np.testing.assert_allclose(alone, among[:1], rtol=1e-6)
